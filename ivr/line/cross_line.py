"""One queue across lines, for the running line: its seat claims and waiting callers in the shared register.

Several lines behind one dispatcher share one PostgreSQL register and the
same seats. ``CrossLine`` is owned by ``OpenLine`` (started and closed with
it) and has two threads, each stopped by ``close``:

- a worker (``WriteQueue``) that makes the writes the media tick asks for, in
  order: ``claim`` a seat before ringing it, ``release`` it when it is free
  again here, a caller ``joined`` or ``left`` this line's queue. A claim's
  answer (won, or held by another line) comes back to the tick through
  ``answers()``, the way callback tickets do (``call_tickets``);
- a watch that looks at the register (``SeatClaims.look``: this line's beat,
  the seats other lines hold, the callers waiting there) once every
  ``look_s`` and at once when PostgreSQL says a seat was claimed or released
  (LISTEN/NOTIFY, ``ClaimSignals``); on SQLite, which has no notifications, it
  only looks every ``look_s`` (a bounded wait on the stop event, as
  ``RecentCallersFeed`` does). The tick takes the latest look with ``view()``.

Nothing here blocks the tick: ``claim``, ``release``, ``joined`` and ``left``
only queue a job; a full queue answers a claim "not won" at once (the caller
keeps its place and the seat is tried again after the next look). A failed
look is logged and tried again; a failed write is the worker's to log and count.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import uuid4

from ivr.records.register import CallRegister
from ivr.records.seat_claims import LEASE_S, CrossLineView, SeatClaims
from ivr.records.store import database_errors, is_url
from ivr.records.write_queue import WriteQueue

if TYPE_CHECKING:
    from ivr.records.claim_signals import ClaimSignals

log = logging.getLogger(__name__)

LOOK_S = 1.0  # a look without a signal: the beat, and a late word of seats other lines took
MAXSIZE = 1024

ClaimAnswer = tuple[str, str, bool]  # seat id, call id, won


def node_name() -> str:
    """This line's name among the lines sharing a register: host, process, and a random tail."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid4().hex[:6]}"


class CrossLine:
    def __init__(
        self,
        register: CallRegister,
        wall_clock: Callable[[], datetime],
        *,
        node: str | None = None,
        look_s: float = LOOK_S,
        lease_s: float = LEASE_S,
        maxsize: int = MAXSIZE,
    ) -> None:
        """``register``: a register of its own, closed by ``close``."""
        if look_s * 3 > lease_s:
            raise ValueError("a line must look at least three times within the lease")
        self.register = register
        self.claims = SeatClaims(register, node or node_name(), lease_s=lease_s)
        self._wall = wall_clock
        self._look_s = look_s
        self.jobs = WriteQueue(
            "seat claims", "claims", register.where, maxsize=maxsize, thread_name="ivr-seat-claims"
        )
        self._answers: deque[ClaimAnswer] = deque()  # appended by the worker, taken by the tick
        self._view: CrossLineView | None = None  # the latest look, not yet taken by the tick
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.looks = 0  # looks made (the failed ones too)
        self.failures = 0
        self.signals_heard = 0

    @property
    def node(self) -> str:
        return self.claims.node

    # -- the tick's side --------------------------------------------------------------

    def claim(self, seat_id: str, call_id: str, *, first_come: bool = True) -> None:
        """Claim ``seat_id`` for ``call_id`` (``first_come``: not while a caller who came earlier waits
        on another line, see ``SeatClaims.claim``); the answer comes back through ``answers()``."""

        def work() -> None:
            try:
                won = self.claims.claim(seat_id, call_id, self._wall(), first_come=first_come)
            except Exception:
                self._answers.append((seat_id, call_id, False))
                raise  # the worker logs and counts it
            self._answers.append((seat_id, call_id, won))

        if not self.jobs.submit(f"claim of seat {seat_id}", work):
            self._answers.append((seat_id, call_id, False))

    def release(self, seat_id: str, call_id: str) -> None:
        self.jobs.submit(f"release of seat {seat_id}", lambda: self.claims.release(seat_id, call_id))

    def joined(self, call_id: str, skill: str) -> None:
        self.jobs.submit(
            f"waiting call {call_id[:8]}", lambda: self.claims.waiting(call_id, skill, self._wall())
        )

    def left(self, call_id: str) -> None:
        self.jobs.submit(f"call {call_id[:8]} done waiting", lambda: self.claims.left(call_id))

    def answers(self) -> list[ClaimAnswer]:
        out: list[ClaimAnswer] = []
        while self._answers:
            out.append(self._answers.popleft())
        return out

    def view(self) -> CrossLineView | None:
        """The latest look at the other lines, once (None when there was no new one)."""
        with self._lock:
            view, self._view = self._view, None
        return view

    # -- the owner's side -------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the cross-line watch is already started")
        self.jobs.start()
        self._thread = threading.Thread(target=self._watch, name="ivr-cross-line", daemon=False)
        self._thread.start()

    def close(self) -> None:
        """Make the queued writes, give back this line's claims and callers, stop both threads.

        Raises ``RegisterWriteError`` when a write had failed (see ``WriteQueue``).
        """
        self._stop.set()
        try:
            self.jobs.close()
        finally:
            try:
                self.claims.forget()  # on PostgreSQL its signal also wakes this line's watch
            except database_errors():
                log.exception("giving back this line's seat claims failed: other lines wait out the lease")
            finally:
                if self._thread is not None:
                    self._thread.join()
                self.register.close()

    # -- the watch ---------------------------------------------------------------------

    def _watch(self) -> None:
        signals = self._listen()
        try:
            while not self._stop.is_set():
                try:
                    view = self.claims.look(self._wall())
                except database_errors():
                    self.failures += 1
                    log.exception(
                        "looking at other lines' seats failed; trying again in %.0f s", self._look_s
                    )
                else:
                    with self._lock:
                        self._view = view
                self.looks += 1
                if signals is None:
                    self._stop.wait(self._look_s)
                    continue
                try:
                    if signals.wait(self._look_s):
                        self.signals_heard += 1
                except database_errors():
                    log.exception(
                        "listening for seat claims failed: looking every %.0f s instead", self._look_s
                    )
                    signals.close()
                    signals = None
        finally:
            if signals is not None:
                signals.close()

    def _listen(self) -> ClaimSignals | None:
        if not is_url(str(self.register.path)):
            return None  # SQLite: no notifications, a look every look_s
        from ivr.records.claim_signals import ClaimSignals

        try:
            return ClaimSignals(str(self.register.path))
        except database_errors():
            log.exception("cannot listen for seat claims: looking every %.0f s instead", self._look_s)
            return None
