"""The queue in media time: who rings, for how long, and who keeps their place."""

from __future__ import annotations

import pytest

from ivr.media import frames_in
from ivr.seats.queue import (
    Abandoned,
    Connected,
    GiveUp,
    Handled,
    Ring,
    SeatMissed,
    SeatQueue,
    StopRinging,
    Whisper,
)
from ivr.seats.state import LiveSeat, Miss, SeatChanged, SeatState, SeatStateError, SeatTiming
from ivr.seats.whisper import CallerInfo

from .conftest import ANSWERS, NEVER, REJECTS, UNREACHABLE, WHISPER_HANGUP, Script, seats, sim


def test_longest_idle_seat_rings_first_and_the_order_follows_the_work() -> None:
    q = SeatQueue(seats("1001", "1002", "1003"), idle_order=["1002", "1003", "1001"])
    s = sim(q, s1001=ANSWERS, s1002=Script(talk_s=30), s1003=ANSWERS)
    s.join("c1", 0)
    s.run_until(1)
    assert s.rings() == [(0.0, "1002", "c1")]
    # 1002 talks 30 s (put through at 5 s), wraps up 10 s: free again at 45 s, the most recently idle
    s.join("c2", 50)
    s.join("c3", 51)
    s.join("c4", 52)
    s.run_until(53)
    assert [seat for _, seat, _ in s.rings()] == ["1002", "1003", "1001", "1002"]


def test_ties_in_idle_time_follow_the_seats_file() -> None:
    q = SeatQueue(seats("1003", "1001", "1002"))
    assert q.join("c1", "booking", 0)[-1] == Ring("1003", "c1")


def test_a_seat_that_does_not_answer_rings_15_s_then_the_next_seat_rings() -> None:
    q = SeatQueue(seats("1001", "1002"))
    s = sim(q, s1001=NEVER, s1002=ANSWERS)
    s.join("c1", 0)
    s.run_until(20)
    assert s.rings() == [(0.0, "1001", "c1"), (15.0, "1002", "c1")]
    assert s.of(StopRinging) == [(15.0, StopRinging("1001", "c1", "no_answer"))]
    assert s.of(SeatMissed) == [(15.0, SeatMissed("1001", "c1", Miss.NO_ANSWER, 15.0))]
    assert s.of(Connected) == [(20.0, Connected("c1", "1002", "booking", 20.0))]


def test_the_flows_ring_timeout_is_used_per_caller() -> None:
    q = SeatQueue(seats("1001", "1002"))
    s = sim(q, s1001=NEVER, s1002=NEVER)
    q.join("c1", "booking", 0, ring_timeout_s=8)
    s.run_until(9)
    assert s.of(Ring) == [(8.0, Ring("1002", "c1"))]  # the first Ring came from join, outside the sim


def test_rejected_and_unreachable_seats_never_cost_the_caller_their_place() -> None:
    q = SeatQueue(seats("1001"))
    s = sim(q, s1001=[REJECTS, UNREACHABLE, ANSWERS])
    s.join("c1", 0)
    s.join("c2", 0.5)
    s.run_until(0.5)
    assert (q.position("c1"), q.position("c2")) == (1, 2)
    s.run_until(80)
    # rejected at 1 s: the seat may ring again after 5 s, and it rings for c1 again, not c2;
    # unreachable at 6.1 s: 60 s pause, then c1 again
    assert s.rings() == [(0.0, "1001", "c1"), (6.0, "1001", "c1"), (66.1, "1001", "c1")]
    assert [a.miss for _, a in s.of(SeatMissed)] == [Miss.REJECTED, Miss.UNREACHABLE]
    assert s.of(Connected)[0][1].call_id == "c1"
    assert q.position("c2") == 1


def test_a_seat_that_does_not_answer_is_paused_a_while_and_the_caller_keeps_their_place() -> None:
    timing = SeatTiming(no_answer_pause_s=30, max_no_answer=0)
    q = SeatQueue(seats("1001"), timing=timing)
    s = sim(q, s1001=[NEVER, ANSWERS])
    s.join("c1", 0)
    s.join("c2", 1)
    s.run_until(44.98)
    assert q.seat_state("1001") is SeatState.NO_ANSWER
    assert (q.position("c1"), q.position("c2")) == (1, 2)
    s.run_until(45)
    assert q.seat_state("1001") is SeatState.RINGING
    assert s.rings()[-1] == (45.0, "1001", "c1")
    changes = [(t, a.state) for t, a in s.of(SeatChanged)]
    assert (15.0, SeatState.NO_ANSWER) in changes and (45.0, SeatState.AVAILABLE) in changes


def test_too_many_unanswered_rings_in_a_row_put_the_seat_on_a_break() -> None:
    q = SeatQueue(seats("1001", "1002"), timing=SeatTiming(no_answer_pause_s=5, max_no_answer=2))
    s = sim(q, s1001=NEVER, s1002=NEVER)
    s.join("c1", 0)
    s.run_until(75)
    breaks = [(t, a) for t, a in s.of(SeatChanged) if a.state is SeatState.ON_BREAK]
    assert [(t, a.seat_id, a.reason) for t, a in breaks] == [
        (45.0, "1001", "连续2次未接听"),
        (60.0, "1002", "连续2次未接听"),
    ]
    assert q.seat_state("1001") is SeatState.ON_BREAK and not q.can_serve("booking")
    assert q.waiting() == ["c1"]


def test_positions_count_down_as_the_callers_ahead_are_served() -> None:
    q = SeatQueue(seats("1001"), timing=SeatTiming(wrap_up_s=10))
    s = sim(q, s1001=Script(after_s=2, whisper_s=3, talk_s=15))
    for n in range(1, 5):
        s.join(f"c{n}", n * 0.1)
    seen: list[int] = []
    for second in range(0, 130, 5):
        s.run_until(second + 0.5)
        if "c4" in q.waiting():
            seen.append(q.position("c4"))
    # each call: 2 s ring + 3 s whisper + 15 s talk + 10 s wrap-up = 30 s
    assert seen == sorted(seen, reverse=True) and seen[0] == 4 and seen[-1] == 1
    assert set(seen) == {4, 3, 2, 1}
    assert [a.call_id for _, a in s.of(Connected)] == ["c1", "c2", "c3", "c4"]


def test_position_counts_only_callers_waiting_for_the_same_skill() -> None:
    q = SeatQueue(seats("1001", skills=["complaint"]) + seats("1002"))
    q.join("a", "complaint", 0)
    q.join("b", "booking", 1)
    q.join("c", "complaint", 2)
    q.join("d", "booking", 3)
    assert [q.position(c) for c in "abcd"] == [1, 1, 2, 2]
    assert q.positions() == {"a": 1, "b": 1, "c": 2, "d": 2}


def test_estimated_wait_comes_from_recent_handling_times() -> None:
    q = SeatQueue(seats("1001", "1002"), default_handle_s=100, timing=SeatTiming(wrap_up_s=10))
    for n in range(4):
        q.join(f"c{n}", "booking", n)
    assert q.estimated_wait_s("c3") == pytest.approx(4 * 100 / 2)  # no data yet: the default
    seeded = SeatQueue(
        seats("1001", "1002"), recent_handle_s={"booking": [50, 70]}, timing=SeatTiming(wrap_up_s=10)
    )
    s = sim(seeded, s1001=Script(talk_s=30), s1002=Script(talk_s=30))
    for n in range(4):
        s.join(f"c{n}", n * 0.02)
    s.run_until(0.06)
    assert seeded.estimated_wait_s("c3") == pytest.approx(4 * (60 + 10) / 2)
    s.run_until(40)  # two calls handled with 30 s of talk each
    assert seeded.handle_s("booking") == pytest.approx((50 + 70 + 30 + 30) / 4 + 10)


def test_a_seat_that_hangs_up_in_the_whisper_puts_the_caller_back_at_the_head() -> None:
    q = SeatQueue(seats("1001", "1002"))
    s = sim(q, s1001=NEVER, s1002=[WHISPER_HANGUP, ANSWERS])
    s.join("c0", 0)  # rings 1001, which never answers
    s.join("c1", 1)  # rings 1002, which answers and hangs up in the whisper
    s.run_until(2.98)
    assert (q.position("c0"), q.position("c1")) == (1, 2)
    s.run_until(4)
    assert [a.miss for _, a in s.of(SeatMissed)] == [Miss.WHISPER_HANGUP]
    assert (q.position("c1"), q.position("c0")) == (1, 2)
    assert q.waited_s("c1", s.frame) == pytest.approx(3.02)
    s.run_until(30)
    # 1002 may ring again after 5 s: for c1, ahead of c0 who joined first
    assert (9.0, "1002", "c1") in s.rings()
    assert s.of(Connected)[0][1].call_id == "c1"


def test_the_seat_hears_who_is_calling_before_being_put_through() -> None:
    q = SeatQueue(seats("1001"))
    caller = CallerInfo(number="13800138000", asked_for="订房", repeat_caller=True)
    q.join("c1", "booking", 0, caller)
    out = q.seat_answered("1001", frames_in(45))
    whisper = next(a for a in out if isinstance(a, Whisper))
    assert whisper.waited_s == 45.0 and "幺三八" in whisper.text and "四十五秒" in whisper.text
    assert q.connected("c1", frames_in(48)) == [Connected("c1", "1001", "booking", 48.0)]
    assert q.waiting() == [] and q.seat_state("1001") is SeatState.TALKING


def test_max_wait_gives_up_at_exactly_120_s() -> None:
    q = SeatQueue(seats("1001"), timing=SeatTiming(max_no_answer=0))
    s = sim(q, s1001=NEVER)
    s.join("c1", 0)
    s.run_until(119.98)
    assert s.of(GiveUp) == []
    s.run_until(120)
    assert s.of(GiveUp) == [(120.0, GiveUp("c1", "max_wait", 120.0))]
    assert q.waiting() == []


def test_a_caller_ringing_a_seat_at_the_maximum_wait_is_given_up_and_the_ring_stops() -> None:
    q = SeatQueue(seats("1001"))
    s = sim(q, s1001=NEVER)
    s.join("c1", 0)
    s.run_until(1)
    q.join("c2", "booking", frames_in(1), max_wait_s=15)
    # (not in the sim: c2 waits behind c1 while 1001 rings)
    s.run_until(16)
    assert s.of(GiveUp) == [(16.0, GiveUp("c2", "max_wait", 15.0))]
    q2 = SeatQueue(seats("1001"))
    s2 = sim(q2, s1001=NEVER)
    q2.join("c1", "booking", 0, max_wait_s=20, ring_timeout_s=30)
    s2.run_until(21)
    assert s2.of(StopRinging) == [(20.0, StopRinging("1001", "c1", "max_wait"))]
    assert q2.seat_state("1001") is SeatState.AVAILABLE  # the seat did nothing wrong


def test_nobody_with_the_skill_means_the_caller_waits_to_the_maximum() -> None:
    q = SeatQueue(seats("1001"))
    assert not q.can_serve("french")
    q.join("c1", "french", 0)
    assert q.tick(frames_in(119.98)) == []
    assert q.tick(frames_in(120)) == [GiveUp("c1", "max_wait", 120.0)]


def test_a_caller_who_hangs_up_while_waiting_is_abandoned_with_their_wait() -> None:
    q = SeatQueue(seats("1001"))
    s = sim(q, s1001=NEVER)
    s.join("c1", 0)
    s.leave("c1", 7)
    s.run_until(8)
    assert s.of(StopRinging) == [(7.0, StopRinging("1001", "c1", "caller_left"))]
    assert s.of(Abandoned) == [(7.0, Abandoned("c1", "booking", 7.0))]
    assert q.seat_state("1001") is SeatState.AVAILABLE


def test_wrap_up_lasts_its_seconds_then_the_seat_is_available_and_idle_from_then() -> None:
    q = SeatQueue(seats("1001"), timing=SeatTiming(wrap_up_s=10))
    s = sim(q, s1001=Script(after_s=2, whisper_s=3, talk_s=20))
    s.join("c1", 0)
    s.run_until(34.98)
    assert q.seat_state("1001") is SeatState.WRAP_UP
    assert s.of(Handled) == [(25.0, Handled("1001", "c1", "booking", 20.0))]
    s.run_until(35)
    last = s.of(SeatChanged)[-1]
    assert last == (35.0, SeatChanged("1001", SeatState.AVAILABLE, frames_in(35), idle_from_now=True))


def test_pausing_a_ringing_seat_stops_the_ring_and_the_caller_rings_the_next_seat() -> None:
    q = SeatQueue(seats("1001", "1002"))
    q.join("c1", "booking", 0)
    out = q.pause_seat("1001", "午餐", 50)
    assert out[0] == StopRinging("1001", "c1", "seat_paused")
    assert out[-1] == Ring("1002", "c1")
    assert q.seat_state("1001") is SeatState.ON_BREAK and q.position("c1") == 1


def test_a_seat_paused_during_a_call_goes_on_its_break_when_the_call_ends() -> None:
    q = SeatQueue(seats("1001"))
    q.join("c1", "booking", 0)
    q.seat_answered("1001", 100)
    q.connected("c1", 200)
    assert q.pause_seat("1001", "开会", 300) == []
    assert q.seat_state("1001") is SeatState.TALKING
    out = q.seat_done("1001", 400)
    assert out[-1] == SeatChanged("1001", SeatState.ON_BREAK, 400, reason="开会")
    assert q.resume_seat("1001", 500)[-1] == SeatChanged("1001", SeatState.AVAILABLE, 500, idle_from_now=True)


def test_breaks_follow_the_board() -> None:
    q = SeatQueue(seats("1001", "1002"), on_break={"1002": "培训"})
    assert q.seat_states() == {"1001": SeatState.AVAILABLE, "1002": SeatState.ON_BREAK}
    out = q.sync_breaks({"1001": "午餐"}, 10)
    assert {(a.seat_id, a.state) for a in out if isinstance(a, SeatChanged)} == {
        ("1001", SeatState.ON_BREAK),
        ("1002", SeatState.AVAILABLE),
    }
    assert q.sync_breaks({"1001": "午餐"}, 11) == []


def test_stale_seat_events_are_ignored() -> None:
    q = SeatQueue(seats("1001", "1002"))
    q.join("c1", "booking", 0)
    q.tick(frames_in(15))  # 1001 timed out; 1002 rings now
    assert q.seat_answered("1001", frames_in(15)) == []
    assert q.seat_rejected("1001", frames_in(15)) == []
    assert q.seat_done("1001", frames_in(15)) == []
    assert q.caller_left("nobody", frames_in(15)) == []
    with pytest.raises(ValueError, match="no seat '4242'"):
        q.seat_answered("4242", 0)
    with pytest.raises(ValueError, match="already waiting"):
        q.join("c1", "booking", 1)


def test_a_tick_with_nothing_due_does_nothing() -> None:
    q = SeatQueue(seats("1001"))
    q.join("c1", "booking", 0)
    assert all(q.tick(f) == [] for f in range(1, frames_in(15)))
    assert q.tick(frames_in(15))[0] == StopRinging("1001", "c1", "no_answer")


def test_the_seat_state_machine_refuses_transitions_it_does_not_know() -> None:
    seat = LiveSeat("1001", frozenset({"booking"}))
    seat.pause("午餐", 0)
    with pytest.raises(SeatStateError, match="on_break, not available to ring"):
        seat.ring("c1", 1)
    seat.resume(2)
    seat.ring("c1", 3)
    with pytest.raises(SeatStateError, match="finished a call while ringing"):
        seat.done(4, SeatTiming())
    assert seat.answered(5).state is SeatState.TALKING
    with pytest.raises(SeatStateError, match="answered while talking"):
        seat.answered(6)
