"""The running line's side of the console: the live table it keeps, and the reloads the console asks for.

- ``live_feed``/``queue_feed`` turn what the line reports on the tick (a
  call's progress, the queue's actions) into ``LiveCallBoard`` jobs: queued,
  never waited for.
- ``ReloadWatch`` is one thread, owned by ``OpenLine`` (started and closed
  with it), that looks for a new reload request in the register ten times
  a second, and at once on ``wake()`` (SIGHUP), and calls ``reload``.
  A reload that fails keeps the flow the line has: it is logged, never raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ivr.errors import IvrError
from ivr.line.call_progress import CallProgress
from ivr.records.live_calls import LiveCall, LiveCallBoard, LiveState
from ivr.records.register import CallRegister
from ivr.records.reload_requests import SEAT_BREAKS, ReloadRequests
from ivr.records.store import database_errors
from ivr.seats.queue import Connected, QueueAction, Ring, SeatMissed, StopRinging

log = logging.getLogger(__name__)

POLL_S = 0.1  # a look at the newest request id: an indexed read of one row


def live_feed(board: LiveCallBoard) -> Callable[[CallProgress], None]:
    def tell(progress: CallProgress) -> None:
        if progress.ended:
            board.ended(progress.call_id)
            return
        board.update(
            LiveCall(
                call_id=progress.call_id,
                caller=progress.caller,
                flow=progress.flow,
                state=LiveState(progress.state),
                started_at=progress.arrived,
                step=progress.step,
                seat_id=progress.seat,
                intent=progress.intent,
                heard=progress.heard,
                path=progress.path,
                waiting_since=progress.waiting_since,
            )
        )

    return tell


def queue_feed(board: LiveCallBoard) -> Callable[[QueueAction], None]:
    """The seat ringing for a waiting caller (the agent's screen pop), and the seat it was put through to."""

    def take(action: QueueAction) -> None:
        if isinstance(action, Ring):
            board.seat_ringing(action.call_id, action.seat_id)
        elif isinstance(action, StopRinging | SeatMissed):
            board.seat_ringing(action.call_id, None)
        elif isinstance(action, Connected):
            board.put_through(action.call_id, action.seat_id)

    return take


class ReloadWatch:
    """Calls ``reload(what)`` when the console has asked for one since the line started (or since the last).

    A request for ``SEAT_BREAKS`` (a seat paused or resumed on its page) calls ``breaks()`` instead: the
    line reads the board's breaks now rather than at its next look.
    """

    def __init__(
        self,
        register: CallRegister,
        reload: Callable[[str], object],
        *,
        breaks: Callable[[], object] | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self.requests = ReloadRequests(register)
        self.register = register
        self._reload = reload
        self._breaks = breaks
        self._poll_s = poll_s
        latest = self.requests.latest()
        self.seen = 0 if latest is None else latest.id  # what was asked before the line started is done
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ivr-reload-watch", daemon=False)
        self._thread.start()

    def wake(self) -> None:
        """Look now (SIGHUP): a request is taken, and without one the files are read again all the same."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.register.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self._poll_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                asked = self.requests.since(self.seen)
            except database_errors():
                log.exception("reading reload requests failed; trying again")
                continue
            if asked:
                self.seen = asked[-1].id
            saved = [r for r in asked if r.what != SEAT_BREAKS]
            if len(saved) < len(asked) and self._breaks is not None:
                self._breaks()
            if saved:
                self._take(f"{saved[-1].what} saved in the console by {saved[-1].by}")
            elif woken:
                self._take("SIGHUP")

    def _take(self, why: str) -> None:
        try:
            self._reload(why)
        except (IvrError, OSError, ValueError) as exc:
            log.error("reload (%s) refused; the line keeps its flow: %s", why, exc)
