"""Callback tickets (handbook lines 4, 34, 136): a caller nobody could take is promised a call back.

A ticket is taken when no seat is free within the maximum wait, or outside
desk hours, after the caller confirmed their caller-ID number or keyed in
another. ``ivr calls callbacks`` lists the open ones; an admin marks a ticket
done once the call back was made. The number is caller data: it is shown to
admins, never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from ivr.records.register import CallRegister, iso, parse_time
from ivr.records.store import Connection


class CallbackSource(Enum):
    CALLER_ID = "caller_id"  # the caller confirmed the number they rang from
    KEYED = "keyed"  # the caller keyed in another number


@dataclass(frozen=True, slots=True)
class CallbackTicket:
    call_id: str
    number: str
    source: CallbackSource
    created_at: datetime  # wall time, passed in (UTC if naive)
    reason: str  # why: max_wait, after_hours, no_seat, fault …
    done: bool = False
    done_at: datetime | None = None


_COLUMNS = "call_id, number, source, created_at, reason, done, done_at"


def _ticket(row: tuple[object, ...]) -> CallbackTicket:
    call_id, number, source, created, reason, done, done_at = row
    created_at = parse_time(str(created))
    assert created_at is not None
    return CallbackTicket(
        call_id=str(call_id),
        number=str(number),
        source=CallbackSource(source),
        created_at=created_at,
        reason=str(reason),
        done=bool(done),
        done_at=parse_time(None if done_at is None else str(done_at)),
    )


class CallbackBook:
    """The callback tickets in a register file."""

    def __init__(self, register: CallRegister) -> None:
        self.register = register

    def add(self, ticket: CallbackTicket) -> None:
        """Store ``ticket``; a second ticket for the same call replaces the first."""
        if not ticket.number:
            raise ValueError("a callback ticket needs a number")
        row = (
            ticket.call_id,
            ticket.number,
            ticket.source.value,
            iso(ticket.created_at),
            ticket.reason,
            int(ticket.done),
            iso(ticket.done_at),
        )

        def work(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO callbacks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (call_id) DO UPDATE SET number = excluded.number, source = excluded.source, "
                "created_at = excluded.created_at, reason = excluded.reason, done = excluded.done, "
                "done_at = excluded.done_at, seat_id = NULL, attempts = 0, last_result = NULL",
                row,
            )

        self.register.write(work)

    def get(self, call_id: str) -> CallbackTicket | None:
        def work(conn: Connection) -> tuple[object, ...] | None:
            row: tuple[object, ...] | None = conn.execute(
                f"SELECT {_COLUMNS} FROM callbacks WHERE call_id = ?", (call_id,)
            ).fetchone()
            return row

        row = self.register.read(work)
        return None if row is None else _ticket(row)

    def tickets(self, *, open_only: bool = True, limit: int | None = None) -> list[CallbackTicket]:
        """Tickets oldest first (the first promised is the first to call back)."""
        sql = f"SELECT {_COLUMNS} FROM callbacks"
        if open_only:
            sql += " WHERE done = 0"
        sql += " ORDER BY created_at, call_id"
        params: tuple[int, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)

        def work(conn: Connection) -> list[tuple[object, ...]]:
            return list(conn.execute(sql, params).fetchall())

        return [_ticket(row) for row in self.register.read(work)]

    def mark_done(self, call_id: str, at: datetime) -> bool:
        """Close the open ticket for ``call_id`` (or a unique prefix of it); False if there is none."""

        def work(conn: Connection) -> int:
            open_ids = "SELECT call_id FROM callbacks WHERE done = 0 AND "
            if conn.execute(open_ids + "call_id = ?", (call_id,)).fetchone() is not None:
                target = call_id
            else:
                ids = conn.execute(open_ids + "substr(call_id, 1, ?) = ? LIMIT 2", (len(call_id), call_id))
                matches = [str(r[0]) for r in ids]
                if len(matches) != 1:
                    return 0
                target = matches[0]
            cursor = conn.execute(
                "UPDATE callbacks SET done = 1, done_at = ? WHERE call_id = ?", (iso(at), target)
            )
            return cursor.rowcount

        return self.register.write(work) == 1
