"""Queue figures: service level, abandoned callers, waits and per-seat counts, and ``ivr calls stats``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.call.events import CallRecord
from ivr.cli import main
from ivr.records.callbacks import CallbackBook, CallbackSource, CallbackTicket
from ivr.records.errors import RegisterWriteError
from ivr.records.queue_figures import (
    QueueFigures,
    QueueLog,
    QueueRow,
    RingResult,
    RingRow,
    TalkRow,
    WaitOutcome,
    WaitRow,
)
from ivr.records.register import SCHEMA_VERSION, CallRegister

MakeRecord = Callable[..., CallRecord]
NINE = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return NINE + timedelta(minutes=minutes)


ROWS: list[QueueRow] = [
    WaitRow("c1", at(1), "booking", 5.0, WaitOutcome.ANSWERED, "1002"),
    WaitRow("c2", at(2), "booking", 19.0, WaitOutcome.ANSWERED, "1003"),
    WaitRow("c3", at(3), "booking", 45.0, WaitOutcome.ANSWERED, "1002"),
    WaitRow("c4", at(4), "booking", 33.0, WaitOutcome.ABANDONED),
    WaitRow("c5", at(5), "booking", 8.0, WaitOutcome.ABANDONED),
    WaitRow("c6", at(6), "complaint", 120.0, WaitOutcome.GAVE_UP),
    RingRow("1001", "c2", at(2), RingResult.NO_ANSWER, 15.0),
    RingRow("1001", "c3", at(3), RingResult.NO_ANSWER, 15.0),
    RingRow("1003", "c3", at(3), RingResult.REJECTED, 1.0),
    RingRow("1003", "c3", at(3), RingResult.WHISPER_HANGUP, 4.0),
    RingRow("9001", "c6", at(6), RingResult.UNREACHABLE, 0.1),
    TalkRow("1002", "c1", at(2), "booking", 60.0),
    TalkRow("1003", "c2", at(3), "booking", 90.0),
    TalkRow("1002", "c3", at(5), "booking", 120.0),
]


@pytest.fixture
def db(store: Path | str) -> Path | str:
    path = store
    with CallRegister(path) as reg:
        QueueFigures(reg).add(ROWS)
    return path


def test_summary_adds_up_the_queue(db: Path | str) -> None:
    with CallRegister(db) as reg:
        s = QueueFigures(reg).summary()
    assert (s.queued, s.answered, s.answered_within, s.abandoned, s.gave_up) == (6, 3, 2, 2, 1)
    assert s.service_level == pytest.approx(2 / 6)
    assert s.mean_wait_s == pytest.approx((5 + 19 + 45) / 3)
    assert s.mean_wait_all_s == pytest.approx((5 + 19 + 45 + 33 + 8 + 120) / 6)
    assert (s.abandoned_mean_wait_s, s.abandoned_max_wait_s, s.longest_wait_s) == (20.5, 33.0, 120.0)
    seats = {f.seat_id: f for f in s.seats}
    assert (seats["1002"].handled, seats["1002"].no_answer, seats["1002"].mean_talk_s) == (2, 0, 90.0)
    assert (seats["1001"].handled, seats["1001"].no_answer) == (0, 2)
    assert (seats["1003"].rejected, seats["1003"].whisper_hangups, seats["9001"].unreachable) == (1, 1, 1)


def test_summary_with_a_threshold_and_a_window(db: Path | str) -> None:
    with CallRegister(db) as reg:
        figures = QueueFigures(reg)
        assert figures.summary(service_s=60).answered_within == 3
        later = figures.summary(since=at(3))
        assert (later.queued, later.answered, later.abandoned) == (4, 1, 2)
        assert {f.seat_id: f.handled for f in later.seats} == {"1001": 0, "1002": 1, "1003": 1, "9001": 0}
        empty = figures.summary(since=at(60))
        assert empty.service_level is None and empty.mean_wait_s is None and empty.seats == ()


def test_recent_talk_times_seed_the_wait_estimate(db: Path | str) -> None:
    with CallRegister(db) as reg:
        figures = QueueFigures(reg)
        assert figures.recent_talk_times() == {"booking": [60.0, 90.0, 120.0]}
        assert figures.recent_talk_times(per_skill=2) == {"booking": [90.0, 120.0]}


def test_queue_log_writes_off_the_media_path(store: Path | str) -> None:
    path = store
    with QueueLog(CallRegister(path), maxsize=16) as qlog:
        assert qlog.record_wait("c1", "booking", 12.5, WaitOutcome.ANSWERED, "1002", at=at(1))
        assert qlog.record_ring("1001", "c1", RingResult.NO_ANSWER, 15.0, at=at(1))
        assert qlog.record_talk("1002", "c1", "booking", 61.0, at=at(2))
        ticket = CallbackTicket("c9", "13800138000", CallbackSource.CALLER_ID, at(3), "max_wait")
        assert qlog.add_callback(ticket)
        assert qlog.flush(timeout=5)
        assert (qlog.written, qlog.dropped, qlog.errors) == (4, 0, 0)
    with CallRegister(path) as reg:
        s = QueueFigures(reg).summary()
        assert (s.answered, s.answered_within, s.seats[0].no_answer, s.seats[1].handled) == (1, 1, 1, 1)
        assert CallbackBook(reg).tickets() == [ticket]


def test_queue_log_reports_a_failed_write_when_closed(tmp_path: Path) -> None:
    qlog = QueueLog(CallRegister(tmp_path / "ivr.db"))
    qlog.start()

    def broken() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    qlog.submit("seat 1002 state", broken)
    with pytest.raises(RegisterWriteError, match="1 of 1 queue rows"):
        qlog.close()


def test_a_schema_1_register_is_upgraded_and_keeps_its_calls(tmp_path: Path, make_record: MakeRecord) -> None:
    path = tmp_path / "old.db"
    with CallRegister(path) as reg:
        reg.save(make_record("old-call"))
    conn = sqlite3.connect(path)
    later = (
        "callbacks",
        "queue_waits",
        "seat_rings",
        "seat_talks",
        "seat_board",
        "live_calls",
        "console_users",
    )
    for table in (*later, "console_sessions", "console_failed_sign_ins", "reload_requests", "line_status"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP TABLE line_beats")
    conn.execute("DROP INDEX calls_by_end")
    conn.execute("ALTER TABLE calls DROP COLUMN node")  # as schema 1 made it
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with CallRegister(path) as reg:
        assert reg.get("old-call") == make_record("old-call")
        QueueFigures(reg).add(ROWS[:1])
        assert QueueFigures(reg).summary().queued == 1
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (6,)
    conn.close()


def test_ivr_calls_stats_prints_the_figures(db: Path | str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "stats", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any("service level (answered within 20 s)" in line and "33% (2 of 6)" in line for line in lines)
    assert any("abandoned while waiting" in line and "2" in line for line in lines)
    assert any("their average wait" in line and "20.5 s" in line for line in lines)
    assert any("average wait (answered)" in line and "23.0 s" in line for line in lines)
    cells = {row[0]: row[1:] for row in (line.strip("│ ").split(" │ ") for line in lines) if row[0].isdigit()}
    # seat: handled, no answer, rejected, unreachable, hung up in whisper, average talk
    assert [c.strip() for c in cells["1001"]][:5] == ["0", "2", "0", "0", "0"]
    assert [c.strip() for c in cells["1003"]] == ["1", "0", "1", "0", "1", "90.0 s"]
    assert main(["calls", "stats", "--db", str(db), "--service-s", "60"]) == 0
    assert "50% (3 of 6)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["calls", "stats", "--db", str(db), "--service-s", "0"])
