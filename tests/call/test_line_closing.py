"""The line shutting down mid-call (``ivr serve`` on SIGTERM): every live caller hears goodbye first."""

from __future__ import annotations

from datetime import datetime

from ivr.call.engine import CallEngine
from ivr.call.events import EventKind, Outcome
from ivr.call.inputs import CallContext
from ivr.flows.loader import FlowFile
from ivr.flows.schema import Say
from ivr.hearing.line_classifier import LineClassifier
from ivr.media import SILENT_FRAME, frames_in
from ivr.prompts.player import PromptPlayer


def engine_for(desk: FlowFile, player: PromptPlayer) -> CallEngine:
    return CallEngine(
        desk.flow,
        player,
        LineClassifier(),
        CallContext("13800000000", datetime(2026, 3, 2, 10, 0), call_id="c1"),
    )


def run(engine: CallEngine, seconds: float) -> list[bytes]:
    return [engine.tick(SILENT_FRAME) for _ in range(frames_in(seconds)) if not engine.ended]


def test_a_caller_mid_greeting_hears_goodbye_then_the_bot_hangs_up(
    desk: FlowFile, player: PromptPlayer
) -> None:
    engine = engine_for(desk, player)
    run(engine, 1.0)
    assert engine.speaking == "greeting"
    engine.close_line()
    heard = run(engine, 10.0)
    kinds = [(e.kind, e.detail.get("prompt")) for e in engine.events]
    assert (EventKind.PROMPT_INTERRUPTED, "greeting") in kinds
    assert kinds.index((EventKind.PROMPT_STARTED, "goodbye")) > kinds.index(
        (EventKind.PROMPT_INTERRUPTED, "greeting")
    )
    assert (EventKind.PROMPT_FINISHED, "goodbye") in kinds
    assert engine.ended_by == "bot" and engine.outcome is Outcome.LINE_CLOSED
    goodbye = player.frames(Say(prompt="goodbye", barge_in=False))
    assert heard[: len(goodbye)] == goodbye  # the very next frames are the goodbye, whole


def test_a_caller_already_saying_goodbye_is_not_cut_short(desk: FlowFile, player: PromptPlayer) -> None:
    engine = engine_for(desk, player)
    engine.close_line()
    run(engine, 0.5)
    engine.close_line()  # again, while the goodbye plays: nothing changes
    run(engine, 10.0)
    started = [e for e in engine.events if e.kind is EventKind.PROMPT_STARTED]
    assert [e.detail["prompt"] for e in started] == ["goodbye"]
    assert engine.ended_by == "bot"
