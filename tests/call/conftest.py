"""Scripted calls against the shipped flows, with the real classifier and the rendered prompts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ivr.flows.conversation import Simulated, simulate
from ivr.flows.loader import FlowFile
from ivr.flows.schema import ConversationTest
from ivr.hearing.line_classifier import LineClassifier
from ivr.prompts.player import PromptPlayer

Call = Callable[..., Simulated]


@pytest.fixture
def call(player: PromptPlayer) -> Call:
    """``call(flow_file, caller=[...], **test_fields)`` runs one scripted call to its end."""

    def run(flow_file: FlowFile, caller: list[dict[str, Any]], **fields: Any) -> Simulated:
        test = ConversationTest.model_validate(
            {"name": "t", "caller": caller, "expect": ["greeting"], **fields}
        )
        return simulate(flow_file.flow, player, LineClassifier(), test, flow_file.path.parent)

    return run


def prompts(sim: Simulated) -> list[str]:
    return [h.prompt for h in sim.heard if h.prompt]


def heard(sim: Simulated, prompt: str, nth: int = 0) -> tuple[int, int]:
    """(start, end) frames of the ``nth`` time ``prompt`` was heard."""
    found = [(h.start, h.end) for h in sim.heard if h.prompt == prompt]
    assert len(found) > nth, f"'{prompt}' heard {len(found)} times; heard: {prompts(sim)}"
    return found[nth]
