"""Conversation tests that wait in a simulated queue: the timing they check is checked exactly."""

from __future__ import annotations

from pathlib import Path

from ivr.flows.conversation import compare, simulate
from ivr.flows.loader import FlowFile
from ivr.flows.schema import ConversationTest
from ivr.hearing.line_classifier import LineClassifier
from ivr.prompts.player import PromptPlayer


def _waiting(updates: list[dict[str, object]], answered_after: str | None) -> ConversationTest:
    queue = {} if answered_after is None else {"answered_after": answered_after}
    return ConversationTest.model_validate(
        {
            "name": "waiting",
            "seats": ["booking"],
            "queue": queue,
            "caller": [{"waits_for": "booking.greeting"}, {"presses": "0"}, {"silent": "40s"}],
            "expect": ["booking.greeting", "transfer.to_seat", *updates],
            "outcome": "transferred",
        }
    )


def test_an_update_15_s_start_to_start_passes_and_14_s_is_reported(
    hotel: FlowFile, player: PromptPlayer
) -> None:
    good = _waiting([{"prompt": "hold.progress", "start_gap": "15s"}], "20s")
    sim = simulate(hotel.flow, player, LineClassifier(), good, Path("."))
    assert compare(good, sim) == []
    bad = _waiting([{"prompt": "hold.progress", "start_gap": "14s"}], "20s")
    problems = compare(bad, simulate(hotel.flow, player, LineClassifier(), bad, Path(".")))
    assert problems == ["#3: 'hold.progress' 15.00 s after the previous prompt started, expected 14.00 s"]


def test_a_seat_that_never_answers_keeps_the_caller_waiting(hotel: FlowFile, player: PromptPlayer) -> None:
    test = _waiting([{"prompt": "hold.progress", "start_gap": "15s"}], None)
    sim = simulate(hotel.flow, player, LineClassifier(), test, Path("."))
    assert sim.record.outcome is None or sim.record.outcome.value != "transferred"
    heard = [h.prompt for h in sim.heard if h.prompt]
    assert heard[:4] == ["booking.greeting", "transfer.to_seat", "hold.progress", "hold.progress"]
