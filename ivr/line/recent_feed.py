"""Calls that other lines sharing the register ended, taken into this line's recent callers.

Several lines behind one dispatcher share one register (``[records] url``).
``RecentCallersFeed`` is one thread, owned by ``OpenLine`` (started and
closed with it), that once a second reads the calls ended since its last
look (``RecentCallers.catch_up``) — never on the media tick — so that a
caller who rang another line is a repeat caller here, and a call cut off
there is apologised for here (handbook line 141). A failed look is logged
and tried again at the next; the line goes on with what it knew.
"""

from __future__ import annotations

import logging
import threading

from ivr.records.recent_callers import RecentCallers
from ivr.records.register import CallRegister
from ivr.records.store import database_errors

log = logging.getLogger(__name__)

LOOK_S = 1.0


class RecentCallersFeed:
    def __init__(self, register: CallRegister, recent: RecentCallers, *, look_s: float = LOOK_S) -> None:
        self.register = register  # shared with its owner, who closes it
        self.recent = recent
        self._look_s = look_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.looks = 0  # looks made (the failed ones too)
        self.failures = 0

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the recent-callers feed is already started")
        self._thread = threading.Thread(target=self._run, name="ivr-recent-callers", daemon=False)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._look_s):
            try:
                self.recent.catch_up(self.register)
            except database_errors():
                self.failures += 1
                log.exception(
                    "reading the calls other lines ended failed; trying again in %.0f s", self._look_s
                )
            self.looks += 1
