"""Callback tickets in media time: asked, confirmed, written, and only then promised (lines 33, 97–100, 136)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pytest

from ivr.call.engine import CallEngine
from ivr.call.events import CallEvent, EventKind, Outcome
from ivr.call.inputs import CallContext, CallInput, Dtmf, TicketWritten
from ivr.flows.loader import FlowFile
from ivr.flows.schema import NO_PHRASES, YES_PHRASES, Say
from ivr.hearing.line_classifier import LineClassifier
from ivr.media import SILENT_FRAME, frames_in
from ivr.prompts.player import PromptPlayer
from ivr.seats.desk import QueueDesk
from ivr.seats.directory import Seat
from ivr.seats.queue import SeatQueue

from .conftest import Call, prompts

AFTER_HOURS = datetime(2026, 3, 2, 20, 15)
IN_HOURS = datetime(2026, 3, 2, 10, 0)
CALLER = "13912345678"
YES_YES = {"callback.ask": "1", "callback.confirm_number": "1"}


@dataclass
class Book:
    """A callback book that answers ``after`` frames after it is asked (None: never), ``ok`` or not."""

    after: int | None = 3
    ok: bool = True
    engine: CallEngine | None = None
    taken: list[tuple[str, str, str]] = field(default_factory=list)  # (number, source, reason)
    asked_at: int | None = None

    def take(self, call_id: str, number: str, source: str, reason: str) -> None:
        assert self.engine is not None and call_id == "call-1"
        self.taken.append((number, source, reason))
        self.asked_at = self.engine.frame

    def answers(self, frame: int) -> list[CallInput]:
        if self.asked_at is None or self.after is None or frame != self.asked_at + self.after:
            return []
        return [TicketWritten(self.ok, "" if self.ok else "disk full")]


def run(
    flow_file: FlowFile,
    player: PromptPlayer,
    book: Book,
    replies: dict[str, str],
    caller: str | None = CALLER,
    at: datetime = AFTER_HOURS,
    seconds: float = 90,
    seats: QueueDesk | None = None,
) -> CallEngine:
    """One call; once the bot finishes a prompt named in ``replies`` the caller presses those keys."""
    engine = CallEngine(
        flow_file.flow,
        player,
        LineClassifier(),
        CallContext(caller, at, call_id="call-1"),
        seats=seats,
        tickets=book,
    )
    book.engine = engine
    for _ in range(frames_in(seconds)):
        inputs = book.answers(engine.frame)
        for e in reversed(engine.events):
            if e.frame < engine.frame - 1:
                break
            if e.kind is EventKind.PROMPT_FINISHED:
                inputs += [Dtmf(d) for d in replies.get(str(e.detail["prompt"]), "")]
        engine.tick(SILENT_FRAME, inputs)
        if engine.ended:
            break
    return engine


def started(engine: CallEngine, prompt: str) -> list[CallEvent]:
    return [e for e in engine.events if e.kind is EventKind.PROMPT_STARTED and e.detail["prompt"] == prompt]


def said(engine: CallEngine) -> list[str]:
    return [str(e.detail["prompt"]) for e in engine.events if e.kind is EventKind.PROMPT_STARTED]


def test_the_promise_starts_on_the_frame_the_ticket_is_written_never_before(
    desk: FlowFile, player: PromptPlayer
) -> None:
    book = Book(after=frames_in(0.5))
    engine = run(desk, player, book, YES_YES)
    assert book.taken == [(CALLER, "caller_id", "after_hours")]
    assert book.asked_at is not None
    assert started(engine, "callback.taken")[0].frame == book.asked_at + frames_in(0.5)
    assert engine.outcome is Outcome.CALLBACK


def test_a_ticket_never_confirmed_is_owned_up_to_after_the_write_wait_not_promised(
    desk: FlowFile, player: PromptPlayer
) -> None:
    book = Book(after=None)
    engine = run(desk, player, book, YES_YES)
    assert book.asked_at is not None
    wait = desk.flow.steps["after_hours_callback"].callback.write_wait  # type: ignore[union-attr]
    assert started(engine, "system.fault_notice")[0].frame == book.asked_at + frames_in(wait)
    assert not started(engine, "callback.taken")
    assert any(e.kind is EventKind.ERROR and e.detail["what"] == "callback ticket" for e in engine.events)
    assert engine.outcome is not Outcome.CALLBACK


def test_a_failed_write_gets_the_fault_words_at_once(desk: FlowFile, player: PromptPlayer) -> None:
    book = Book(after=2, ok=False)
    engine = run(desk, player, book, YES_YES)
    assert book.asked_at is not None
    assert started(engine, "system.fault_notice")[0].frame == book.asked_at + 2
    assert "callback.taken" not in said(engine)


def test_the_number_read_back_is_the_callers_digit_by_digit(desk: FlowFile, player: PromptPlayer) -> None:
    engine = run(desk, player, Book(), YES_YES)
    begin = started(engine, "callback.confirm_number")[0].frame
    end = next(
        e.frame
        for e in engine.events
        if e.kind is EventKind.PROMPT_FINISHED and e.detail["prompt"] == "callback.confirm_number"
    )
    read_back = player.frames(Say(prompt="callback.confirm_number", vars={"number": CALLER}))
    shorter = player.frames(Say(prompt="callback.confirm_number", vars={"number": CALLER[:5]}))
    assert end - begin == len(read_back) > len(shorter)


def test_a_withheld_number_is_keyed_in_never_confirmed(desk: FlowFile, player: PromptPlayer) -> None:
    book = Book()
    engine = run(desk, player, book, {"callback.ask": "1", "callback.key_in": "02187654321#"}, caller=None)
    assert said(engine)[:4] == ["closed.after_hours", "callback.ask", "callback.key_in", "callback.taken"]
    assert book.taken == [("02187654321", "keyed", "after_hours")]


def test_a_caller_who_wants_another_number_presses_2_and_keys_it_in(
    desk: FlowFile, player: PromptPlayer
) -> None:
    book = Book()
    replies = {"callback.ask": "1", "callback.confirm_number": "2", "callback.key_in": "13700001111#"}
    engine = run(desk, player, book, replies)
    assert "callback.key_in" in said(engine) and "callback.taken" in said(engine)
    assert book.taken == [("13700001111", "keyed", "after_hours")]


def test_too_few_digits_are_no_number_and_no_promise(desk: FlowFile, player: PromptPlayer) -> None:
    book = Book()
    engine = run(desk, player, book, {"callback.ask": "1", "callback.key_in": "12#"}, caller=None)
    assert "callback.no_number" in said(engine) and "callback.taken" not in said(engine)
    assert book.taken == []


@pytest.mark.parametrize("word", ["好的", "可以", "需要", "行", "是", "好的,麻烦你了"])
def test_yes_by_voice_to_the_callback_offer_goes_on_to_the_number(
    desk: FlowFile, call: Call, word: str
) -> None:
    sim = call(
        desk,
        [{"waits_for": "callback.ask"}, {"says": word}, {"silent": "20s"}, {"hangs_up": True}],
        at="2026-03-02 20:15",
    )
    assert prompts(sim)[:3] == ["closed.after_hours", "callback.ask", "callback.confirm_number"]


@pytest.mark.parametrize("word", ["不用", "不需要", "没有了", "不", "不用了谢谢", "不可以"])
def test_no_by_voice_to_the_callback_offer_takes_no_ticket(desk: FlowFile, call: Call, word: str) -> None:
    sim = call(
        desk,
        [
            {"waits_for": "callback.ask"},
            {"says": word},
            {"waits_for": "polite.anything_else"},
            {"hangs_up": True},
        ],
        at="2026-03-02 20:15",
    )
    assert prompts(sim) == ["closed.after_hours", "callback.ask", "polite.anything_else"]
    assert sim.tickets == []


def test_the_yes_and_no_words_are_the_handbooks_and_the_issues() -> None:
    assert {"好的", "可以", "需要", "行", "是"} <= set(YES_PHRASES)
    assert {"不用", "不需要", "没有了", "不"} <= set(NO_PHRASES)


def test_a_transfer_nobody_can_take_says_why_and_offers_a_callback_without_queueing(
    desk: FlowFile, player: PromptPlayer
) -> None:
    seat = Seat(id="1001", name="坐席", uri="sip:1001@127.0.0.1", skills=["reception"])
    queue = SeatQueue([seat], on_break={"1001": "lunch"})  # the only reception seat: 暂停服务
    desk_port = QueueDesk(queue, lambda: 0, lambda actions: None)
    book = Book()
    replies = {"greeting": "0", **YES_YES}
    engine = run(desk, player, book, replies, at=IN_HOURS, seats=desk_port)
    assert said(engine)[:3] == ["greeting", "transfer.no_seat", "callback.ask"]
    gave_up = [e for e in engine.events if e.kind is EventKind.TRANSFER]
    assert gave_up[0].detail == {"skill": "reception", "answered": False, "reason": "no seat"}
    assert started(engine, "transfer.no_seat")[0].frame == gave_up[0].frame  # at once: no hold, no updates
    assert "transfer.to_seat" not in said(engine) and "hold.progress" not in said(engine)
    assert book.taken == [(CALLER, "caller_id", "no_seat")]
    assert engine.outcome is Outcome.CALLBACK


def test_a_line_without_seats_never_claims_to_put_the_caller_through(
    desk: FlowFile, player: PromptPlayer
) -> None:
    book = Book()
    engine = CallEngine(
        desk.flow,
        player,
        LineClassifier(),
        CallContext(CALLER, IN_HOURS, call_id="call-1"),
        transfers=False,
        tickets=book,
    )
    book.engine = engine
    for frame in range(frames_in(30)):
        engine.tick(SILENT_FRAME, [Dtmf("0")] if frame == frames_in(5) else [])
    assert said(engine)[:3] == ["greeting", "transfer.no_seat", "callback.ask"]
    assert "transfer.to_seat" not in said(engine)


def test_talking_after_anything_else_with_no_words_recognised_moves_on_within_ten_seconds(
    desk: FlowFile, player: PromptPlayer
) -> None:
    """A line without recognition: the linger question waits for an answer that never comes as words,
    but not for ever: after 10 s of talk the menu's own ladders take over."""
    from ivr.flows.caller_voice import spoken
    from ivr.media import split_frames

    talk = split_frames(spoken("我想问一下那个房间的事情,还有押金的事情,还有发票的事情") * 6)
    engine = CallEngine(
        desk.flow,
        player,
        LineClassifier(),
        CallContext(CALLER, AFTER_HOURS, call_id="call-1"),
        tickets=Book(),
    )
    began: int | None = None
    declined = False
    for _ in range(frames_in(120)):
        keys: list[CallInput] = []
        if engine.step == "after_hours_callback" and not declined:
            keys, declined = [Dtmf("2")], True  # no callback, thank you
        if engine.step == "wrap_up" and began is None:
            began = engine.frame
        talking = began is not None and engine.frame - began < len(talk)
        engine.tick(talk[engine.frame - began] if talking and began is not None else SILENT_FRAME, keys)
        if engine.step == "menu" or engine.ended:
            break
    assert began is not None and engine.step == "menu", said(engine)
    assert engine.frame - began <= frames_in(10) + len(player.frames(Say(prompt="polite.anything_else"))) * 3
    assert "goodbye" not in said(engine)
