"""The running line tells the shift leaders once about each break past 30 minutes (handbook line 397)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.records.register import CallRegister
from ivr.seats.board import BreakAlert, SeatBoard
from ivr.seats.break_alarm import LongBreakAlarm
from ivr.seats.directory import Seat, load_seats

NINE = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def test_each_long_break_is_told_once_and_a_new_break_again(
    seats_path: Path, store: Path | str, request: pytest.FixtureRequest
) -> None:
    board = SeatBoard(load_seats(seats_path), CallRegister(store))
    request.addfinalizer(board.register.close)
    told: list[tuple[str, int, list[str]]] = []

    def tell(alert: BreakAlert, leaders: Sequence[Seat]) -> None:
        told.append((alert.seat_id, alert.minutes, [s.id for s in leaders]))

    alarm = LongBreakAlarm(board, tell)
    board.pause("1002", "午餐", NINE)
    assert alarm.check(NINE + timedelta(minutes=30)) == []
    assert [a.seat_id for a in alarm.check(NINE + timedelta(minutes=31))] == ["1002"]
    assert alarm.check(NINE + timedelta(minutes=32)) == [], "told once, not every check"
    assert told == [("1002", 31, ["1001"])]

    board.resume("1002", NINE + timedelta(minutes=40))
    assert alarm.check(NINE + timedelta(minutes=41)) == []
    board.pause("1002", "培训", NINE + timedelta(minutes=50))
    assert alarm.check(NINE + timedelta(minutes=81)) != [], "a new break past the limit is told again"
    assert told[-1] == ("1002", 31, ["1001"])
    board.register.close()
