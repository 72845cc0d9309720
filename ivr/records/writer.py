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

from ivr.call.events import CallRecord
from ivr.records.register import CallRegister
from ivr.records.write_queue import QueuedWrites, WriteQueue

DEFAULT_MAXSIZE = 1024
_DROPPED_IDS_KEPT = 1000


class RegisterWriter(QueuedWrites):
    """The one worker that writes finished calls into a ``CallRegister``.

    The writer takes over ``register``: ``close()`` drains the queue, joins the
    worker and closes the register. Use it as a context manager, or call
    ``start()`` and ``close()`` yourself.
    """

    def __init__(
        self, register: CallRegister, *, node: str | None = None, maxsize: int = DEFAULT_MAXSIZE
    ) -> None:
        """``node``: the line's name, kept on each call it saves (lines sharing a register)."""
        self.register = register
        self.node = node
        self.jobs = WriteQueue(
            "call register", "calls", register.where, maxsize=maxsize, thread_name="ivr-register-writer"
        )
        self.dropped_ids: deque[str] = deque(maxlen=_DROPPED_IDS_KEPT)

    def submit(self, record: CallRecord) -> bool:
        """Queue ``record`` for saving without waiting; False if it was dropped (queue full)."""
        saved = self.jobs.submit(f"call {record.call_id}", lambda: self.register.save(record, self.node))
        if not saved:
            self.dropped_ids.append(record.call_id)
        return saved
