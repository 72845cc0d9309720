"""Reload requests: the console saved a flow or the prompt catalog; the running line takes it anew.

The console adds a request after a good save; the line polls ``latest()``
(and reads it on SIGHUP) and loads the files again when the id has grown.

A seat paused or resumed from the console page adds a request for
``SEAT_BREAKS``: the line then reads the seat board's breaks at once (not at
its next five-second look), and loads no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ivr.records.register import CallRegister, iso, parse_time

SEAT_BREAKS = "seat breaks"  # ``what`` of a request to read the seat board's breaks now


@dataclass(frozen=True, slots=True)
class ReloadRequest:
    id: int
    at: datetime
    by: str  # the console user who saved
    what: str  # the file saved, relative to the line's root


class ReloadRequests:
    def __init__(self, register: CallRegister) -> None:
        self.register = register

    def add(self, by: str, what: str, at: datetime) -> int:
        row = self.register.write(
            lambda conn: conn.execute(
                'INSERT INTO reload_requests (at, "by", what) VALUES (?, ?, ?) RETURNING id',
                (iso(at), by, what),
            ).fetchone()
        )
        return int(row[0])

    def since(self, seen: int) -> list[ReloadRequest]:
        """The requests added after the one numbered ``seen``, oldest first."""
        rows = self.register.read(
            lambda conn: conn.execute(
                'SELECT id, at, "by", what FROM reload_requests WHERE id > ? ORDER BY id', (seen,)
            ).fetchall()
        )
        return [_request(row) for row in rows]

    def latest(self) -> ReloadRequest | None:
        row = self.register.read(
            lambda conn: conn.execute(
                'SELECT id, at, "by", what FROM reload_requests ORDER BY id DESC LIMIT 1'
            ).fetchone()
        )
        return None if row is None else _request(row)


def _request(row: tuple[object, ...]) -> ReloadRequest:
    at = parse_time(str(row[1]))
    assert at is not None
    return ReloadRequest(int(str(row[0])), at, str(row[2]), str(row[3]))
