"""A fault on a seat's side ends that seat's leg only, over real SIP on loopback (issue 9).

A seat whose 200 carries a Contact no dialog could use is taken as a seat that
refused, at once, and the caller rings through to the next seat; a fault inside
a put-through seat's leg ends that leg with a BYE, and the caller hears the
line's goodbye before its own BYE: nobody is dropped without one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.call.events import EventKind, Outcome
from ivr.demo.phone import SipPhone
from ivr.demo.phone_script import Action, Press, Tone, WaitForBot
from ivr.demo.seat_phone import SeatPhone
from ivr.line.open_line import OpenLine
from ivr.line.seat_floor import SeatFloor
from ivr.seats.queue import Connected, Ring, SeatMissed, StopRinging
from ivr.seats.state import Miss
from tests.telephony.conftest import (
    REPO,
    CallerNumbers,
    LineMaker,
    SeatMaker,
    wait_for_record,
    wait_until,
    write_seats,
)

pytestmark = pytest.mark.slow

CALLER_SCRIPT: tuple[Action, ...] = (WaitForBot(), Press("0"), Tone(60, 600.0))
SEAT_SCRIPT: tuple[Action, ...] = (Tone(60, 1000.0),)


class SeatWithABrokenContact(SeatPhone):
    """A seat phone whose Contact lacks its closing '>': its 200 can make no dialog."""

    def _contact(self) -> str:
        return super()._contact().rstrip(">")


def desk_with(open_line: LineMaker, tmp_path: Path, *seats: SeatPhone) -> OpenLine:
    """The shipped desk flow (each seat rung 5 s) in direct mode, with these seats in this order."""
    text = (REPO / "flows" / "desk.yaml").read_text(encoding="utf-8")
    old = "  reception:\n    transfer:\n      skill: reception\n"
    assert old in text
    flow = tmp_path / "desk.yaml"
    flow.write_text(text.replace(old, old + "      ring_timeout: 5s\n"), encoding="utf-8")
    return open_line(flow=flow, seats=write_seats(tmp_path / "seats.yaml", *seats))


def floor_of(line: OpenLine) -> SeatFloor:
    floor = line.line.floor
    assert floor is not None
    return floor


def test_a_seat_answering_with_a_broken_contact_counts_as_refused_and_the_next_seat_takes_the_caller(
    open_line: LineMaker,
    seat_phone: SeatMaker,
    phone: SipPhone,
    caller_number: CallerNumbers,
    tmp_path: Path,
) -> None:
    broken = seat_phone("1001", SeatWithABrokenContact, answer_after_s=0.5)
    answers = seat_phone("1002", answer_after_s=0.5, script=SEAT_SCRIPT)
    line = desk_with(open_line, tmp_path, broken, answers)
    phone.user = caller_number()
    call = phone.call(line.line.transport.address, CALLER_SCRIPT)
    floor = floor_of(line)
    wait_until(lambda: any(isinstance(a, Connected) for _, a in floor.log), 30, "the caller is put through")

    actions = [a for _, a in floor.log if isinstance(a, Ring | StopRinging | SeatMissed | Connected)]
    kinds = [(type(a).__name__, a.seat_id) for a in actions]
    assert kinds[:4] == [
        ("Ring", broken.user),
        ("SeatMissed", broken.user),
        ("Ring", answers.user),
        ("Connected", answers.user),
    ], kinds
    missed = actions[1]
    assert isinstance(missed, SeatMissed) and missed.miss is Miss.REJECTED
    assert missed.rang_s < 2.0, "the broken answer was taken as a refusal at once, not rung out"
    assert isinstance(actions[0], Ring)

    wait_until(lambda: floor.stats.bridged_frames >= 50, 10, "the caller talks with the seat")
    phone.hang_up(call)
    assert call.done.wait(5)
    record = wait_for_record(line, phone.user)
    assert record.outcome is Outcome.TRANSFERRED


def test_a_fault_in_a_put_through_seats_leg_ends_that_leg_and_the_caller_hears_goodbye(
    open_line: LineMaker,
    seat_phone: SeatMaker,
    phone: SipPhone,
    caller_number: CallerNumbers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = seat_phone("1002", answer_after_s=0.5, script=SEAT_SCRIPT)
    line = desk_with(open_line, tmp_path, answers)
    phone.user = caller_number()
    call = phone.call(line.line.transport.address, CALLER_SCRIPT)
    floor = floor_of(line)
    wait_until(lambda: floor.stats.bridged_frames >= 50, 30, "the caller talks with the seat")

    def broken_tick(now: float) -> None:
        raise RuntimeError("the seat leg broke")

    with line.line.ended:  # the line's lock: the leg is swapped between ticks
        (seat_call,) = [sc for sc in floor._legs.values() if sc.seat_id == answers.user]
        monkeypatch.setattr(seat_call.leg, "tick", broken_tick)  # a fault no SIP message can cause

    at_seat = answers.calls[-1]
    assert at_seat.done.wait(5) and at_seat.ended_by == "line", "the seat's leg was not hung up"
    assert call.done.wait(15) and call.ended_by == "bot", "the caller was not hung up by the line"
    record = wait_for_record(line, phone.user)
    assert record.outcome is Outcome.TRANSFERRED
    left = [e for e in record.events if e.kind is EventKind.SEAT and e.detail.get("state") == "left"]
    assert left and left[0].detail["seat"] == answers.user
    goodbye = [
        e for e in record.events if e.kind is EventKind.PROMPT_FINISHED and e.detail["prompt"] == "goodbye"
    ]
    assert goodbye, "the caller did not hear the goodbye"
    assert line.line.live_calls() == 0 and line.line.clock.failure is None
