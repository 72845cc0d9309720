"""Tells the shift leaders about a break that runs past its limit, once per break (handbook line 397).

The running line checks now and then (on the queue log's worker, with the
wall time the edge passes in); ``ivr seats list`` shows the same alerts to
whoever looks. A break that ends and starts again is a new break and alerts
again; a restart of the bot tells once more about breaks still running.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from ivr.seats.board import BREAK_LIMIT, BreakAlert, SeatBoard
from ivr.seats.directory import Seat

Tell = Callable[[BreakAlert, Sequence[Seat]], object]


class LongBreakAlarm:
    def __init__(self, board: SeatBoard, tell: Tell, limit: timedelta = BREAK_LIMIT) -> None:
        self.board = board
        self.tell = tell
        self.limit = limit
        self._told: set[tuple[str, datetime]] = set()  # (seat, break start) already told

    def check(self, now: datetime) -> list[BreakAlert]:
        """Tell about the breaks newly past the limit at ``now``; returns them."""
        alerts = self.board.break_alerts(now, self.limit)
        new = [a for a in alerts if (a.seat_id, a.since) not in self._told]
        self._told = {(a.seat_id, a.since) for a in alerts}  # ended breaks are forgotten
        if new:
            leaders = self.board.shift_leaders()
            for alert in new:
                self.tell(alert, leaders)
        return new
