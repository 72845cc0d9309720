"""One worker that runs register writes in order, off the media path.

The media tick hands a write (a ``job``: a function that writes one thing) to
``WriteQueue.submit``, which only puts it on a bounded queue; one worker
thread, started and stopped by the queue's owner, runs the jobs in order.

When the queue is full ``submit`` does not wait and does not grow memory: the
job is not run, ``submit`` returns False, it is counted in ``dropped`` and a
warning (the job's label: ids only, never caller data) is logged once per
overflow. Blocking was rejected because one slow disk would then stall every
live call's audio; a full queue means the disk has been stuck for ``maxsize``
writes, which is the fault to report.

A job that raises is logged with its label and kept: ``failed`` holds the
first exception, ``errors`` counts them, the worker goes on with the next job,
and ``close()`` raises ``RegisterWriteError`` from the first failure.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

from ivr.records.errors import RegisterWriteError
from ivr.records.register import CallRegister

log = logging.getLogger(__name__)

Job = Callable[[], object]


class WriteQueue:
    """A bounded queue of writes and the one thread that runs them; owned and closed by its owner.

    ``what`` names the queue in messages ("call register", "queue log"), ``items``
    what its jobs write ("calls", "queue rows"); ``path`` is the file the jobs
    write, for the error that ``close()`` raises.
    """

    def __init__(self, what: str, items: str, path: object, *, maxsize: int, thread_name: str) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.what = what
        self.items = items
        self.path = path
        self.thread_name = thread_name
        self._queue: queue.Queue[tuple[str, Job] | None] = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None
        self._closed = False
        self._state = threading.Condition()
        self.overflowing = False  # a job was dropped and the worker has not caught up since
        self.accepted = 0  # jobs put on the queue
        self.written = 0  # jobs that ran to the end
        self.errors = 0  # jobs that raised
        self.dropped = 0  # jobs refused because the queue was full
        self.failed: BaseException | None = None  # the first failure

    @property
    def maxsize(self) -> int:
        return self._queue.maxsize

    @property
    def pending(self) -> int:
        """Jobs accepted and not yet run (or failed)."""
        with self._state:
            return self.accepted - self.written - self.errors

    # -- the media side -------------------------------------------------------

    def submit(self, label: str, job: Job) -> bool:
        """Queue ``job`` without waiting; False if it was dropped (queue full).

        ``label`` names the job in log messages: ids only, never caller data.
        """
        if self._closed or self._thread is None:
            raise RuntimeError(f"the {self.what} is not running")
        try:
            self._queue.put_nowait((label, job))
        except queue.Full:
            with self._state:
                self.dropped += 1
                first = not self.overflowing
                self.overflowing = True
            if first:
                log.warning(
                    "%s queue full (%d waiting): %s not written; further drops are counted "
                    "until the worker catches up",
                    self.what,
                    self._queue.maxsize,
                    label,
                )
            return False
        with self._state:
            self.accepted += 1
        return True

    # -- the owner's side -----------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"the {self.what} is already started")
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=False)
        self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every job accepted so far has run or failed; False on timeout."""
        with self._state:
            target = self.accepted
            return self._state.wait_for(lambda: self.written + self.errors >= target, timeout)

    def close(self) -> None:
        """Run what is queued, stop the worker; raise if any job failed. Closing twice is a no-op."""
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
        if self.dropped:
            log.warning("%s closed: %d %s not written (queue full)", self.what, self.dropped, self.items)
        if self.failed is not None:
            raise RegisterWriteError(
                f"{self.errors} of {self.accepted} {self.items} could not be written to "
                f"{self.path}; first failure: {self.failed!r}"
            ) from self.failed

    # -- the worker -----------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            label, job = item
            try:
                job()
            except Exception as exc:
                log.error("%s: writing the %s failed", self.what, label, exc_info=True)
                with self._state:
                    self.errors += 1
                    if self.failed is None:
                        self.failed = exc
                    self._state.notify_all()
                continue
            with self._state:
                self.written += 1
                caught_up = self.overflowing and self._queue.empty()
                if caught_up:
                    self.overflowing = False
                dropped = self.dropped
                self._state.notify_all()
            if caught_up:
                log.warning("%s caught up: %d %s not written so far", self.what, dropped, self.items)


class QueuedWrites:
    """What an owner of a ``WriteQueue`` and of the register it writes shows its own owner.

    Subclasses set ``jobs`` and ``register``; the
    counters read through to the queue, and ``close()`` drains it, then closes
    the register, then raises what failed.
    """

    jobs: WriteQueue
    register: CallRegister

    @property
    def maxsize(self) -> int:
        return self.jobs.maxsize

    @property
    def pending(self) -> int:
        return self.jobs.pending

    @property
    def accepted(self) -> int:
        return self.jobs.accepted

    @property
    def written(self) -> int:
        return self.jobs.written

    @property
    def errors(self) -> int:
        return self.jobs.errors

    @property
    def dropped(self) -> int:
        return self.jobs.dropped

    @property
    def failed(self) -> BaseException | None:
        return self.jobs.failed

    def start(self) -> None:
        self.jobs.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every write accepted so far has been made or failed; False on timeout."""
        return self.jobs.flush(timeout)

    def close(self) -> None:
        """Make what is queued, stop the worker, close the register; raise if any write failed."""
        try:
            self.jobs.close()
        finally:
            self.register.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
