"""One queue across lines, as one line's queue sees it: seats other lines hold are not rung here, a caller
whose seat was taken by another line keeps its place, and callers waiting on other lines count in the
position and estimated wait a caller hears."""

from __future__ import annotations

from ivr.media import frames_in
from ivr.seats.queue import Ring, SeatMissed, SeatQueue
from ivr.seats.state import SeatChanged, SeatState

from .conftest import seats


def test_a_caller_whose_seat_another_line_took_keeps_its_place_and_gets_the_seat_when_it_is_free() -> None:
    q = SeatQueue(seats("1001"))
    assert q.join("c1", "booking", 0)[-1] == Ring("1001", "c1")
    q.join("c2", "booking", 1)
    taken = q.seat_taken_elsewhere("1001", 2)
    assert not any(isinstance(a, (Ring, SeatMissed)) for a in taken)  # not rung, not counted a miss
    assert q.waiting() == ["c1", "c2"] and q.position("c1") == 1
    assert q.tick(frames_in(60)) == []  # a minute on: still not rung here, not given up yet either
    freed = q.seats_elsewhere([], frames_in(61))
    assert [a for a in freed if isinstance(a, Ring)] == [Ring("1001", "c1")]  # the first caller, at once


def test_a_seat_taken_elsewhere_sends_the_caller_to_the_next_free_seat_at_once() -> None:
    q = SeatQueue(seats("1001", "1002"))
    assert q.join("c1", "booking", 0)[-1] == Ring("1001", "c1")
    out = q.seat_taken_elsewhere("1001", 1)
    assert [a for a in out if isinstance(a, Ring)] == [Ring("1002", "c1")]
    assert SeatChanged("1001", SeatState.AVAILABLE, 1) in out  # this line no longer rings it
    assert q.seat_state("1002") is SeatState.RINGING


def test_seats_other_lines_hold_are_not_offered_until_they_let_go() -> None:
    q = SeatQueue(seats("1001", "1002"))
    assert q.seats_elsewhere(["1001", "1002", "no-such-seat"], 0) == []
    assert not any(isinstance(a, Ring) for a in q.join("c1", "booking", 0))
    assert q.seats_elsewhere(["1001", "1002"], 10) == []  # nothing changed: nothing to do
    out = q.seats_elsewhere(["1001"], 20)
    assert [a for a in out if isinstance(a, Ring)] == [Ring("1002", "c1")]


def test_callers_waiting_on_other_lines_who_came_first_count_in_position_and_estimated_wait() -> None:
    q = SeatQueue(seats("1001"), default_handle_s=60.0)
    q.seats_elsewhere(["1001"], 0)  # the one seat is busy on another line
    q.join("c1", "booking", 0)
    q.join("c2", "booking", 1)
    assert (q.position("c1"), q.position("c2")) == (1, 2)
    q.callers_ahead_elsewhere({"c1": 2, "c2": 3})  # two came earlier elsewhere; a third between c1 and c2
    assert (q.position("c1"), q.position("c2")) == (3, 5)
    assert q.positions() == {"c1": 3, "c2": 5}
    assert q.estimated_wait_s("c2") == 5 * 60.0
    q.callers_ahead_elsewhere({})
    assert q.position("c2") == 2
