"""``ivr calls list|show|export``: what an admin reads from the register."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.call.events import CallRecord, Outcome
from ivr.cli import main
from ivr.commands.calls import media_time, parse_outcome
from ivr.records import CallRegister

MakeRecord = Callable[..., CallRecord]


@pytest.fixture
def db(store: Path | str, make_record: MakeRecord) -> Path | str:
    path = store
    with CallRegister(path) as reg:
        reg.save(make_record("a1b2c3d4", minutes_after=0, outcome=Outcome.SERVED))
        reg.save(make_record("a1ffee00", minutes_after=5, outcome=Outcome.SILENT_HANGUP))
        reg.save(make_record("b7777777", minutes_after=9, outcome=Outcome.TRANSFERRED, caller=None))
    return path


def test_list_shows_calls_newest_first(db: Path | str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "list", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.index("b7777777") < out.index("a1ffee00") < out.index("a1b2c3d4")
    assert "silent-call hang-up" in out and "00:42.50" in out


def test_list_names_the_line_that_took_each_call_when_lines_share_the_register(
    store: Path | str, make_record: MakeRecord, capsys: pytest.CaptureFixture[str]
) -> None:
    with CallRegister(store) as reg:
        reg.save(make_record("on-node1", minutes_after=0), "node1")
        reg.save(make_record("on-node2", minutes_after=5), "node2")
    assert main(["calls", "list", "--db", str(store)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "on-node" in line]
    assert [("node2" in row, "node1" in row) for row in rows] == [(True, False), (False, True)]


def test_list_filters_by_outcome_and_limit(db: Path | str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "list", "--db", str(db), "--outcome", "silent-call hang-up"]) == 0
    out = capsys.readouterr().out
    assert "a1ffee00" in out and "a1b2c3d4" not in out and "b7777777" not in out
    assert main(["calls", "list", "--db", str(db), "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "b7777777" in out and "a1ffee00" not in out
    assert main(["calls", "list", "--db", str(db), "--outcome", "noisy_hangup"]) == 0
    assert "no calls" in capsys.readouterr().out


def test_unknown_outcome_is_a_usage_error(db: Path | str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["calls", "list", "--db", str(db), "--outcome", "happy"])
    assert exited.value.code == 2
    assert "unknown outcome 'happy'" in capsys.readouterr().err


def test_show_by_prefix_gives_a_timeline_in_media_time(
    db: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "show", "a1b", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "a1b2c3d4" in out and "front-desk" in out and "greet > ask > goodbye" in out
    assert "2024-05-06 09:00:06 UTC" in out  # answered after two rings
    lines = out.splitlines()
    heard = next(line for line in lines if "heard" in line)
    assert "00:07.50" in heard and "我想找一下王经理" in heard
    assert any("00:42.50" in line and "hangup" in line and "by=bot" in line for line in lines)


def test_show_ambiguous_or_unknown_id_is_a_clear_error(
    db: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "show", "a1", "--db", str(db)]) == 1
    assert "matches 2 calls: a1b2c3d4, a1ffee00" in capsys.readouterr().err
    assert main(["calls", "show", "zz", "--db", str(db)]) == 1
    assert "no call 'zz'" in capsys.readouterr().err


def test_export_csv_to_stdout(db: Path | str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "export", "--csv", "--db", str(db)]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:8] == [
        "call_id",
        "flow",
        "caller",
        "started_at",
        "answered_at",
        "ended_at",
        "duration_s",
        "outcome",
    ]
    assert [(r[0], r[7]) for r in rows[1:]] == [
        ("a1b2c3d4", "served"),
        ("a1ffee00", "silent-call hang-up"),
        ("b7777777", "transferred"),
    ]


def test_export_csv_to_a_file(db: Path | str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "calls.csv"
    assert main(["calls", "export", "--csv", "--db", str(db), "-o", str(target)]) == 0
    assert "wrote 3 calls" in capsys.readouterr().err
    with target.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 3 and rows[2]["caller"] == ""


@pytest.mark.parametrize(
    "argv",
    [["calls", "list"], ["calls", "show", "a1"], ["calls", "export", "--csv"]],
)
def test_missing_register_is_a_clear_error(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "ivr.db"
    assert main([*argv, "--db", str(missing)]) == 1
    assert f"no call register at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_media_time_reads_as_minutes_and_seconds() -> None:
    assert media_time(0) == "00:00.00"
    assert media_time(7.5) == "00:07.50"
    assert media_time(61.02) == "01:01.02"
    assert media_time(3600) == "60:00.00"


def test_outcome_by_text_or_name() -> None:
    assert parse_outcome("silent-call hang-up") is Outcome.SILENT_HANGUP
    assert parse_outcome("SILENT_HANGUP") is Outcome.SILENT_HANGUP
    assert parse_outcome("noisy-hangup") is Outcome.NOISY_HANGUP
