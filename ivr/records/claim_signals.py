"""Word that a seat was claimed or released on another line, from PostgreSQL's LISTEN/NOTIFY.

``ClaimSignals`` holds one connection of its own (autocommit, outside the
register's pool) that LISTENs on ``ivr.records.seat_claims.CHANNEL``.
``wait(timeout)`` returns True as soon as a notification came (and takes
all that came with it), False when ``timeout`` passed without one. It is
used by one thread only, its owner's (``ivr.line.cross_line``), which
closes it after that thread has stopped.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ivr.records.errors import RegisterError
from ivr.records.seat_claims import CHANNEL
from ivr.records.store import shown

CONNECT_TIMEOUT_S = 10


class ClaimSignals:
    def __init__(self, url: str) -> None:
        try:
            self._conn: psycopg.Connection[Any] = psycopg.connect(
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
            self._conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            raise RegisterError(
                f"cannot listen for seat claims at {shown(url)}: {type(exc).__name__}"
            ) from None
        self.heard = 0  # notifications taken

    def wait(self, timeout: float) -> bool:
        """True when a claim or release was signalled within ``timeout`` seconds."""
        got = 0
        for _ in self._conn.notifies(timeout=timeout, stop_after=1):
            got += 1
        if got:
            for _ in self._conn.notifies(timeout=0):  # what came with it: one look covers them all
                got += 1
        self.heard += got
        return got > 0

    def close(self) -> None:
        self._conn.close()
