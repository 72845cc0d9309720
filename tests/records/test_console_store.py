"""What the line and the console share in the register: calls in progress, console users, callback work."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.records.callback_work import CallbackWork
from ivr.records.callbacks import CallbackBook, CallbackSource, CallbackTicket
from ivr.records.console_users import ConsoleUser, ConsoleUsers
from ivr.records.live_calls import LineStatus, LiveCall, LiveCallBoard, LiveCalls, LiveState
from ivr.records.register import SCHEMA_VERSION, CallRegister
from ivr.records.reload_requests import ReloadRequests

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)


def test_the_line_writes_calls_in_progress_off_the_tick_and_forgets_them_when_they_end(
    store: Path | str,
) -> None:
    path = store
    with CallRegister(path) as reader:
        LiveCalls(reader).put(LiveCall("stale", None, "desk", LiveState.IN_FLOW, T0), T0)
        with LiveCallBoard(
            CallRegister(path), lambda: T0, status=lambda: {"register_queue_depth": 3}
        ) as board:
            assert board.flush(5)
            assert LiveCalls(reader).all() == []  # a line starting has nothing in progress
            call = LiveCall(
                "c1",
                "13812345678",
                "desk",
                LiveState.WAITING,
                T0,
                step="put_through",
                intent="book",
                heard="我想订房",
                path=("start", "put_through"),
                waiting_since=T0,
            )
            board.update(call)
            board.seat_ringing("c1", "1001")
            assert board.flush(5)
            assert LiveCalls(reader).for_seat("1001") == LiveCall(
                "c1",
                "13812345678",
                "desk",
                LiveState.WAITING,
                T0,
                "put_through",
                "1001",
                "book",
                "我想订房",
                ("start", "put_through"),
                T0,
            )
            board.put_through("c1", "1001")
            assert board.flush(5)
            assert LiveCalls(reader).all()[0].state is LiveState.WITH_SEAT
            assert LineStatus(reader).get() == {"register_queue_depth": 3.0}
            board.ended("c1")
            assert board.flush(5)
            assert LiveCalls(reader).all() == []


def test_five_wrong_passwords_in_a_minute_lock_the_name_for_a_minute(store: Path | str) -> None:
    with CallRegister(store) as reg:
        users = ConsoleUsers(reg)
        users.add(ConsoleUser("wang", "agent", "1001"), "good password", T0)
        assert users.check_password("wang", "good password", T0) == ConsoleUser("wang", "agent", "1001")
        for n in range(4):
            assert users.check_password("wang", "bad", T0 + timedelta(seconds=n)) is None
        assert users.locked_until("wang", T0 + timedelta(seconds=5)) is None
        assert users.check_password("wang", "bad", T0 + timedelta(seconds=10)) is None
        assert users.locked_until("wang", T0 + timedelta(seconds=11)) == T0 + timedelta(seconds=70)
        assert users.check_password("wang", "good password", T0 + timedelta(seconds=30)) is None
        assert users.check_password("wang", "good password", T0 + timedelta(seconds=71)) is not None
        stored = reg.read(lambda conn: conn.execute("SELECT password_hash FROM console_users").fetchone()[0])
        assert str(stored).startswith("$argon2") and "good password" not in str(stored)


def test_a_session_names_its_user_until_it_ends(store: Path | str) -> None:
    with CallRegister(store) as reg:
        users = ConsoleUsers(reg)
        user = ConsoleUser("li", "shift_leader")
        users.add(user, "leader password", T0)
        token, session = users.open_session(user, T0)
        assert users.session(token, T0 + timedelta(hours=1)) == session
        assert users.session(token, T0 + timedelta(hours=13)) is None
        assert users.session("not a token", T0) is None
        users.close_session(token)
        assert users.session(token, T0) is None
        with pytest.raises(ValueError, match="seat"):
            users.add(ConsoleUser("zhang", "agent"), "agent password", T0)


def test_a_callback_given_to_a_seat_is_its_work_until_called_back(store: Path | str) -> None:
    with CallRegister(store) as reg:
        CallbackBook(reg).add(CallbackTicket("t1", "13900001111", CallbackSource.KEYED, T0, "max_wait"))
        work = CallbackWork(reg)
        assert work.assign("t1", "1001")
        assert [j.ticket.call_id for j in work.open_jobs("1001")] == ["t1"]
        assert work.open_jobs("1002") == []
        assert work.no_answer("t1", T0)
        job = work.open_jobs("1001")[0]
        assert (job.attempts, job.last_result) == (1, "no_answer")
        assert work.called_back("t1", T0)
        assert work.open_jobs() == []
        assert CallbackBook(reg).get("t1") is not None


def test_a_schema_2_register_is_upgraded_and_keeps_its_callbacks(tmp_path: Path) -> None:
    path = tmp_path / "ivr.db"
    with CallRegister(path) as reg:
        CallbackBook(reg).add(CallbackTicket("t1", "13900001111", CallbackSource.KEYED, T0, "max_wait"))
    conn = sqlite3.connect(path)
    for table in (
        "live_calls",
        "console_users",
        "console_sessions",
        "console_failed_sign_ins",
        "reload_requests",
        "line_status",
        "line_beats",
    ):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP INDEX calls_by_end")
    conn.execute("ALTER TABLE calls DROP COLUMN node")  # what schema 5 added
    conn.execute(
        "CREATE TABLE callbacks2 AS SELECT call_id, number, source, created_at, reason, done, done_at FROM callbacks"
    )
    conn.execute("DROP TABLE callbacks")
    conn.execute("ALTER TABLE callbacks2 RENAME TO callbacks")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with CallRegister(path) as reg:
        assert [j.ticket.call_id for j in CallbackWork(reg).open_jobs()] == ["t1"]
        assert ReloadRequests(reg).latest() is None
        ReloadRequests(reg).add("root", "flows/desk.yaml", T0)
        latest = ReloadRequests(reg).latest()
        assert latest is not None and (latest.id, latest.what) == (1, "flows/desk.yaml")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (6,)
    conn.close()
