"""Who called lately, for repeat-caller rules (handbook line 141), kept in memory off the register.

Seeded from the register at start-up and updated as calls end, so that no
database read happens while a call is being answered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ivr.call.events import CallRecord, Outcome
from ivr.records.register import CallRegister

KEEP = timedelta(hours=2)
KEEP_FROM = datetime.min.replace(tzinfo=UTC)


class RecentCallers:
    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now
        self._last_end: dict[str, datetime] = {}
        self._dropped_path: dict[str, list[str]] = {}  # where an abandoned call was, for line 141
        self._lock = threading.Lock()

    def seed(self, register: CallRegister) -> None:
        calls = register.list_calls(limit=None, since=self._now() - KEEP)
        for call in sorted(
            (c for c in calls if c.caller and c.ended_at), key=lambda c: c.ended_at or KEEP_FROM
        ):
            assert call.caller is not None and call.ended_at is not None
            self._remember(call.caller, call.ended_at)
            with self._lock:  # the latest call decides: was it cut off (line 141)?
                if call.outcome is Outcome.ABANDONED:
                    self._dropped_path[call.caller] = list(call.path)
                else:
                    self._dropped_path.pop(call.caller, None)

    def ended(self, record: CallRecord) -> None:
        if record.caller:
            self._remember(record.caller, self._now())
            with self._lock:
                if record.outcome is Outcome.ABANDONED:
                    self._dropped_path[record.caller] = list(record.path)
                else:
                    self._dropped_path.pop(record.caller, None)

    def dropped_path(self, caller: str | None) -> list[str]:
        """The steps of this number's last call, if it was cut off before the business was done.

        Cut off: the line was lost or the caller hung up mid-step (outcome abandoned). A call that
        ended with a goodbye, a transfer or a callback leaves nothing: its caller rings back for
        something new and hears no dropped-call apology (line 141).
        """
        with self._lock:
            return list(self._dropped_path.get(caller or "", []))

    def _remember(self, caller: str, at: datetime) -> None:
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        with self._lock:
            if caller not in self._last_end or self._last_end[caller] < at:
                self._last_end[caller] = at

    def seconds_since_last_call(self, caller: str | None) -> float | None:
        if not caller:
            return None
        with self._lock:
            last = self._last_end.get(caller)
        return None if last is None else max(0.0, (self._now() - last).total_seconds())
