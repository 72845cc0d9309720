"""Saving finished calls off the media path.

The media tick hands a finished ``CallRecord`` to ``RegisterWriter.submit``;
a ``WriteQueue`` (see there: bounded, never blocks the tick, drops are
counted, failures kept and raised at ``close()``) saves records in order,
each in its own transaction. A dropped record's call id is also kept in
``dropped_ids``. A separate "overflow" buffer was considered and rejected: a
second bound is only a bigger queue, and the question of what happens at the
last bound remains.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

from ivr.call.events import CallRecord
from ivr.records.register import CallRegister
from ivr.records.write_queue import WriteQueue

DEFAULT_MAXSIZE = 1024
_DROPPED_IDS_KEPT = 1000


class RegisterWriter:
    """The one worker that writes finished calls into a ``CallRegister``.

    The writer takes over ``register``: ``close()`` drains the queue, joins the
    worker and closes the register. Use it as a context manager, or call
    ``start()`` and ``close()`` yourself.
    """

    def __init__(self, register: CallRegister, *, maxsize: int = DEFAULT_MAXSIZE) -> None:
        self._register = register
        self.jobs = WriteQueue(
            "call register", "calls", register.path, maxsize=maxsize, thread_name="ivr-register-writer"
        )
        self.dropped_ids: deque[str] = deque(maxlen=_DROPPED_IDS_KEPT)

    @property
    def maxsize(self) -> int:
        return self.jobs.maxsize

    @property
    def pending(self) -> int:
        """Records accepted and not yet saved (or failed)."""
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

    def submit(self, record: CallRecord) -> bool:
        """Queue ``record`` for saving without waiting; False if it was dropped (queue full)."""
        saved = self.jobs.submit(f"call {record.call_id}", lambda: self._register.save(record))
        if not saved:
            self.dropped_ids.append(record.call_id)
        return saved

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record accepted so far is saved or failed; False on timeout."""
        return self.jobs.flush(timeout)

    def close(self) -> None:
        """Save what is queued, stop the worker, close the register; raise if any save failed."""
        try:
            self.jobs.close()
        finally:
            self._register.close()

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
