"""Finished calls to put in the register."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ivr.call.events import CallEvent, CallRecord, EventKind, Outcome
from ivr.media import frames_in

MakeRecord = Callable[..., CallRecord]

MORNING = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def finished_call(
    call_id: str,
    *,
    minutes_after: float = 0,
    outcome: Outcome | None = Outcome.SERVED,
    caller: str | None = "13800138000",
    flow: str = "front-desk",
) -> CallRecord:
    """A call answered after two rings (6 s), greeted, asked, and ended 42.5 s after the answer."""
    return CallRecord(
        call_id=call_id,
        flow=flow,
        caller=caller,
        started_at=MORNING + timedelta(minutes=minutes_after),
        answered_frame=frames_in(6),
        ended_frame=frames_in(42.5),
        outcome=outcome,
        path=["greet", "ask", "goodbye"],
        events=[
            CallEvent(0, EventKind.ANSWERED),
            CallEvent(0, EventKind.STEP, {"step": "greet"}),
            CallEvent(1, EventKind.PROMPT_STARTED, {"prompt": "greeting"}),
            CallEvent(frames_in(4.2), EventKind.PROMPT_FINISHED, {"prompt": "greeting"}),
            CallEvent(frames_in(7.5), EventKind.HEARD, {"text": "我想找一下王经理", "final": True}),
            CallEvent(frames_in(8), EventKind.INTENT, {"intent": "ask_person", "score": 0.87}),
            CallEvent(frames_in(9), EventKind.DTMF, {"digits": "1"}),
            CallEvent(frames_in(42.5), EventKind.HANGUP, {"by": "bot", "note": None}),
        ],
    )


@pytest.fixture
def make_record() -> MakeRecord:
    return finished_call
