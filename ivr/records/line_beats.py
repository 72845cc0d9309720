"""Which lines sharing a register are alive: each line's heartbeat, and the clearing of a lost line's rows.

Several lines behind one dispatcher share one register (``[records] url``),
each under its name (``[line] node``). Every line ``beat``\\ s once a second
(its row in ``line_beats``, the time by its wall clock). A line silent for
longer than ``lost_after_s`` is *lost* (killed with ``kill -9``, its machine
gone): its calls in progress are gone with it, so at each beat a live line
``sweep``\\ s what the lost lines left:

- their rows in ``live_calls`` (the wallboard and the screen pops would show
  callers long gone);
- the seat-board state of seats that were ringing or talking for those calls
  (back to available; a break stays a break);
- their figures in ``line_status`` (``/metrics`` adds up the live lines).

Their finished calls stay in the register: those were committed when they
ended. A line stopped the ordinary way (SIGTERM) ``leave``\\ s: its beat row
goes, and its calls have ended by then.

The ``line_beats`` table is the one the seat claims read (a claim of a line
silent past its lease is void), so one beat tells both. Times are wall times
passed in (nothing here reads a clock), stored as ISO-8601 UTC text that
compares as text; lines sharing a register keep their clocks in step (NTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ivr.records.register import CallRegister, iso, parse_time
from ivr.records.store import Connection

BEAT_S = 1.0  # how often a line beats (and looks for lost lines)
LOST_AFTER_S = 10.0  # a line silent this long is lost: its calls in progress are cleared by the others


def write_beat(conn: Connection, node: str, now: datetime) -> None:
    """``node`` is alive at ``now``: its row in ``line_beats``, in the caller's transaction. The one
    place a beat is written (the seat claims beat on each look too: a claim is void once its line's
    beat is older than the lease)."""
    conn.execute(
        "INSERT INTO line_beats (node, seen_at) VALUES (?, ?) "
        "ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at",
        (node, iso(now)),
    )


def alive_since(column: str) -> str:
    """SQL: ``column`` names a line that has beaten at or after the one parameter (``?``) it takes."""
    return f"{column} IN (SELECT node FROM line_beats WHERE seen_at >= ?)"


# the rows of other lines with no beat at or after the cut-off (a line never seen, too: rows from before names)
_LOST = f"node <> ? AND NOT {alive_since('node')}"


@dataclass(frozen=True, slots=True)
class Swept:
    """What one sweep cleared of lost lines."""

    live_calls: int = 0
    seats: int = 0


@dataclass(frozen=True, slots=True)
class LineSeen:
    node: str
    seen_at: datetime
    alive: bool


class LineBeats:
    """One line's (``node``'s) beat, and its look for lost lines. Every method is one transaction; the
    register belongs to the caller."""

    def __init__(self, register: CallRegister, node: str, *, lost_after_s: float = LOST_AFTER_S) -> None:
        if not node:
            raise ValueError("a line needs a name to beat")
        self.register = register
        self.node = node
        self.lost_after = timedelta(seconds=lost_after_s)

    def beat(self, now: datetime) -> Swept:
        """This line is alive at ``now``; what lines lost by ``now`` left is cleared in the same transaction."""

        def work(conn: Connection) -> Swept:
            write_beat(conn, self.node, now)
            return self._sweep(conn, now)

        return self.register.write(work)

    def _sweep(self, conn: Connection, now: datetime) -> Swept:
        lost = (self.node, iso(now - self.lost_after))
        seats = conn.execute(
            "UPDATE seat_board SET state = 'available', since = ?, call_id = NULL "
            "WHERE state IN ('ringing', 'talking', 'wrap_up') AND call_id IN "
            f"(SELECT call_id FROM live_calls WHERE {_LOST})",
            (iso(now), *lost),
        ).rowcount
        calls = conn.execute(f"DELETE FROM live_calls WHERE {_LOST}", lost).rowcount
        conn.execute(f"DELETE FROM line_status WHERE {_LOST}", lost)
        return Swept(live_calls=max(calls, 0), seats=max(seats, 0))

    def leave(self) -> None:
        """This line stops: its beat row goes (its calls have ended)."""
        self.register.write(lambda conn: conn.execute("DELETE FROM line_beats WHERE node = ?", (self.node,)))

    def lines(self, now: datetime) -> list[LineSeen]:
        """Every line that has beaten and not left, by name, and whether it is alive at ``now``."""
        rows = self.register.read(
            lambda conn: conn.execute("SELECT node, seen_at FROM line_beats ORDER BY node").fetchall()
        )
        now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        out = []
        for node, seen in rows:
            at = parse_time(str(seen))
            assert at is not None
            out.append(LineSeen(str(node), at, now - at <= self.lost_after))
        return out
