"""The call register: a row per finished call and a row per event, in the store the settings name.

The store is an SQLite file (``[records] path``, the default) or a
PostgreSQL database shared by several lines (``[records] url``); see
``ivr.records.store``. Every ``save`` is one committed transaction: once
``save`` returns, the call survives the process being killed. A
half-written call is never visible: its row and its events commit together
or not at all. The schema and its migrations are in ``ivr.records.schema``.

``read`` and ``write`` let the modules that own the other tables
(``ivr.records.callbacks``, ``ivr.records.queue_figures``,
``ivr.seats.board`` …) run their SQL, written once with ``?`` placeholders,
on either back end.

Wall times are stored as ISO-8601 UTC text with milliseconds (they sort as
text). The answer and end times are derived from the arrival time and media
frames, which are kept too, so a record read back is the record written.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO, TypeVar

from ivr.call.events import CallEvent, CallRecord, Detail, EventKind, Outcome
from ivr.media import seconds_of
from ivr.records.errors import (
    AmbiguousCallIdError,
    RegisterError,
)
from ivr.records.schema import SCHEMA_VERSION
from ivr.records.sqlite import SqliteStore
from ivr.records.store import Connection, Synchronous, open_store

__all__ = ["SCHEMA_VERSION", "CallRegister", "CallSummary", "answered_at", "ended_at", "iso", "parse_time"]

T = TypeVar("T")

_EVENTS_PER_INSERT = 500  # 3,000 parameters a statement: well inside SQLite's 32,766 and PostgreSQL's 65,535

_SUMMARY_COLUMNS = (
    "call_id, flow, caller, started_at, answered_at, ended_at, duration_s, outcome, path, "
    "(SELECT count(*) FROM events e WHERE e.call_id = calls.call_id), node"
)
_CALL_COLUMNS = (
    "call_id, flow, caller, started_at, answered_at, ended_at, answered_frame, ended_frame, duration_s, "
    "outcome, path, node"
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
    node: str | None = None  # the line that took it (``[line] node``); None: written before lines had names


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
    """The register: an SQLite file path or a PostgreSQL URL. Safe to share between threads.

    ``create=False`` opens only an existing register (``RegisterNotFoundError``
    otherwise): readers such as ``ivr calls`` never leave an empty file or tables behind.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        synchronous: Synchronous = "FULL",
    ) -> None:
        self.store = open_store(path, create=create, synchronous=synchronous)
        self.path: Path | str = self.store.target  # to open the same register again (a URL: never show it)
        self.where = self.store.where  # what messages show: the file, or the URL without its password

    @property
    def journal_mode(self) -> str:
        """The SQLite file's journal mode ("wal"); PostgreSQL has none."""
        return self.store.journal_mode if isinstance(self.store, SqliteStore) else ""

    # -- writing --------------------------------------------------------------

    def save(self, record: CallRecord, node: str | None = None) -> None:
        """Write ``record`` and its events in one committed transaction; ``node``: the line that took it.

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
            node,
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

        def work(conn: Connection) -> None:
            conn.execute("DELETE FROM events WHERE call_id = ?", (record.call_id,))
            conn.execute("DELETE FROM calls WHERE call_id = ?", (record.call_id,))
            conn.execute(
                f"INSERT INTO calls ({_CALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row
            )
            for start in range(0, len(events), _EVENTS_PER_INSERT):  # one round trip per 500 events
                chunk = events[start : start + _EVENTS_PER_INSERT]
                conn.execute(
                    "INSERT INTO events VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk)),
                    [value for event in chunk for value in event],
                )

        self.store.write(work)

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a connection in one committed transaction (rolled back if it raises)."""
        return self.store.write(work)

    # -- reading --------------------------------------------------------------

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` (queries only) on a connection."""
        return self.store.read(work)

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
        rows = self.store.read(lambda conn: conn.execute(sql, params).fetchall())
        return [_summary(row) for row in rows]

    def ended_since(self, since: datetime) -> list[CallSummary]:
        """Answered calls that ended at or after ``since`` (on any line sharing the register), oldest end first."""
        rows = self.store.read(
            lambda conn: conn.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM calls WHERE ended_at >= ? ORDER BY ended_at, call_id",
                (_iso(since),),
            ).fetchall()
        )
        return [_summary(row) for row in rows]

    def resolve(self, call_id: str) -> str | None:
        """The full id of the call named by ``call_id`` or a unique prefix of it."""

        def work(conn: Connection) -> list[str]:
            exact = conn.execute("SELECT call_id FROM calls WHERE call_id = ?", (call_id,)).fetchone()
            if exact is not None:
                return [str(exact[0])]
            return [
                str(r[0])
                for r in conn.execute(
                    "SELECT call_id FROM calls WHERE substr(call_id, 1, ?) = ? ORDER BY call_id LIMIT 6",
                    (len(call_id), call_id),
                )
            ]

        matches = self.store.read(work)
        if len(matches) > 1:
            raise AmbiguousCallIdError(call_id, matches)
        return matches[0] if matches else None

    def get(self, call_id: str) -> CallRecord | None:
        """The call with this id (or unique id prefix) and its events; None if there is none."""
        full_id = self.resolve(call_id)
        if full_id is None:
            return None

        def work(conn: Connection) -> tuple[Any, list[Any]]:
            row = conn.execute(
                "SELECT call_id, flow, caller, started_at, answered_frame, ended_frame, outcome, path "
                "FROM calls WHERE call_id = ?",
                (full_id,),
            ).fetchone()
            events = conn.execute(
                "SELECT frame, kind, detail FROM events WHERE call_id = ? ORDER BY seq", (full_id,)
            ).fetchall()
            return row, events

        row, event_rows = self.store.read(work)
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
        rows = self.store.read(
            lambda conn: conn.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM calls ORDER BY started_at, call_id"
            ).fetchall()
        )
        writer.writerows(_csv_row(_summary(row)) for row in rows)
        return len(rows)

    # -- lifetime -------------------------------------------------------------

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> CallRegister:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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
    call_id, flow, caller, started, answered, ended, duration, outcome, path, events, node = tuple(row)
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
        node=None if node is None else str(node),
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
