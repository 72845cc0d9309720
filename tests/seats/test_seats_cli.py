"""``ivr seats list|pause|resume`` as an admin runs them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.commands import seats as seats_command
from ivr.records.register import CallRegister
from ivr.seats.board import SeatBoard
from ivr.seats.directory import load_seats


def ivr(argv: Sequence[str]) -> int:
    """``ivr`` with the seats group registered as ``ivr/cli.py`` does it."""
    parser = argparse.ArgumentParser(prog="ivr")
    groups = parser.add_subparsers(dest="group", required=True)
    seats_command.register(groups)
    args = parser.parse_args(list(argv))
    code: int = args.run(args)
    return code


@pytest.fixture
def files(seats_path: Path, store: Path | str) -> list[str]:
    return ["--seats", str(seats_path), "--db", str(store)]


def test_list_shows_every_seat_available_before_anything_happened(
    files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert ivr(["seats", "list", *files]) == 0
    out = capsys.readouterr().out
    for staff in ("1001", "1002", "1003", "9001"):
        assert staff in out
    assert out.count("available") == 4 and "shift_leader" in out and "ALERT" not in out


def test_pause_then_list_then_resume(files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert ivr(["seats", "pause", "1002", "--reason", "午餐", *files]) == 0
    assert "seat 1002 is on a break (暂停服务)" in capsys.readouterr().out
    assert ivr(["seats", "list", *files]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "1002" in line)
    assert "暂停服务" in row and "午餐" in row and "(0 min)" in row
    assert ivr(["seats", "resume", "1002", *files]) == 0
    assert "seat 1002 takes calls again" in capsys.readouterr().out
    assert ivr(["seats", "resume", "1002", *files]) == 0
    assert "not on a break" in capsys.readouterr().out


def test_a_break_over_30_minutes_is_flagged_for_the_shift_leader(
    files: list[str], seats_path: Path, store: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    with CallRegister(store) as reg:
        SeatBoard(load_seats(seats_path), reg).pause(
            "1003", "接孩子", datetime.now(UTC) - timedelta(minutes=42)
        )
    assert ivr(["seats", "list", *files]) == 0
    out = capsys.readouterr().out
    alert = next(line for line in out.splitlines() if line.startswith("ALERT"))
    assert "seat 1003 (张伟)" in alert and "42 min" in alert and "接孩子" in alert
    assert "李明 (1001)" in alert  # the shift leader, shown to the admin


def test_unknown_seat_or_missing_seats_file_is_a_clear_error(
    files: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ivr(["seats", "pause", "4242", "--reason", "午餐", *files]) == 1
    assert "no seat '4242'" in capsys.readouterr().err
    missing = ["--seats", str(tmp_path / "nope.yaml"), "--db", files[3]]
    assert ivr(["seats", "list", *missing]) == 1
    assert "file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ivr(["seats", "pause", "1002", *files])  # --reason is required
