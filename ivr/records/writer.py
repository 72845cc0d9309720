"""Saving finished calls off the media path.

The media tick hands a finished ``CallRecord`` to ``RegisterWriter.submit``,
which only puts it on a bounded queue; one worker thread, started and stopped
by the writer's owner, saves records in order, each in its own transaction.

When the queue is full ``submit`` does not wait and does not grow memory: the
record is not saved, ``submit`` returns False, the call id is counted in
``dropped`` / ``dropped_ids`` and a warning (call ids only, never caller
data) is logged once per overflow, with a summary when the worker catches
up. A separate "overflow" buffer was considered and rejected: a second bound
is only a bigger queue, and the question of what happens at the last bound
remains. Blocking was rejected because one slow disk would then stall every
live call's audio. A full queue means the disk has been stuck for
``maxsize`` finished calls, which is the fault to report.

A failure to save is logged (with the call id) and kept: ``failed`` holds the
first exception, ``errors`` counts them, the worker goes on with the next
call, and ``close()`` raises ``RegisterWriteError`` from the first failure.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from types import TracebackType

from ivr.call.events import CallRecord
from ivr.records.errors import RegisterWriteError
from ivr.records.register import CallRegister

log = logging.getLogger(__name__)

DEFAULT_MAXSIZE = 1024
_DROPPED_IDS_KEPT = 1000


class RegisterWriter:
    """The one worker that writes finished calls into a ``CallRegister``.

    The writer takes over ``register``: ``close()`` drains the queue, joins the
    worker and closes the register. Use it as a context manager, or call
    ``start()`` and ``close()`` yourself.
    """

    def __init__(self, register: CallRegister, *, maxsize: int = DEFAULT_MAXSIZE) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._register = register
        self._queue: queue.Queue[CallRecord | None] = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None
        self._closed = False
        self._state = threading.Condition()
        self._overflowing = False
        self.accepted = 0  # records put on the queue
        self.written = 0  # records committed to the register
        self.errors = 0  # records whose save raised
        self.dropped = 0  # records refused because the queue was full
        self.dropped_ids: deque[str] = deque(maxlen=_DROPPED_IDS_KEPT)
        self.failed: BaseException | None = None  # the first save failure

    @property
    def maxsize(self) -> int:
        return self._queue.maxsize

    @property
    def pending(self) -> int:
        """Records accepted and not yet saved (or failed)."""
        with self._state:
            return self.accepted - self.written - self.errors

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("register writer already started")
        self._thread = threading.Thread(target=self._run, name="ivr-register-writer", daemon=False)
        self._thread.start()

    # -- the media side -------------------------------------------------------

    def submit(self, record: CallRecord) -> bool:
        """Queue ``record`` for saving without waiting; False if it was dropped (queue full)."""
        if self._closed or self._thread is None:
            raise RuntimeError("register writer is not running")
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            with self._state:
                self.dropped += 1
                self.dropped_ids.append(record.call_id)
                first = not self._overflowing
                self._overflowing = True
            if first:
                log.warning(
                    "call register queue full (%d calls waiting): call %s not saved; "
                    "further drops are counted until the writer catches up",
                    self._queue.maxsize,
                    record.call_id,
                )
            return False
        with self._state:
            self.accepted += 1
        return True

    # -- the owner's side -----------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record accepted so far is saved or failed; False on timeout."""
        with self._state:
            target = self.accepted
            return self._state.wait_for(lambda: self.written + self.errors >= target, timeout)

    def close(self) -> None:
        """Save what is queued, stop the worker, close the register; raise if any save failed."""
        if self._closed:
            return
        self._closed = True
        thread = self._thread
        if thread is not None:
            while thread.is_alive():
                try:
                    self._queue.put(None, timeout=0.5)  # not on the media path: waiting is fine here
                    break
                except queue.Full:
                    continue
            thread.join()
        self._register.close()
        if self.dropped:
            log.warning("call register writer closed: %d calls were not saved (queue full)", self.dropped)
        if self.failed is not None:
            raise RegisterWriteError(
                f"{self.errors} of {self.accepted} calls could not be saved to "
                f"{self._register.path}; first failure: {self.failed!r}"
            ) from self.failed

    def __enter__(self) -> RegisterWriter:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the worker -----------------------------------------------------------

    def _run(self) -> None:
        while True:
            record = self._queue.get()
            if record is None:
                return
            try:
                self._register.save(record)
            except Exception as exc:
                log.error("call register: saving call %s failed", record.call_id, exc_info=True)
                with self._state:
                    self.errors += 1
                    if self.failed is None:
                        self.failed = exc
                    self._state.notify_all()
                continue
            with self._state:
                self.written += 1
                caught_up = self._overflowing and self._queue.empty()
                if caught_up:
                    self._overflowing = False
                dropped = self.dropped
                self._state.notify_all()
            if caught_up:
                log.warning("call register writer caught up; %d calls not saved so far", dropped)
