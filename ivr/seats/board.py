"""The seat board: every seat from the seats file with its state, kept in the register file.

The board is what survives a restart of the bot and what ``ivr seats`` shows
and changes from another process:

- a break (暂停服务) with its reason and the wall time it started (handbook
  lines 397–399); a break longer than 30 minutes raises an alert for the
  shift leader (``break_alerts``);
- ``idle_since``: when each seat last became free after work, so the queue's
  longest-idle order carries over a restart (``idle_order``);
- the live state the bot last reported (``record``), for ``ivr seats list``.

Times are wall times passed in by the caller (the CLI or the telephony edge);
nothing here reads the clock. The bot writes through ``record`` on a worker
(e.g. ``QueueLog.submit``), never on the media tick, and reads ``breaks()``
now and then to learn of pauses made with ``ivr seats pause``.
A seat on a break leaves it only by ``resume``: a state reported by the bot
while a break is recorded does not end the break.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ivr.errors import IvrError
from ivr.records.register import CallRegister, iso, parse_time
from ivr.records.store import Connection
from ivr.seats.directory import Seat, SeatsFile
from ivr.seats.state import SeatChanged, SeatState

BREAK_LIMIT = timedelta(minutes=30)  # handbook line 397: longer needs the person in charge told


class UnknownSeatError(IvrError):
    """No seat with that staff number in the seats file."""


@dataclass(frozen=True, slots=True)
class SeatRow:
    seat: Seat
    state: SeatState
    since: datetime | None  # when the seat entered ``state`` (None: never reported)
    reason: str | None = None  # the break's reason
    break_since: datetime | None = None
    idle_since: datetime | None = None
    call_id: str | None = None

    @property
    def on_break(self) -> bool:
        return self.state is SeatState.ON_BREAK


@dataclass(frozen=True, slots=True)
class BreakAlert:
    """A seat on a break for longer than the limit: the shift leader must know (line 397)."""

    seat_id: str
    name: str
    reason: str
    since: datetime
    minutes: int  # whole minutes on the break so far


_COLUMNS = "seat_id, state, since, call_id, reason, break_since, idle_since"


class SeatBoard:
    def __init__(self, seats: SeatsFile, register: CallRegister) -> None:
        self.seats = seats
        self.register = register
        self._by_id = {s.id: s for s in seats.seats}

    def seat(self, seat_id: str) -> Seat:
        try:
            return self._by_id[seat_id]
        except KeyError:
            known = ", ".join(self._by_id)
            raise UnknownSeatError(f"no seat {seat_id!r} in the seats file (seats: {known})") from None

    # -- reading --------------------------------------------------------------

    def list(self) -> builtins.list[SeatRow]:
        """Every seat in the seats file, in file order, with its recorded state (available if none)."""

        def work(conn: Connection) -> list[tuple[object, ...]]:
            return list(conn.execute(f"SELECT {_COLUMNS} FROM seat_board").fetchall())

        rows = {str(r[0]): r for r in self.register.read(work)}
        return [_row(seat, rows.get(seat.id)) for seat in self.seats.seats]

    def get(self, seat_id: str) -> SeatRow:
        seat = self.seat(seat_id)
        return next(r for r in self.list() if r.seat is seat)

    def breaks(self) -> dict[str, str]:
        """Seat id → reason, for every seat on a break (what ``SeatQueue.sync_breaks`` takes)."""
        return {r.seat.id: r.reason or "" for r in self.list() if r.on_break}

    def idle_order(self) -> builtins.list[str]:
        """Seat ids, longest idle first; seats never recorded idle come first, in file order."""
        rows = self.list()
        never = [r.seat.id for r in rows if r.idle_since is None]
        known = sorted((r.idle_since, n, r.seat.id) for n, r in enumerate(rows) if r.idle_since is not None)
        return never + [seat_id for _, _, seat_id in known]

    def break_alerts(self, now: datetime, limit: timedelta = BREAK_LIMIT) -> builtins.list[BreakAlert]:
        """Seats on a break for longer than ``limit`` at ``now``, longest first."""
        now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        out = []
        for r in self.list():
            if r.on_break and r.break_since is not None and now - r.break_since > limit:
                minutes = int((now - r.break_since).total_seconds() // 60)
                out.append(BreakAlert(r.seat.id, r.seat.name, r.reason or "", r.break_since, minutes))
        return sorted(out, key=lambda a: a.since)

    def shift_leaders(self) -> builtins.list[Seat]:
        return [s for s in self.seats.seats if s.role == "shift_leader"]

    # -- changing -------------------------------------------------------------

    def pause(self, seat_id: str, reason: str, at: datetime) -> SeatRow:
        """Put the seat on a break (暂停服务). Pausing a seat already on a break changes only the reason."""
        self.seat(seat_id)
        reason = reason.strip()
        if not reason:
            raise ValueError("a break needs a reason")
        when = iso(at)

        def work(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO seat_board ({_COLUMNS}) VALUES (?, 'on_break', ?, NULL, ?, ?, NULL) "
                "ON CONFLICT (seat_id) DO UPDATE SET reason = excluded.reason, "
                "since = CASE WHEN seat_board.state = 'on_break' THEN seat_board.since ELSE excluded.since END, "
                "break_since = CASE WHEN seat_board.state = 'on_break' THEN seat_board.break_since "
                "ELSE excluded.break_since END, "
                "state = 'on_break', call_id = NULL",
                (seat_id, when, reason, when),
            )

        self.register.write(work)
        return self.get(seat_id)

    def resume(self, seat_id: str, at: datetime) -> SeatRow:
        """End the seat's break: available, idle from ``at``. A seat not on a break is left as it is."""
        self.seat(seat_id)
        when = iso(at)

        def work(conn: Connection) -> None:
            conn.execute(
                "UPDATE seat_board SET state = 'available', since = ?, reason = NULL, break_since = NULL, "
                "idle_since = ?, call_id = NULL WHERE seat_id = ? AND state = 'on_break'",
                (when, when, seat_id),
            )

        self.register.write(work)
        return self.get(seat_id)

    def record(self, change: SeatChanged, at: datetime) -> None:
        """The bot's report of a seat's new state (a ``SeatChanged`` from the queue) at wall time ``at``.

        A break the queue started (too many rings unanswered) is recorded as a
        pause; any other state is ignored while the board has the seat on a break.
        """
        if change.seat_id not in self._by_id:
            return
        if change.state is SeatState.ON_BREAK:
            self.pause(change.seat_id, change.reason or "暂停服务", at)
            return
        when = iso(at)
        idle = when if change.idle_from_now else None

        def work(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO seat_board ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?) "
                "ON CONFLICT (seat_id) DO UPDATE SET state = excluded.state, since = excluded.since, "
                "call_id = excluded.call_id, reason = excluded.reason, "
                "idle_since = coalesce(excluded.idle_since, seat_board.idle_since) WHERE seat_board.state != 'on_break'",
                (change.seat_id, change.state.value, when, change.call_id, change.reason, idle),
            )

        self.register.write(work)


def _row(seat: Seat, row: tuple[object, ...] | None) -> SeatRow:
    if row is None:
        return SeatRow(seat, SeatState.AVAILABLE, None)
    _, state, since, call_id, reason, break_since, idle_since = row
    return SeatRow(
        seat=seat,
        state=SeatState(state),
        since=parse_time(None if since is None else str(since)),
        reason=None if reason is None else str(reason),
        break_since=parse_time(None if break_since is None else str(break_since)),
        idle_since=parse_time(None if idle_since is None else str(idle_since)),
        call_id=None if call_id is None else str(call_id),
    )
