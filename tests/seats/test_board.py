"""The seat board: breaks, idle order and live states kept in the register file across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.records.register import CallRegister
from ivr.seats.board import SeatBoard, UnknownSeatError
from ivr.seats.directory import load_seats
from ivr.seats.queue import SeatQueue
from ivr.seats.state import SeatChanged, SeatState

NINE = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


_opened: list[CallRegister] = []


@pytest.fixture(autouse=True)
def _close_registers() -> Iterator[None]:
    """Every register a test opened is closed after it (a PostgreSQL one holds a pool and its thread)."""
    yield
    while _opened:
        _opened.pop().close()


def board(seats_path: Path, db: Path | str) -> SeatBoard:
    register = CallRegister(db)
    _opened.append(register)
    return SeatBoard(load_seats(seats_path), register)


def test_a_break_with_its_reason_and_start_survives_a_restart(seats_path: Path, store: Path | str) -> None:
    db = store
    first = board(seats_path, db)
    row = first.pause("1002", "午餐", NINE)
    assert row.state is SeatState.ON_BREAK and row.reason == "午餐" and row.break_since == NINE
    first.register.close()

    again = board(seats_path, db)  # the bot restarted
    assert again.breaks() == {"1002": "午餐"}
    row = again.get("1002")
    assert (row.state, row.reason, row.break_since) == (SeatState.ON_BREAK, "午餐", NINE)
    queue = SeatQueue(again.seats.seats, on_break=again.breaks(), idle_order=again.idle_order())
    assert queue.seat_state("1002") is SeatState.ON_BREAK
    again.register.close()


def test_pausing_again_changes_the_reason_but_not_the_start(seats_path: Path, store: Path | str) -> None:
    b = board(seats_path, store)
    b.pause("1002", "午餐", NINE)
    row = b.pause("1002", "午餐后培训", NINE + timedelta(minutes=20))
    assert row.reason == "午餐后培训" and row.break_since == NINE


def test_resume_ends_the_break_and_the_seat_is_idle_from_then(seats_path: Path, store: Path | str) -> None:
    b = board(seats_path, store)
    b.pause("1003", "休息", NINE)
    row = b.resume("1003", NINE + timedelta(minutes=10))
    assert row.state is SeatState.AVAILABLE and row.reason is None and row.break_since is None
    assert row.idle_since == NINE + timedelta(minutes=10)
    assert b.breaks() == {}


def test_the_longest_idle_order_survives_a_restart(seats_path: Path, store: Path | str) -> None:
    db = store
    b = board(seats_path, db)
    for minutes, seat_id in ((3, "1002"), (1, "1003"), (2, "1001")):
        b.record(
            SeatChanged(seat_id, SeatState.AVAILABLE, 0, idle_from_now=True),
            NINE + timedelta(minutes=minutes),
        )
    b.record(SeatChanged("1003", SeatState.NO_ANSWER, 10, "c9", "no_answer"), NINE + timedelta(minutes=4))
    b.register.close()
    again = board(seats_path, db)
    # 9001 was never reported idle: it counts as idle longest; a no-answer pause keeps 1003's idle time
    assert again.idle_order() == ["9001", "1003", "1001", "1002"]
    queue = SeatQueue(again.seats.seats, idle_order=again.idle_order())
    assert queue.join("c1", "booking", 0)[-1].seat_id == "1003"  # type: ignore[union-attr]


def test_the_bot_cannot_end_a_break_by_reporting_a_state(seats_path: Path, store: Path | str) -> None:
    b = board(seats_path, store)
    b.pause("1002", "午餐", NINE)
    b.record(SeatChanged("1002", SeatState.WRAP_UP, 5, "c1"), NINE + timedelta(minutes=1))
    assert b.get("1002").state is SeatState.ON_BREAK
    b.record(SeatChanged("1001", SeatState.ON_BREAK, 5, reason="连续3次未接听"), NINE)
    assert b.breaks() == {"1002": "午餐", "1001": "连续3次未接听"}
    b.record(SeatChanged("7777", SeatState.TALKING, 5), NINE)  # not in the seats file: ignored
    assert [r.seat.id for r in b.list()] == ["1001", "1002", "1003", "9001"]


def test_a_break_past_30_minutes_raises_an_alert_for_the_shift_leader(
    seats_path: Path, store: Path | str
) -> None:
    b = board(seats_path, store)
    b.pause("1002", "午餐", NINE)
    b.pause("1003", "接孩子", NINE + timedelta(minutes=5))
    assert b.break_alerts(NINE + timedelta(minutes=30)) == []  # 30 minutes is still allowed
    alerts = b.break_alerts(NINE + timedelta(minutes=30, seconds=1))
    assert [(a.seat_id, a.reason, a.minutes) for a in alerts] == [("1002", "午餐", 30)]
    naive = datetime(2024, 5, 6, 9, 50)
    assert [(a.seat_id, a.minutes) for a in b.break_alerts(naive)] == [("1002", 50), ("1003", 45)]
    assert [s.id for s in b.shift_leaders()] == ["1001"]


def test_unknown_seats_and_empty_reasons_are_refused(seats_path: Path, store: Path | str) -> None:
    b = board(seats_path, store)
    with pytest.raises(UnknownSeatError, match="no seat '4242'"):
        b.pause("4242", "午餐", NINE)
    with pytest.raises(ValueError, match="needs a reason"):
        b.pause("1002", "  ", NINE)
