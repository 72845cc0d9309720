"""The writer: finished calls are saved off the media path, and the tick never waits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.call.events import CallRecord
from ivr.records import CallRegister, RegisterWriteError, RegisterWriter

MakeRecord = Callable[..., CallRecord]


class GatedRegister(CallRegister):
    """A register whose saves wait until the test opens the gate (a stuck disk)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.saving = threading.Event()

    def save(self, record: CallRecord, node: str | None = None) -> None:
        self.saving.set()
        assert self.gate.wait(timeout=10), "test never opened the gate"
        super().save(record, node)


class FlakyRegister(CallRegister):
    """A register that fails to save one particular call."""

    def save(self, record: CallRecord, node: str | None = None) -> None:
        if record.call_id == "bad":
            raise OSError("disk I/O error")
        super().save(record, node)


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ivr-register-writer"]


def test_every_submitted_call_is_saved_by_close(store: Path | str, make_record: MakeRecord) -> None:
    path = store
    with RegisterWriter(CallRegister(path)) as writer:
        for n in range(20):
            assert writer.submit(make_record(f"c-{n:02d}", minutes_after=n))
    assert (writer.accepted, writer.written, writer.dropped, writer.failed) == (20, 20, 0, None)
    assert writer_threads() == []
    with CallRegister(path, create=False) as reg:
        assert len(reg.list_calls(limit=None)) == 20
        assert reg.get("c-07") == make_record("c-07", minutes_after=7)


def test_flush_returns_once_submitted_calls_are_committed(store: Path | str, make_record: MakeRecord) -> None:
    path = store
    with RegisterWriter(CallRegister(path)) as writer:
        writer.submit(make_record("one"))
        writer.submit(make_record("two"))
        assert writer.flush(timeout=10)
        assert writer.pending == 0
        with CallRegister(path, create=False) as reader:  # another connection sees the commit
            assert {c.call_id for c in reader.list_calls()} == {"one", "two"}


def test_full_queue_drops_instead_of_stalling_the_media_tick(
    tmp_path: Path, make_record: MakeRecord, caplog: pytest.LogCaptureFixture
) -> None:
    register = GatedRegister(tmp_path / "ivr.db")
    writer = RegisterWriter(register, maxsize=2)
    writer.start()
    try:
        assert writer.submit(make_record("in-hand"))
        assert register.saving.wait(timeout=10)  # the worker holds one call and is stuck on the disk
        assert writer.submit(make_record("q1"))
        assert writer.submit(make_record("q2"))
        with caplog.at_level(logging.WARNING, logger="ivr.records"):
            assert not writer.submit(make_record("over-1"))  # returns at once, nothing saved
            assert not writer.submit(make_record("over-2"))
        assert writer.dropped == 2
        assert list(writer.dropped_ids) == ["over-1", "over-2"]
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # one warning per overflow, not one per call
        assert "over-1" in warnings[0].getMessage()
        assert "13800138000" not in caplog.text  # no caller numbers in logs
    finally:
        register.gate.set()
        writer.close()
    assert writer.written == 3
    with CallRegister(tmp_path / "ivr.db", create=False) as reg:
        assert {c.call_id for c in reg.list_calls()} == {"in-hand", "q1", "q2"}


def test_failed_save_is_reported_not_swallowed(
    tmp_path: Path, make_record: MakeRecord, caplog: pytest.LogCaptureFixture
) -> None:
    writer = RegisterWriter(FlakyRegister(tmp_path / "ivr.db"))
    writer.start()
    writer.submit(make_record("good-1"))
    writer.submit(make_record("bad"))
    writer.submit(make_record("good-2"))
    with caplog.at_level(logging.ERROR, logger="ivr.records"), pytest.raises(RegisterWriteError) as raised:
        writer.close()
    assert "1 of 3 calls could not be written" in str(raised.value)
    assert isinstance(raised.value.__cause__, OSError)
    assert isinstance(writer.failed, OSError)
    assert "bad" in caplog.text and "13800138000" not in caplog.text
    with CallRegister(tmp_path / "ivr.db", create=False) as reg:
        assert {c.call_id for c in reg.list_calls()} == {"good-1", "good-2"}


def test_writer_runs_only_between_start_and_close(store: Path | str, make_record: MakeRecord) -> None:
    writer = RegisterWriter(CallRegister(store))
    assert writer_threads() == []
    with pytest.raises(RuntimeError, match="not running"):
        writer.submit(make_record("early"))
    writer.start()
    assert len(writer_threads()) == 1
    writer.close()
    assert writer_threads() == []
    with pytest.raises(RuntimeError, match="not running"):
        writer.submit(make_record("late"))
    writer.close()  # closing twice is harmless


def test_queue_must_have_room(store: Path | str) -> None:
    register = CallRegister(store)
    try:
        with pytest.raises(ValueError, match="at least 1"):
            RegisterWriter(register, maxsize=0)
    finally:
        register.close()
