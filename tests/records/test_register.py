"""The register file: what goes in comes back, and it stays readable while written."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ivr.call.events import CallEvent, CallRecord, EventKind, Outcome
from ivr.records import (
    SCHEMA_VERSION,
    AmbiguousCallIdError,
    CallRegister,
    RegisterNotFoundError,
    RegisterVersionError,
    answered_at,
    ended_at,
)

MakeRecord = Callable[..., CallRecord]


def test_finished_call_comes_back_with_its_events(store: Path | str, make_record: MakeRecord) -> None:
    record = make_record("c-0001")
    with CallRegister(store) as reg:
        reg.save(record)
        back = reg.get("c-0001")
    assert back == record
    assert back is not None
    assert back.events[4] == CallEvent(375, EventKind.HEARD, {"text": "我想找一下王经理", "final": True})


def test_answer_and_end_times_follow_media_frames(store: Path | str, make_record: MakeRecord) -> None:
    record = make_record("c-0001")
    with CallRegister(store) as reg:
        reg.save(record)
        (summary,) = reg.list_calls()
    assert summary.started_at == datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
    assert summary.answered_at == datetime(2024, 5, 6, 9, 0, 6, tzinfo=UTC) == answered_at(record)
    assert summary.ended_at == datetime(2024, 5, 6, 9, 0, 48, 500000, tzinfo=UTC) == ended_at(record)
    assert summary.duration_s == 42.5
    assert summary.events == len(record.events)


def test_unanswered_call_has_no_answer_or_end_time(store: Path | str, make_record: MakeRecord) -> None:
    record = make_record("c-ring", outcome=Outcome.ABANDONED)
    record.answered_frame = None
    record.ended_frame = None
    record.events = []
    with CallRegister(store) as reg:
        reg.save(record)
        (summary,) = reg.list_calls()
        assert reg.get("c-ring") == record
    assert (summary.answered_at, summary.ended_at, summary.duration_s) == (None, None, 0.0)


def test_times_are_stored_as_utc_text(tmp_path: Path, make_record: MakeRecord) -> None:
    record = make_record("c-0001")
    record.started_at = datetime(2024, 5, 6, 17, 0, tzinfo=timezone(timedelta(hours=8)))  # Beijing time
    with CallRegister(tmp_path / "ivr.db") as reg:
        reg.save(record)
    conn = sqlite3.connect(tmp_path / "ivr.db")
    try:
        row = conn.execute("SELECT started_at, answered_at, ended_at, outcome, path FROM calls").fetchone()
    finally:
        conn.close()
    assert row == (
        "2024-05-06T09:00:00.000+00:00",
        "2024-05-06T09:00:06.000+00:00",
        "2024-05-06T09:00:48.500+00:00",
        "served",
        '["greet", "ask", "goodbye"]',
    )


def test_saving_a_call_again_replaces_it(store: Path | str, make_record: MakeRecord) -> None:
    with CallRegister(store) as reg:
        reg.save(make_record("c-0001"))
        again = make_record("c-0001", outcome=Outcome.TRANSFERRED)
        again.events = again.events[:2]
        reg.save(again)
        assert reg.get("c-0001") == again
        assert [c.events for c in reg.list_calls()] == [2]


def test_register_file_is_in_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "ivr.db"
    with CallRegister(path) as reg:
        assert reg.journal_mode == "wal"
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        conn.close()


def test_register_from_a_newer_ivr_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "ivr.db"
    CallRegister(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RegisterVersionError, match="newer ivr"):
        CallRegister(path)


def test_a_file_that_is_not_a_register_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are not calls\n" * 100)
    with pytest.raises(RegisterVersionError, match="not an ivr call register"):
        CallRegister(path)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.close()
    with pytest.raises(RegisterVersionError, match="invoices"):
        CallRegister(other)


def test_reader_never_creates_a_missing_register(tmp_path: Path) -> None:
    with pytest.raises(RegisterNotFoundError, match="no call register"):
        CallRegister(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_list_is_newest_first_and_filters(store: Path | str, make_record: MakeRecord) -> None:
    with CallRegister(store) as reg:
        reg.save(make_record("a", minutes_after=0))
        reg.save(make_record("b", minutes_after=30, outcome=Outcome.SILENT_HANGUP))
        reg.save(make_record("c", minutes_after=10, outcome=Outcome.TRANSFERRED))
        reg.save(make_record("d", minutes_after=20, outcome=Outcome.SILENT_HANGUP))

        assert [c.call_id for c in reg.list_calls()] == ["b", "d", "c", "a"]
        assert [c.call_id for c in reg.list_calls(limit=2)] == ["b", "d"]
        assert [c.call_id for c in reg.list_calls(outcome=Outcome.SILENT_HANGUP)] == ["b", "d"]
        since = datetime(2024, 5, 6, 9, 10, tzinfo=UTC)
        assert [c.call_id for c in reg.list_calls(since=since)] == ["b", "d", "c"]
        assert [c.call_id for c in reg.list_calls(outcome=Outcome.TRANSFERRED, since=since)] == ["c"]
        assert reg.list_calls(outcome=Outcome.NOISY_HANGUP) == []


def test_call_found_by_unique_prefix(store: Path | str, make_record: MakeRecord) -> None:
    with CallRegister(store) as reg:
        reg.save(make_record("7f3a9c01-aaaa"))
        reg.save(make_record("7f3b0000-bbbb"))
        reg.save(make_record("7f3"))
        found = reg.get("7f3a")
        assert found is not None and found.call_id == "7f3a9c01-aaaa"
        exact = reg.get("7f3")  # an exact id wins over being a prefix of others
        assert exact is not None and exact.call_id == "7f3"
        with pytest.raises(AmbiguousCallIdError, match="matches 3 calls"):
            reg.get("7f")
        assert reg.get("8") is None
        assert reg.get("7f3_%") is None  # no LIKE wildcards


def test_csv_export_has_a_header_and_a_row_per_call(store: Path | str, make_record: MakeRecord) -> None:
    with CallRegister(store) as reg:
        reg.save(make_record("late", minutes_after=5, outcome=Outcome.NOISY_HANGUP, caller=None))
        reg.save(make_record("early", minutes_after=0, outcome=Outcome.SILENT_HANGUP))
        out = io.StringIO()
        assert reg.export_csv(out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["call_id"] for r in rows] == ["early", "late"]
    assert rows[0] == {
        "call_id": "early",
        "flow": "front-desk",
        "caller": "13800138000",
        "started_at": "2024-05-06T09:00:00.000+00:00",
        "answered_at": "2024-05-06T09:00:06.000+00:00",
        "ended_at": "2024-05-06T09:00:48.500+00:00",
        "duration_s": "42.50",
        "outcome": "silent-call hang-up",
        "path": "greet > ask > goodbye",
        "events": "8",
    }
    assert rows[1]["outcome"] == "noisy-line hang-up"
    assert rows[1]["caller"] == ""


def test_reader_sees_calls_while_a_writer_holds_the_file(store: Path | str, make_record: MakeRecord) -> None:
    path = store
    with CallRegister(path) as writer, CallRegister(path, create=False) as reader:
        writer.save(make_record("one"))
        assert [c.call_id for c in reader.list_calls()] == ["one"]
        writer.save(make_record("two", minutes_after=1))
        assert [c.call_id for c in reader.list_calls()] == ["two", "one"]


def test_a_long_call_keeps_every_event_in_order(store: Path | str, make_record: MakeRecord) -> None:
    """A ten-minute call with 1,201 events (written 500 to a statement) reads back whole."""
    record = make_record("long-call")
    record.events = [CallEvent(n * 25, EventKind.DTMF, {"digits": str(n % 10)}) for n in range(1201)]
    with CallRegister(store) as reg:
        reg.save(record)
        assert reg.get("long-call") == record
        assert [c.events for c in reg.list_calls()] == [1201]
