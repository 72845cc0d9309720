"""The running line's heartbeat in the shared register, and its clearing of what lost lines left.

``LineBeat`` is one thread, owned by ``OpenLine`` (started and closed with
it), that once a second (a bounded wait on its stop event, as
``RecentCallersFeed`` does) writes the line's beat and clears the calls in
progress of lines silent past the bound (``ivr.records.line_beats``) — never
on the media tick. ``start()`` beats once on the caller's thread first, so a
line is known to be alive before it writes a call in progress. A failed beat
is logged and tried again at the next; ``close()`` stops the thread and
takes the line's beat row away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from ivr.records.line_beats import BEAT_S, LOST_AFTER_S, LineBeats
from ivr.records.register import CallRegister
from ivr.records.store import database_errors

log = logging.getLogger(__name__)


class LineBeat:
    def __init__(
        self,
        register: CallRegister,
        node: str,
        wall_clock: Callable[[], datetime],
        *,
        beat_s: float = BEAT_S,
        lost_after_s: float = LOST_AFTER_S,
    ) -> None:
        """``register``: a register of its own, closed by ``close``."""
        if beat_s * 3 > lost_after_s:
            raise ValueError("a line must beat at least three times within the bound it is lost after")
        self.register = register
        self.beats = LineBeats(register, node, lost_after_s=lost_after_s)
        self._wall = wall_clock
        self._beat_s = beat_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0
        self.swept_calls = 0  # calls in progress of lost lines cleared by this line

    @property
    def node(self) -> str:
        return self.beats.node

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the line's beat is already started")
        self._beat()
        self._thread = threading.Thread(target=self._run, name="ivr-line-beat", daemon=False)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        try:
            if self._thread is not None:
                self._thread.join()
                self.beats.leave()
        finally:
            self.register.close()

    def _run(self) -> None:
        while not self._stop.wait(self._beat_s):
            try:
                self._beat()
            except database_errors():
                self.failures += 1
                log.exception("the line's beat failed; trying again in %.0f s", self._beat_s)

    def _beat(self) -> None:
        swept = self.beats.beat(self._wall())
        if swept.live_calls:
            self.swept_calls += swept.live_calls
            log.warning(
                "cleared %d calls in progress of lines silent for over %.0f s (their calls are lost)%s",
                swept.live_calls,
                self.beats.lost_after.total_seconds(),
                f"; {swept.seats} seats back to available" if swept.seats else "",
            )
