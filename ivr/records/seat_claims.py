"""One queue across lines: which line holds each seat, and who waits on every line.

Several lines share one register (``[records] url``) and the same seats. A
line rings a seat only after it has *claimed* it here: ``claim`` is one
transaction that inserts the seat's row, or finds another line's row and
gets nothing, so no seat is ever rung for two callers. The line keeps the
claim while the seat rings, talks and wraps up for it, and ``release``\\ s it
when the seat is free again there.

A line's claims count only while the line is alive: every line ``beat``\\ s
(its row in ``line_beats``) and a claim or a waiting caller of a line whose
beat is older than ``lease_s`` is void — a line killed with ``kill -9``
gives its seats back to the others ``lease_s`` later, without a person.

A seat goes to the caller who has waited longest for its skill on any line: a
claim for one of this line's callers is refused while a caller on another live
line joined earlier for the same skill and has no seat claimed yet, so a newer
caller here never takes the seat the older one was told is theirs next. The
line that asked tries again after its next look, and claims regardless once
the other line has let the seat go by for a while (``ClaimedSeats``): a line
that is alive but never claims cannot keep a seat idle.

``waiting`` / ``left`` keep this line's waiting callers in ``waiting_callers``;
``look`` tells a line which seats other lines hold now and, for each of its
own waiting callers, how many callers on other lines joined earlier for the
same skill (their place in the one queue). "Earlier" is the register's own
order of the rows (``seq``), not the lines' clocks, which may differ a little.

On PostgreSQL a claim and a release also ``NOTIFY`` the ``ivr_seat_claims``
channel (sent when the transaction commits), so other lines look at once
(``ivr.records.claim_signals``). The SQL is the same on both back ends:
``INSERT … ON CONFLICT`` waits on PostgreSQL for a competing insert to commit,
and SQLite's ``BEGIN IMMEDIATE`` lets one writer in at a time.

Times are wall times passed in by the caller (nothing here reads a clock),
stored as the register stores them (ISO-8601 UTC, milliseconds), so they
compare as text. Lines sharing a register keep their clocks in step (NTP).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ivr.records.line_beats import alive_since, write_beat
from ivr.records.register import CallRegister, iso
from ivr.records.store import Connection, is_url

CHANNEL = "ivr_seat_claims"
LEASE_S = 10.0  # a line silent this long is taken for dead: its claims and waiting callers are void


@dataclass(frozen=True, slots=True)
class CrossLineView:
    """What a line learns from a look: seats held by other lines, and callers ahead of its own elsewhere."""

    busy: frozenset[str] = frozenset()  # seat ids other live lines hold
    ahead: Mapping[str, int] = field(default_factory=dict)  # own call id → earlier callers on other lines
    mine: Mapping[str, str] = field(default_factory=dict)  # seat id → call id: the claims this line holds


class SeatClaims:
    """One line's (``node``'s) claims and waiting callers in the shared register. Thread-safe as the
    register is; every method is one transaction. The register belongs to the caller."""

    def __init__(self, register: CallRegister, node: str, *, lease_s: float = LEASE_S) -> None:
        self.register = register
        self.node = node
        self.lease = timedelta(seconds=lease_s)
        self._notify = is_url(str(register.path))

    def beat(self, now: datetime) -> None:
        """This line is alive at ``now``."""
        self.register.write(lambda conn: write_beat(conn, self.node, now))

    def claim(self, seat_id: str, call_id: str, now: datetime, *, first_come: bool = True) -> bool:
        """Take ``seat_id`` for ``call_id``; False when another live line holds it or, ``first_come``,
        when a caller on another live line has waited longer for the same skill and is not being put
        through yet (that line takes the seat for them: the order callers are told holds across lines).

        A claim this line already holds is taken over for the new call; a dead line's is void.
        """

        def work(conn: Connection) -> bool:
            write_beat(conn, self.node, now)
            fresh = iso(now - self.lease)
            conn.execute(
                f"DELETE FROM seat_claims WHERE seat_id = ? AND node <> ? AND NOT {alive_since('node')}",
                (seat_id, self.node, fresh),
            )
            if first_come and self._waited_longer_elsewhere(conn, call_id, fresh):
                return False
            got = conn.execute(
                "INSERT INTO seat_claims (seat_id, node, call_id, claimed_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (seat_id) DO UPDATE SET call_id = excluded.call_id, "
                "claimed_at = excluded.claimed_at WHERE seat_claims.node = excluded.node",
                (seat_id, self.node, call_id, iso(now)),
            ).rowcount
            if got == 1:
                self._signal(conn, seat_id)
            return got == 1

        return self.register.write(work)

    def _waited_longer_elsewhere(self, conn: Connection, call_id: str, fresh: str | None) -> bool:
        """Whether a caller on another live line joined before ``call_id`` (this line's) for the same
        skill and has no seat claimed for them (one being rung is already on their way)."""
        row = conn.execute(
            "SELECT 1 FROM waiting_callers AS mine JOIN waiting_callers AS other "
            "ON other.skill = mine.skill AND other.node <> mine.node AND other.seq < mine.seq "
            f"WHERE mine.call_id = ? AND mine.node = ? AND {alive_since('other.node')} "
            "AND other.call_id NOT IN (SELECT call_id FROM seat_claims) LIMIT 1",
            (call_id, self.node, fresh),
        ).fetchone()
        return row is not None

    def release(self, seat_id: str, call_id: str) -> bool:
        """Give ``seat_id`` back (held for ``call_id``); False if this line did not hold it for that call."""

        def work(conn: Connection) -> bool:
            gone = conn.execute(
                "DELETE FROM seat_claims WHERE seat_id = ? AND node = ? AND call_id = ?",
                (seat_id, self.node, call_id),
            ).rowcount
            if gone:
                self._signal(conn, seat_id)
            return gone > 0

        return self.register.write(work)

    def holder(self, seat_id: str) -> tuple[str, str] | None:
        """The live claim on ``seat_id``: (node, call id), or None (for the console and tests)."""
        row = self.register.read(
            lambda conn: conn.execute(
                "SELECT node, call_id FROM seat_claims WHERE seat_id = ?", (seat_id,)
            ).fetchone()
        )
        return None if row is None else (str(row[0]), str(row[1]))

    def waiting(self, call_id: str, skill: str, joined_at: datetime) -> None:
        """A caller joined this line's queue for ``skill`` (now: the line beats too)."""

        def work(conn: Connection) -> None:
            write_beat(conn, self.node, joined_at)
            conn.execute(
                "INSERT INTO waiting_callers (call_id, node, skill, joined_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (call_id) DO NOTHING",
                (call_id, self.node, skill, iso(joined_at)),
            )

        self.register.write(work)

    def left(self, call_id: str) -> None:
        """The caller is no longer waiting here (put through, hung up, or given up)."""
        self.register.write(
            lambda conn: conn.execute(
                "DELETE FROM waiting_callers WHERE call_id = ? AND node = ?", (call_id, self.node)
            )
        )

    def look(self, now: datetime) -> CrossLineView:
        """Beat, clear away what dead lines left, and read what other lines hold and who waits there."""

        def work(conn: Connection) -> CrossLineView:
            write_beat(conn, self.node, now)
            fresh = iso(now - self.lease)
            conn.execute(f"DELETE FROM seat_claims WHERE NOT {alive_since('node')}", (fresh,))
            conn.execute(f"DELETE FROM waiting_callers WHERE NOT {alive_since('node')}", (fresh,))
            conn.execute("DELETE FROM line_beats WHERE seen_at < ?", (fresh,))
            busy: set[str] = set()
            mine: dict[str, str] = {}
            for seat_id, node, call_id in conn.execute("SELECT seat_id, node, call_id FROM seat_claims"):
                if node == self.node:
                    mine[str(seat_id)] = str(call_id)
                else:
                    busy.add(str(seat_id))
            ahead = {
                str(call_id): int(count)
                for call_id, count in conn.execute(
                    "SELECT mine.call_id, count(other.call_id) FROM waiting_callers AS mine "
                    "JOIN waiting_callers AS other ON other.skill = mine.skill AND other.node <> mine.node "
                    "AND other.seq < mine.seq WHERE mine.node = ? GROUP BY mine.call_id",
                    (self.node,),
                )
            }
            return CrossLineView(frozenset(busy), ahead, mine)

        return self.register.write(work)

    def forget(self) -> None:
        """The line stops: its claims, waiting callers and beat go (the others look at once)."""

        def work(conn: Connection) -> None:
            conn.execute("DELETE FROM seat_claims WHERE node = ?", (self.node,))
            conn.execute("DELETE FROM waiting_callers WHERE node = ?", (self.node,))
            conn.execute("DELETE FROM line_beats WHERE node = ?", (self.node,))
            self._signal(conn, "")

        self.register.write(work)

    def _signal(self, conn: Connection, seat_id: str) -> None:
        if self._notify:
            conn.execute("SELECT pg_notify(?, ?)", (CHANNEL, seat_id))
