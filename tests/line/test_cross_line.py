"""The running line's side of one queue across lines (``CrossLine``), with its real threads on a real register:
a claim answered to the tick, a release seen by the other line at once (PostgreSQL's NOTIFY, long before
its next look), callers waiting on another line counted, and a line killed mid-call giving its seat
back after the lease without anyone touching it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.line.claimed_seats import FIRST_COME_FRAMES, FIRST_COME_S, ClaimedSeats
from ivr.line.cross_line import ClaimAnswer, CrossLine
from ivr.media import frames_in
from ivr.records.register import CallRegister
from ivr.records.seat_claims import CrossLineView, SeatClaims
from ivr.seats.directory import Seat
from ivr.seats.queue import QueueAction, SeatQueue
from tests.postgres_cluster import PostgresCluster

LinePair = Callable[..., CrossLine]


def wall() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def cross_line(store: Path | str) -> Iterator[LinePair]:
    """``cross_line(**kw)``: a started ``CrossLine`` on the test's register; all closed at the end."""
    opened: list[CrossLine] = []

    def make(**kw: object) -> CrossLine:
        line = CrossLine(CallRegister(store), wall, **kw)  # type: ignore[arg-type]
        opened.append(line)
        line.start()
        return line

    try:
        yield make
    finally:
        for line in opened:
            line.close()


def next_view(line: CrossLine, wanted: Callable[[CrossLineView], bool], timeout: float) -> CrossLineView:
    """The first view the line takes within ``timeout`` that is ``wanted`` (as the tick would take them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = line.view()
        if view is not None and wanted(view):
            return view
        time.sleep(0.02)
    raise AssertionError(f"no such view within {timeout:g} s")


def next_answers(line: CrossLine, timeout: float = 10.0) -> list[ClaimAnswer]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = line.answers()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError("no claim was answered")


def test_the_second_line_to_claim_a_seat_is_told_no_and_sees_the_seat_busy(cross_line: LinePair) -> None:
    a, b = cross_line(), cross_line()
    a.claim("1001", "call-a")
    assert next_answers(a) == [("1001", "call-a", True)]
    b.claim("1001", "call-b")
    assert next_answers(b) == [("1001", "call-b", False)]
    next_view(b, lambda v: v.busy == {"1001"}, 10)
    a.release("1001", "call-a")
    next_view(b, lambda v: v.busy == set(), 10)
    b.claim("1001", "call-b")
    assert next_answers(b) == [("1001", "call-b", True)]


def test_callers_waiting_on_another_line_count_for_a_callers_place(cross_line: LinePair) -> None:
    a, b = cross_line(), cross_line()
    a.joined("a1", "reception")
    assert a.jobs.flush(10)
    b.joined("b1", "reception")
    next_view(b, lambda v: dict(v.ahead) == {"b1": 1}, 10)
    a.left("a1")
    next_view(b, lambda v: dict(v.ahead) == {}, 10)


def test_a_line_that_stops_gives_its_seats_back(cross_line: LinePair) -> None:
    a, b = cross_line(), cross_line()
    a.claim("1001", "call-a")
    assert next_answers(a) == [("1001", "call-a", True)]
    next_view(b, lambda v: v.busy == {"1001"}, 10)
    a.close()
    next_view(b, lambda v: v.busy == set(), 10)


def test_a_line_killed_mid_call_gives_its_seat_back_after_the_lease(store: Path | str) -> None:
    register = CallRegister(store)
    live = CrossLine(CallRegister(store), wall, look_s=0.2, lease_s=2.0)
    try:
        killed = SeatClaims(register, "killed", lease_s=2.0)
        assert killed.claim("1001", "call-on-the-killed-line", wall())  # then: no beat ever again
        live.start()
        next_view(live, lambda v: v.busy == {"1001"}, 10)
        live.claim("1001", "call-waiting")
        assert next_answers(live) == [("1001", "call-waiting", False)]  # within the lease: still held
        next_view(live, lambda v: v.busy == set(), 15)  # the lease ran out: void
        live.claim("1001", "call-waiting")
        assert next_answers(live) == [("1001", "call-waiting", True)]
    finally:
        live.close()
        register.close()


def test_a_release_reaches_the_other_line_long_before_its_next_look(
    postgres_cluster: PostgresCluster,
) -> None:
    url = postgres_cluster.empty_register()
    a = CrossLine(CallRegister(url), wall)
    b = CrossLine(CallRegister(url), wall, look_s=60.0, lease_s=600.0)  # looks once a minute unless told
    a.start()
    b.start()
    try:
        next_view(b, lambda v: True, 10)  # its first look, at start
        a.claim("1001", "call-a")
        assert next_answers(a) == [("1001", "call-a", True)]
        next_view(b, lambda v: v.busy == {"1001"}, 20)  # the claim's NOTIFY, not the minute's look
        a.release("1001", "call-a")
        next_view(b, lambda v: v.busy == set(), 20)
        assert b.looks <= 3 and b.signals_heard >= 2
    finally:
        a.close()
        b.close()


def test_a_seat_waits_for_an_earlier_callers_line_a_while_then_rings_for_its_own(
    cross_line: LinePair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Line B is alive and has a caller who asked first, but never takes the free seat (its seats file
    lacks it, say). Line A's caller is not kept from the seat for good: A's first-come claims are refused
    for ``FIRST_COME_S``, then A claims regardless and rings the seat."""
    a, b = cross_line(look_s=0.2, lease_s=2.0), cross_line(look_s=0.2, lease_s=2.0)
    b.joined("b1", "reception")
    assert b.jobs.flush(10)
    frame = 0
    asked: list[tuple[int, bool]] = []  # (frame, first come) of each claim A asks
    claim = a.claim

    def asking(seat_id: str, call_id: str, *, first_come: bool = True) -> None:
        asked.append((frame, first_come))
        claim(seat_id, call_id, first_come=first_come)

    monkeypatch.setattr(a, "claim", asking)
    queue = SeatQueue([Seat(id="1001", name="座席1001", uri="sip:1001@127.0.0.1", skills=["reception"])])
    rung: list[tuple[int, str]] = []

    def act(actions: list[QueueAction]) -> None:
        for action in actions:
            claimed.saw(action)

    claimed = ClaimedSeats(
        a,
        queue,
        tell=lambda action: None,
        dial=lambda seat, call: rung.append((frame, call)),
        take_actions=act,
        frame=lambda: frame,
    )
    claimed.joined("a1", "reception")
    act(queue.join("a1", "reception", frame))
    deadline = time.monotonic() + FIRST_COME_S + 10
    while not rung and time.monotonic() < deadline:
        time.sleep(0.02)  # a frame of media time
        frame += 1
        claimed.take(frame)
        act(queue.tick(frame))
    assert rung and rung[0][1] == "a1", f"the seat was never rung for A's caller (claims asked: {asked})"
    first_come = [f for f, fair in asked if fair]
    regardless = [f for f, fair in asked if not fair]
    assert len(first_come) >= 3, "A asked again after its looks, giving B's caller the seat first"
    assert regardless and regardless[0] - first_come[0] >= FIRST_COME_FRAMES, asked
    assert rung[0][0] - first_come[0] <= FIRST_COME_FRAMES + frames_in(2.0), "and not much longer"
