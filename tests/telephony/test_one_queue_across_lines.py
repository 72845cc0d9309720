"""One queue across lines over real SIP (issue #12, part 2): two lines share a PostgreSQL register and
one seat; a caller on each asks for a person at once. The seat's phone is rung for one caller at a time,
never both, and the second caller is put through once the first call is over."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from ivr.call.events import EventKind
from ivr.config import RecordsSettings
from ivr.demo.phone import PhoneCall, SipPhone
from ivr.demo.phone_script import HangUp, Press, Tone, WaitForBot
from ivr.demo.seat_phone import SeatCallState, SeatPhone
from ivr.line.open_line import OpenLine
from ivr.records.live_calls import LiveCalls
from ivr.seats.board import SeatBoard
from ivr.seats.directory import load_seats
from ivr.seats.queue import Connected, Ring
from ivr.seats.state import SeatState
from ivr.telephony.sip_message import SipMessage
from tests.postgres_cluster import PostgresCluster
from tests.telephony.conftest import (
    REPO,
    CallerNumbers,
    LineMaker,
    SeatMaker,
    started_phone,
    wait_for_record,
    wait_until,
    write_seats,
)

pytestmark = pytest.mark.slow

Address = tuple[str, int]


class WatchedSeat(SeatPhone):
    """A real seat phone that also counts the INVITEs reaching it while it is already on a call."""

    def __init__(self, user: str, **kw: object) -> None:
        super().__init__(user, **kw)  # type: ignore[arg-type]
        self.invites = 0
        self.while_busy = 0

    def _on_invite(self, req: SipMessage, source: Address, now: float) -> None:
        self.invites += 1
        if any(c.state is not SeatCallState.ENDED for c in self.calls):
            self.while_busy += 1
        super()._on_invite(req, source, now)


@pytest.fixture
def callers(caller_number: CallerNumbers) -> Iterator[list[SipPhone]]:
    """Two started caller phones, each with its own number and RTP range."""
    with contextlib.ExitStack() as opened:
        yield [opened.enter_context(started_phone(user=caller_number())) for _ in range(2)]


def connected_on(line: OpenLine) -> list[Connected]:
    floor = line.line.floor
    assert floor is not None
    return [a for _, a in list(floor.log) if isinstance(a, Connected)]


def test_one_seat_shared_by_two_lines_rings_for_one_caller_at_a_time_and_serves_both(
    open_line: LineMaker,
    postgres_cluster: PostgresCluster,
    seat_phone: SeatMaker,
    callers: list[SipPhone],
    rendered_audio: Path,
    tmp_path: Path,
) -> None:
    seat = seat_phone("1001", kind=WatchedSeat, answer_after_s=0.5, script=(Tone(12, 1000.0), HangUp()))
    assert isinstance(seat, WatchedSeat)
    seats = write_seats(tmp_path / "seats.yaml", seat)
    shared = RecordsSettings(url=SecretStr(postgres_cluster.empty_register()))
    lines = [open_line(flow=REPO / "flows" / "desk.yaml", seats=seats, records=shared) for _ in range(2)]
    assert all(line.cross_line is not None for line in lines)
    asking = (WaitForBot(), Press("0"), Tone(90, 600.0))  # a person, please; then on the line
    both_dialled = threading.Barrier(2)
    calls: list[PhoneCall | None] = [None, None]

    def dial(n: int) -> None:
        both_dialled.wait(10)
        calls[n] = callers[n].call(lines[n].line.transport.address, asking)

    dialers = [threading.Thread(target=dial, args=(n,)) for n in range(2)]
    for t in dialers:
        t.start()
    for t in dialers:
        t.join(15)
    assert all(c is not None for c in calls)

    wait_until(lambda: any(connected_on(line) for line in lines), 60, "the first caller is put through")
    talking = next(n for n, line in enumerate(lines) if connected_on(line))
    other = lines[1 - talking]
    other_floor = other.line.floor
    assert other_floor is not None
    tried = sum(1 for _, a in list(other_floor.log) if isinstance(a, Ring))
    assert all(line.live_board.flush(5) for line in lines)
    live = {c.caller: c for c in LiveCalls(other.live_board.register).all()}
    assert live[callers[talking].user].seat_id == seat.user, "the seat's screen shows the caller it talks to"
    waiting = live.get(callers[1 - talking].user)
    assert waiting is None or waiting.seat_id is None, (
        f"the caller on the other line shows the seat ringing for them ({tried} ring(s) asked there)"
    )

    wait_until(lambda: len(seat.calls) >= 2 and all(c.done.is_set() for c in seat.calls), 120,
               "the seat took both callers, one after the other")  # fmt: skip
    for phone, call in zip(callers, calls, strict=True):
        assert call is not None
        if not call.done.is_set():
            phone.hang_up(call)
        assert call.done.wait(10)

    assert seat.while_busy == 0, f"the seat was rung {seat.while_busy} time(s) while on a call"
    assert seat.invites == 2, "each caller's line rang the seat once"
    first, second = seat.calls
    assert first.answered_at is not None and second.answered_at is not None
    assert first.ended_at is not None and second.arrived >= first.ended_at, "one caller at a time"
    put_through = [connected_on(line) for line in lines]
    assert [len(c) for c in put_through] == [1, 1], "each line put its own caller through to the seat"
    assert {c.seat_id for per_line in put_through for c in per_line} == {seat.user}
    for line in lines:
        claims = line.cross_line
        assert claims is not None
        wait_until(lambda c=claims: c.claims.holder(seat.user) is None, 30,  # type: ignore[misc]
                   "the seat is free in the register once both calls are over")  # fmt: skip


def progress_positions(line: OpenLine, caller: str) -> list[object]:
    record = wait_for_record(line, caller, timeout=10)
    return [
        e.detail.get("position")
        for e in record.events
        if e.kind is EventKind.PROMPT_STARTED and e.detail.get("prompt") == "hold.progress"
    ]


def test_a_caller_hears_a_place_that_counts_the_caller_waiting_longer_on_the_other_line(
    open_line: LineMaker,
    postgres_cluster: PostgresCluster,
    seat_phone: SeatMaker,
    callers: list[SipPhone],
    rendered_audio: Path,
    tmp_path: Path,
) -> None:
    """The one seat rings unanswered for the caller on line A; a caller who asked later on line B
    hears, at the 15 s update, that they are second (handbook line 95), not first."""
    seat = seat_phone("1001", answer_after_s=None)
    seats = write_seats(tmp_path / "seats.yaml", seat)
    shared = RecordsSettings(url=SecretStr(postgres_cluster.empty_register()))
    line_a, line_b = (
        open_line(flow=REPO / "flows" / "desk.yaml", seats=seats, records=shared) for _ in range(2)
    )
    asking = (WaitForBot(), Press("0"), Tone(90, 600.0))
    first = callers[0].call(line_a.line.transport.address, asking)
    floor_a = line_a.line.floor
    assert floor_a is not None
    wait_until(lambda: any(isinstance(a, Ring) for _, a in list(floor_a.log)), 60, "the caller on A asks")
    later = callers[1].call(line_b.line.transport.address, asking)
    floor_b = line_b.line.floor
    assert floor_b is not None

    def b_waited_s() -> float:
        waiting = floor_b.queue.waiting()
        return floor_b.queue.waited_s(waiting[0], floor_b.frame) if waiting else 0.0

    wait_until(lambda: b_waited_s() > 16.0, 60, "the caller on B waits past the first 15 s update")
    assert floor_a.queue.waiting() != [], "the caller on A still waits (the seat never answers)"
    for phone, call in zip(callers, (first, later), strict=True):
        phone.hang_up(call)
        assert call.done.wait(10)
    assert progress_positions(line_b, callers[1].user)[:1] == [2], "B's caller counts A's, who came first"
    assert progress_positions(line_a, callers[0].user)[:1] == [1], "A's caller has no one before them"


def test_a_seat_freed_on_one_line_goes_to_the_caller_who_waited_longer_on_the_other(
    open_line: LineMaker,
    postgres_cluster: PostgresCluster,
    seat_phone: SeatMaker,
    caller_number: CallerNumbers,
    rendered_audio: Path,
    tmp_path: Path,
) -> None:
    """The one seat talks to a caller of line A. A caller asks on line B, then another on line A: B's
    caller is first in the one queue (and is told so), and when the seat is free it rings for them,
    though the seat's own line A freed it and has a caller of its own waiting."""
    seat = seat_phone("1001", kind=WatchedSeat, answer_after_s=0.5, script=(Tone(16, 1000.0), HangUp()))
    assert isinstance(seat, WatchedSeat)
    seats = write_seats(tmp_path / "seats.yaml", seat)
    shared = RecordsSettings(url=SecretStr(postgres_cluster.empty_register()))
    line_a, line_b = (
        open_line(flow=REPO / "flows" / "desk.yaml", seats=seats, records=shared) for _ in range(2)
    )
    floor_a, floor_b = line_a.line.floor, line_b.line.floor
    assert floor_a is not None and floor_b is not None
    asking = (WaitForBot(), Press("0"), Tone(90, 600.0))  # a person, please; then on the line
    with contextlib.ExitStack() as opened:
        first, earlier, later = (opened.enter_context(started_phone(user=caller_number())) for _ in range(3))
        calls = []
        # the same greeting before each asks: dialled 2 s apart, they ask 2 s apart, in this order
        for phone, line in ((first, line_a), (earlier, line_b), (later, line_a)):
            calls.append(phone.call(line.line.transport.address, asking))
            time.sleep(2.0)
        wait_until(lambda: calls[1].call_id in floor_b.queue.waiting(), 30, "the caller on B waits")
        assert calls[2].call_id not in floor_a.queue.waiting(), "the later caller on A asked after B's"
        wait_until(lambda: calls[2].call_id in floor_a.queue.waiting(), 30, "the later caller on A waits")
        assert seat.calls and seat.calls[0].ended_at is None, "both asked while the seat had the first"

        wait_until(lambda: bool(connected_on(line_b)), 60, "the seat is put through to a waiting caller")
        assert len(connected_on(line_a)) == 1, "the caller who came later on A was put through first"
        assert seat.invites == 2 and seat.while_busy == 0
        board = SeatBoard(load_seats(seats), line_a.register)  # what the shift leader's wallboard reads

        def talking_to_b() -> bool:
            row = board.get(seat.user)
            return row.state is SeatState.TALKING and row.call_id == calls[1].call_id

        wait_until(talking_to_b, 10, "the board shows the seat talking to B's caller")
        time.sleep(2.5)  # two of line A's looks, each a chance to write its own view of the seat
        assert talking_to_b(), "line A, whose claims were refused, wrote over the board"
        for phone, call in zip((first, earlier, later), calls, strict=True):
            if not call.done.is_set():
                phone.hang_up(call)
            assert call.done.wait(10)
