"""The shift leader is told why a complaining caller rang before taking the call (handbook line 120)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from ivr.call.engine import CallEngine
from ivr.call.inputs import CallContext
from ivr.flows.caller import ScriptedCaller
from ivr.flows.loader import load_flow
from ivr.flows.schema import ConversationTest
from ivr.hearing.line_classifier import LineClassifier
from ivr.prompts.player import PromptPlayer
from ivr.seats.desk import caller_info
from ivr.seats.whisper import INTENT_LABELS, intent_label, whisper_text

REPO = Path(__file__).resolve().parents[2]
HOTLINE = REPO / "flows" / "hotel-booking.yaml"


class NotedDesk:
    """A seat desk that notes who joined its queue, and never puts anyone through."""

    def __init__(self) -> None:
        self.joined: list[tuple[str, dict[str, str]]] = []

    def join(self, call_id: str, skill: str, frame: int, about: dict[str, str]) -> None:
        self.joined.append((skill, about))

    def waiting(self, call_id: str) -> tuple[int, float] | None:
        return (1, 60.0)

    def connected(self, call_id: str) -> bool:
        return False

    def leave(self, call_id: str, frame: int, reason: str) -> None:
        pass

    def can_serve(self, skill: str) -> bool:
        return True  # a leader is signed in: the caller waits for them


def _call(player: PromptPlayer, caller: list[dict[str, object]]) -> NotedDesk:
    flow_file = load_flow(HOTLINE)
    test = ConversationTest.model_validate({"name": "t", "caller": caller, "expect": ["booking.greeting"]})
    desk = NotedDesk()
    engine = CallEngine(
        flow_file.flow,
        player,
        LineClassifier(),
        CallContext("13800138000", datetime(2026, 3, 2, 10, 0), call_id="c1"),
        seats=desk,
    )
    ticks = ScriptedCaller(test.caller, HOTLINE.parent).frames(engine)
    while not engine.ended and engine.frame < 50 * 120 and not desk.joined:
        frame, inputs = next(ticks)
        engine.tick(frame, inputs)
    ticks.close()
    return desk


def test_the_leader_hears_the_complaints_reason_in_the_callers_words(player: PromptPlayer) -> None:
    desk = _call(
        player,
        [
            {"waits_for": "booking.greeting"},
            {"says": "我要投诉"},
            {"waits_for": "complaint.ask_reason"},
            {"says": "上次订的房间没有热水"},
            {"waits_for": "complaint.apology"},
            {"says": "不行,我还是不满意"},
        ],
    )
    [(skill, about)] = desk.joined
    assert skill == "shift_leader"
    text = whisper_text(caller_info(about), 20)
    assert text.startswith("投诉来电,原因:上次订的房间没有热水,")
    assert not re.search(r"[A-Za-z]", text), text  # no intent ids: Chinese all through


def test_a_complaint_reason_keyed_in_reaches_the_leader_as_the_key(player: PromptPlayer) -> None:
    desk = _call(
        player,
        [
            {"waits_for": "booking.greeting"},
            {"says": "我要投诉"},
            {"waits_for": "complaint.ask_reason"},
            {"presses": "0"},
        ],
    )
    [(skill, about)] = desk.joined
    assert skill == "shift_leader"
    assert whisper_text(caller_info(about), 5).startswith("投诉来电,原因:按0键,")


def test_every_intent_a_seat_can_be_told_of_has_a_chinese_label() -> None:
    """What a caller asked for reaches the seat as Chinese words, never an intent's id."""
    for path in (HOTLINE, REPO / "flows" / "desk.yaml"):
        flow = load_flow(path).flow
        for step in flow.steps.values():
            for intent in step.listen.intents if step.listen else {}:
                label = intent_label(intent)
                if label is not None:
                    assert not re.search(r"[A-Za-z]", label), intent
    assert all(not re.search(r"[A-Za-z]", w) for w in INTENT_LABELS.values())
    assert intent_label("an_intent_nobody_labelled") is None
