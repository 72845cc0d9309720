"""Every conversation test written in the shipped flows passes (what ``ivr flow test flows/`` runs).

The flows' tests are the handbook's scripts played by scripted callers; each names its lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flows.conversation import compare, simulate
from ivr.flows.loader import load_flow
from ivr.hearing.line_classifier import LineClassifier
from ivr.prompts.player import PromptPlayer

REPO = Path(__file__).resolve().parents[2]
FLOWS = [REPO / "flows" / "desk.yaml", REPO / "flows" / "hotel-booking.yaml"]
CASES = [(path, i) for path in FLOWS for i in range(len(load_flow(path).flow.tests))]


@pytest.mark.parametrize(
    ("path", "index"), CASES, ids=[f"{p.stem}-{load_flow(p).flow.tests[i].name}" for p, i in CASES]
)
def test_the_flows_own_conversation_passes(path: Path, index: int, player: PromptPlayer) -> None:
    flow_file = load_flow(path)
    test = flow_file.flow.tests[index]
    sim = simulate(flow_file.flow, player, LineClassifier(), test, path.parent)
    assert compare(test, sim) == []
