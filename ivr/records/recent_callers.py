"""Who called lately, for repeat-caller rules (handbook line 141), kept in memory off the register.

Seeded from the register at start-up and updated as calls end, so that no
database read happens while a call is being answered. Lines sharing one
register (``[records] url``) learn of each other's calls by ``catch_up``:
the calls that ended in the register since the last look (a little before
it, so a call saved late is not missed), run by the line off the media tick.
A caller who rang line A is then a repeat caller on line B, and a call cut
off on A is apologised for on B.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from ivr.call.events import CallRecord, Outcome
from ivr.records.register import CallRegister, CallSummary

KEEP = timedelta(hours=2)
OVERLAP = timedelta(
    minutes=1
)  # each look reads back this far before the last: a call saved late still counts


class RecentCallers:
    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = now
        self._last_end: dict[str, datetime] = {}
        self._dropped_path: dict[str, list[str]] = {}  # where an abandoned call was, for line 141
        self._looked: datetime | None = None  # when ``catch_up`` last read the register
        self._lock = threading.Lock()

    def _now(self) -> datetime:
        return _utc(self._clock())  # naive means UTC, as the register stores it

    def seed(self, register: CallRegister) -> None:
        """What the register holds of the last two hours (a line starting)."""
        self.catch_up(register)

    def catch_up(self, register: CallRegister) -> None:
        """Take in the calls that ended in the register since the last look, this line's and others'."""
        now = self._now()
        since = now - KEEP if self._looked is None else max(now - KEEP, self._looked - OVERLAP)
        self._take(register.ended_since(since))
        self._looked = now

    def _take(self, calls: Iterable[CallSummary]) -> None:
        """The latest call of each number decides: when it ended, and whether it was cut off (line 141)."""
        with self._lock:
            for call in calls:
                if not call.caller or call.ended_at is None:
                    continue
                at = _utc(call.ended_at)
                known = self._last_end.get(call.caller)
                if known is not None and known >= at:
                    continue  # this line has it already (or a later call of the number)
                self._last_end[call.caller] = at
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
        at = _utc(at)
        with self._lock:
            if caller not in self._last_end or self._last_end[caller] < at:
                self._last_end[caller] = at

    def seconds_since_last_call(self, caller: str | None) -> float | None:
        if not caller:
            return None
        with self._lock:
            last = self._last_end.get(caller)
        return None if last is None else max(0.0, (self._now() - last).total_seconds())


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
