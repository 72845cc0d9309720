"""A process killed with SIGKILL mid-call loses no finished call's record."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import ivr
from ivr.records import CallRegister

pytestmark = pytest.mark.slow

REPO = Path(ivr.__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta

    from ivr.call.events import CallEvent, CallRecord, EventKind, Outcome
    from ivr.records import CallRegister, RegisterWriter

    def call(n):
        events = [CallEvent(f * 10, EventKind.STEP, {"step": f"s{f}"}) for f in range(8)]
        return CallRecord(
            call_id=f"call-{n:05d}", flow="front-desk", caller="13800138000",
            started_at=datetime(2024, 5, 6, 9, tzinfo=UTC) + timedelta(seconds=n),
            answered_frame=300, ended_frame=2000, outcome=Outcome.SERVED,
            path=["greet", "goodbye"], events=events,
        )

    path, mode = sys.argv[1], sys.argv[2]
    writer = RegisterWriter(CallRegister(path))
    writer.start()
    for n in range(3):
        writer.submit(call(n))
    assert writer.flush(timeout=30) and writer.written == 3 and writer.failed is None
    print("saved 3", flush=True)
    if mode == "mid-call":
        in_progress = call(3)  # the 4th call is still going on: nothing to save yet
        in_progress.events.append(CallEvent(900, EventKind.HEARD, {"text": "喂"}))
        print("in call", flush=True)
        sys.stdin.readline()  # wait here until killed
    else:  # "writing": keep the writer busy committing until killed
        n = 3
        while True:
            if writer.submit(call(n)):
                n += 1
                if n == 50:
                    print("busy", flush=True)
    """
)


class Child:
    def __init__(self, db: Path, mode: str, tmp_path: Path) -> None:
        script = tmp_path / "child.py"
        script.write_text(CHILD, encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(db), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.buffer = b""

    def expect(self, line: str, timeout: float = 30) -> None:
        """Wait for the child to print ``line`` (the handshake); fail rather than hang."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            lines = self.buffer.split(b"\n")
            if line.encode() in lines[:-1]:
                return
            left = deadline - time.monotonic()
            assert left > 0, f"child never printed {line!r} (got {self.buffer!r})"
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                assert chunk, f"child exited before printing {line!r} (rc {self.proc.wait()})"
                self.buffer += chunk

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def child_runner(tmp_path: Path) -> Iterator[list[Child]]:
    children: list[Child] = []
    yield children
    for child in children:
        child.stop()


def assert_file_is_whole(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def test_killed_mid_call_keeps_every_finished_call(tmp_path: Path, child_runner: list[Child]) -> None:
    db = tmp_path / "var" / "ivr.db"
    child = Child(db, "mid-call", tmp_path)
    child_runner.append(child)
    child.expect("saved 3")
    child.expect("in call")
    child.kill()

    assert_file_is_whole(db)
    with CallRegister(db, create=False) as reg:
        calls = reg.list_calls(limit=None)
        assert sorted(c.call_id for c in calls) == ["call-00000", "call-00001", "call-00002"]
        for summary in calls:
            record = reg.get(summary.call_id)
            assert record is not None and len(record.events) == 8


def test_killed_while_writing_keeps_acknowledged_calls_and_no_half_call(
    tmp_path: Path, child_runner: list[Child]
) -> None:
    db = tmp_path / "ivr.db"
    child = Child(db, "writing", tmp_path)
    child_runner.append(child)
    child.expect("saved 3")
    child.expect("busy")
    child.kill()

    assert_file_is_whole(db)
    with CallRegister(db, create=False) as reg:
        ids = {c.call_id for c in reg.list_calls(limit=None)}
        assert {"call-00000", "call-00001", "call-00002"} <= ids
        # every call in the file is whole: its row and all its events, or nothing
        assert all(c.events == 8 for c in reg.list_calls(limit=None))
