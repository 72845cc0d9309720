"""The call register: one SQLite file, a row per finished call and a row per event.

The file runs in WAL mode so ``ivr calls`` can read while the line writes.
Every ``save`` is one transaction committed with ``synchronous=FULL``: once
``save`` returns, the call survives the process being killed (and, with
FULL, the machine losing power). A half-written call is never visible: its
row and its events commit together or not at all.

Schema 3 adds what the line shares with the console (``live_calls``, console
users and sessions, ``reload_requests``, ``line_status``, callback work).
Schema 2 adds the queue's tables: callback tickets (``callbacks``), queue
figures (``queue_waits``, ``seat_rings``, ``seat_talks``) and the seats'
live state (``seat_board``). A schema-1 file is upgraded in place when it is
opened. ``read`` and ``write`` let the modules that own those
tables (``ivr.records.callbacks``, ``ivr.records.queue_figures``,
``ivr.seats.board``) run their SQL on the register's one connection.

Wall times are stored as ISO-8601 UTC text with milliseconds (they sort as
text). The answer and end times are derived from the arrival time and media
frames, which are kept too, so a record read back is the record written.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Literal, TextIO, TypeVar

from ivr.call.events import CallEvent, CallRecord, Detail, EventKind, Outcome
from ivr.media import seconds_of
from ivr.records.errors import (
    AmbiguousCallIdError,
    RegisterError,
    RegisterNotFoundError,
    RegisterVersionError,
)

SCHEMA_VERSION = 3

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id        TEXT PRIMARY KEY,
    flow           TEXT NOT NULL,
    caller         TEXT,
    started_at     TEXT NOT NULL,
    answered_at    TEXT,
    ended_at       TEXT,
    answered_frame INTEGER,
    ended_frame    INTEGER,
    duration_s     REAL NOT NULL,
    outcome        TEXT,
    path           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_start ON calls (started_at);
CREATE INDEX IF NOT EXISTS calls_by_outcome ON calls (outcome, started_at);
CREATE TABLE IF NOT EXISTS events (
    call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    frame   INTEGER NOT NULL,
    seconds REAL NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
) WITHOUT ROWID;
"""

# Schema 2: the queue (callbacks, queue figures, seat states). Applied to new files and to schema-1 files.
_SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS callbacks (
    call_id    TEXT PRIMARY KEY,
    number     TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    reason     TEXT NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0,
    done_at    TEXT
);
CREATE INDEX IF NOT EXISTS callbacks_open ON callbacks (done, created_at);
CREATE TABLE IF NOT EXISTS queue_waits (
    call_id  TEXT NOT NULL,
    at       TEXT NOT NULL,
    skill    TEXT NOT NULL,
    waited_s REAL NOT NULL,
    outcome  TEXT NOT NULL,
    seat_id  TEXT
);
CREATE INDEX IF NOT EXISTS queue_waits_by_time ON queue_waits (at);
CREATE TABLE IF NOT EXISTS seat_rings (
    seat_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    at      TEXT NOT NULL,
    result  TEXT NOT NULL,
    rang_s  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS seat_rings_by_time ON seat_rings (at);
CREATE TABLE IF NOT EXISTS seat_talks (
    seat_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    at      TEXT NOT NULL,
    skill   TEXT NOT NULL,
    talk_s  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS seat_talks_by_time ON seat_talks (at);
CREATE TABLE IF NOT EXISTS seat_board (
    seat_id     TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    since       TEXT,
    call_id     TEXT,
    reason      TEXT,
    break_since TEXT,
    idle_since  TEXT
);
"""

# Schema 3: what the line and the console share (``ivr console``): calls in progress, console users and
# their sessions, reload requests, the line's own figures, and callback work (which seat, how it went).
_SCHEMA_3 = """
CREATE TABLE IF NOT EXISTS live_calls (
    call_id       TEXT PRIMARY KEY,
    caller        TEXT,
    flow          TEXT NOT NULL,
    state         TEXT NOT NULL,
    step          TEXT,
    seat_id       TEXT,
    intent        TEXT,
    heard         TEXT,
    path          TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    waiting_since TEXT,
    updated_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    seat_id       TEXT,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_sessions (
    token_hash TEXT PRIMARY KEY,
    name       TEXT NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_failed_sign_ins (
    name TEXT NOT NULL,
    at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_failed_sign_ins_by_name ON console_failed_sign_ins (name, at);
CREATE TABLE IF NOT EXISTS reload_requests (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    by       TEXT NOT NULL,
    what     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS line_status (
    key   TEXT PRIMARY KEY,
    value REAL NOT NULL,
    at    TEXT NOT NULL
);
ALTER TABLE callbacks ADD COLUMN seat_id TEXT;
ALTER TABLE callbacks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE callbacks ADD COLUMN last_result TEXT
"""

_TABLES = frozenset(
    {
        "calls",
        "events",
        "callbacks",
        "queue_waits",
        "seat_rings",
        "seat_talks",
        "seat_board",
        "live_calls",
        "console_users",
        "console_sessions",
        "console_failed_sign_ins",
        "reload_requests",
        "line_status",
        "sqlite_sequence",
    }
)

_SUMMARY_COLUMNS = (
    "call_id, flow, caller, started_at, answered_at, ended_at, duration_s, outcome, path, "
    "(SELECT count(*) FROM events e WHERE e.call_id = calls.call_id)"
)

CSV_HEADER = (
    "call_id",
    "flow",
    "caller",
    "started_at",
    "answered_at",
    "ended_at",
    "duration_s",
    "outcome",
    "path",
    "events",
)


@dataclass(frozen=True, slots=True)
class CallSummary:
    """One row of ``list_calls``: a call without its events."""

    call_id: str
    flow: str
    caller: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_s: float
    outcome: Outcome | None
    path: tuple[str, ...]
    events: int  # how many events the call has


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).isoformat(timespec="milliseconds")


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def answered_at(record: CallRecord) -> datetime | None:
    """Wall time the call was answered: arrival plus ``answered_frame`` frames."""
    if record.answered_frame is None:
        return None
    return _utc(record.started_at) + timedelta(seconds=seconds_of(record.answered_frame))


def ended_at(record: CallRecord) -> datetime | None:
    """Wall time the call ended: answer plus ``ended_frame`` frames (None if never answered)."""
    answered = answered_at(record)
    if answered is None or record.ended_frame is None:
        return None
    return answered + timedelta(seconds=seconds_of(record.ended_frame))


class CallRegister:
    """The register file. Safe to share between threads (one statement at a time).

    ``create=False`` opens only an existing file (``RegisterNotFoundError``
    otherwise): readers such as ``ivr calls`` never leave an empty file behind.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        synchronous: Literal["NORMAL", "FULL"] = "FULL",
    ) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise RegisterNotFoundError(f"no call register at {self.path}")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            self._open(synchronous)
        except BaseException:
            self._conn.close()
            raise

    def _open(self, synchronous: str) -> None:
        conn = self._conn
        try:
            version = self._user_version()
        except sqlite3.DatabaseError as exc:
            raise RegisterVersionError(f"{self.path} is not an ivr call register ({exc})") from exc
        if version > SCHEMA_VERSION:
            raise RegisterVersionError(
                f"{self.path} was written by a newer ivr (register schema {version}; "
                f"this ivr reads up to {SCHEMA_VERSION}): upgrade ivr to read it"
            )
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        if version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._user_version()  # another process may have created it meanwhile
            if version == 0:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables - _TABLES:
                    raise RegisterVersionError(
                        f"{self.path} is an SQLite file but not an ivr call register "
                        f"(it has tables {', '.join(sorted(tables))})"
                    )
                _apply(conn, _SCHEMA)
            if version < 2:
                _apply(conn, _SCHEMA_2)
            if version < 3:
                _apply(conn, _SCHEMA_3)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _user_version(self) -> int:
        row = self._conn.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    @property
    def journal_mode(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    # -- writing --------------------------------------------------------------

    def save(self, record: CallRecord) -> None:
        """Write ``record`` and its events in one committed transaction.

        Saving a call id again replaces the earlier row and events.
        """
        row = (
            record.call_id,
            record.flow,
            record.caller,
            _iso(record.started_at),
            _iso(answered_at(record)),
            _iso(ended_at(record)),
            record.answered_frame,
            record.ended_frame,
            record.duration_s,
            None if record.outcome is None else record.outcome.value,
            json.dumps(record.path, ensure_ascii=False),
        )
        events = [
            (
                record.call_id,
                seq,
                event.frame,
                event.seconds,
                event.kind.value,
                json.dumps(event.detail, ensure_ascii=False),
            )
            for seq, event in enumerate(record.events)
        ]
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM events WHERE call_id = ?", (record.call_id,))
                conn.execute("DELETE FROM calls WHERE call_id = ?", (record.call_id,))
                conn.execute("INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", events)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the connection in one committed transaction (rolled back if it raises)."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

    # -- reading --------------------------------------------------------------

    def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` (queries only) on the connection, one caller at a time."""
        with self._lock:
            return work(self._conn)

    def list_calls(
        self,
        limit: int | None = 50,
        outcome: Outcome | None = None,
        since: datetime | None = None,
    ) -> list[CallSummary]:
        """Calls newest first; only ``outcome`` ones, only those started at or after ``since``."""
        where: list[str] = []
        params: list[str | int] = []
        if outcome is not None:
            where.append("outcome = ?")
            params.append(outcome.value)
        if since is not None:
            where.append("started_at >= ?")
            params.append(_iso(since) or "")
        sql = f"SELECT {_SUMMARY_COLUMNS} FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, call_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_summary(row) for row in rows]

    def resolve(self, call_id: str) -> str | None:
        """The full id of the call named by ``call_id`` or a unique prefix of it."""
        with self._lock:
            exact = self._conn.execute("SELECT call_id FROM calls WHERE call_id = ?", (call_id,)).fetchone()
            if exact is not None:
                return str(exact[0])
            matches = [
                str(r[0])
                for r in self._conn.execute(
                    "SELECT call_id FROM calls WHERE substr(call_id, 1, ?) = ? ORDER BY call_id LIMIT 6",
                    (len(call_id), call_id),
                )
            ]
        if len(matches) > 1:
            raise AmbiguousCallIdError(call_id, matches)
        return matches[0] if matches else None

    def get(self, call_id: str) -> CallRecord | None:
        """The call with this id (or unique id prefix) and its events; None if there is none."""
        full_id = self.resolve(call_id)
        if full_id is None:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT call_id, flow, caller, started_at, answered_frame, ended_frame, outcome, path "
                "FROM calls WHERE call_id = ?",
                (full_id,),
            ).fetchone()
            event_rows = self._conn.execute(
                "SELECT frame, kind, detail FROM events WHERE call_id = ? ORDER BY seq", (full_id,)
            ).fetchall()
        if row is None:  # deleted between resolve and read
            return None
        events = [CallEvent(frame, EventKind(kind), _detail(detail)) for frame, kind, detail in event_rows]
        started = _parse_time(row[3])
        assert started is not None
        return CallRecord(
            call_id=row[0],
            flow=row[1],
            caller=row[2],
            started_at=started,
            answered_frame=row[4],
            ended_frame=row[5],
            outcome=None if row[6] is None else Outcome(row[6]),
            path=list(json.loads(row[7])),
            events=events,
        )

    def export_csv(self, stream: TextIO) -> int:
        """Write every call, oldest first, as CSV with a header row; returns the number of calls."""
        writer = csv.writer(stream)
        writer.writerow(CSV_HEADER)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM calls ORDER BY started_at, call_id"
            ).fetchall()
        writer.writerows(_csv_row(_summary(row)) for row in rows)
        return len(rows)

    # -- lifetime -------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> CallRegister:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _apply(conn: sqlite3.Connection, schema: str) -> None:
    for statement in schema.split(";"):
        if statement.strip():
            conn.execute(statement)


def iso(moment: datetime | None) -> str | None:
    """``moment`` as the register stores wall times: ISO-8601 UTC with milliseconds (naive means UTC)."""
    return _iso(moment)


def parse_time(text: str | None) -> datetime | None:
    return _parse_time(text)


def _detail(text: str) -> dict[str, Detail]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise RegisterError(f"event detail is not an object: {text[:40]!r}")
    return value


def _summary(row: Iterable[object]) -> CallSummary:
    call_id, flow, caller, started, answered, ended, duration, outcome, path, events = tuple(row)
    started_at = _parse_time(str(started))
    assert started_at is not None
    return CallSummary(
        call_id=str(call_id),
        flow=str(flow),
        caller=None if caller is None else str(caller),
        started_at=started_at,
        answered_at=_parse_time(None if answered is None else str(answered)),
        ended_at=_parse_time(None if ended is None else str(ended)),
        duration_s=float(str(duration)),
        outcome=None if outcome is None else Outcome(outcome),
        path=tuple(json.loads(str(path))),
        events=int(str(events)),
    )


def _csv_row(call: CallSummary) -> list[str]:
    return [
        call.call_id,
        call.flow,
        call.caller or "",
        _iso(call.started_at) or "",
        _iso(call.answered_at) or "",
        _iso(call.ended_at) or "",
        f"{call.duration_s:.2f}",
        "" if call.outcome is None else call.outcome.value,
        " > ".join(call.path),
        str(call.events),
    ]
