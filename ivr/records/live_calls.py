"""Calls in progress, as the line last reported them: what the console's wallboard and screen pop read.

The line keeps one row per call it is handling in ``live_calls``: who is
calling, the flow's step, the call's state (ringing, in the flow, waiting for
a seat, with a seat), the seat rung or talking, the last intent and words
heard, the path so far, and when the call arrived and began to wait. A row is
written on each change and deleted when the call ends.

``LiveCallBoard`` is the line's side: its methods are called on the media
tick and only queue a job on its own ``WriteQueue`` worker (bounded, never
blocks, drops counted); ``LiveCalls`` is the console's side, reading the
table. Caller numbers and words heard are caller data: never in a log.

Several lines may share the register (``[records] url``): each row carries
the line (``node``) that holds the call. A line starting clears its own rows
only; the rows of a line killed mid-call are cleared by the lines still alive
(``ivr.records.line_beats``: a line silent past the bound is lost).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from ivr.records.register import CallRegister, iso, parse_time
from ivr.records.store import Connection
from ivr.records.write_queue import QueuedWrites, WriteQueue

DEFAULT_MAXSIZE = 4096


class LiveState(Enum):
    RINGING = "ringing"  # the line has not answered yet
    IN_FLOW = "in_flow"  # the bot is talking with the caller
    WAITING = "waiting"  # waiting for a seat (a seat may be ringing for it)
    WITH_SEAT = "with_seat"  # put through


@dataclass(frozen=True, slots=True)
class LiveCall:
    """One call in progress, as the line reported it."""

    call_id: str
    caller: str | None
    flow: str
    state: LiveState
    started_at: datetime
    step: str | None = None
    seat_id: str | None = None  # the seat ringing for it (waiting) or talking with it
    intent: str | None = None
    heard: str | None = None
    path: tuple[str, ...] = field(default_factory=tuple)
    waiting_since: datetime | None = None
    node: str = ""  # the line holding the call (set by the line writing the row)


_COLUMNS = "call_id, caller, flow, state, step, seat_id, intent, heard, path, started_at, waiting_since, node"


def _row(call: LiveCall, at: datetime, node: str) -> tuple[object, ...]:
    return (
        call.call_id,
        call.caller,
        call.flow,
        call.state.value,
        call.step,
        call.seat_id,
        call.intent,
        call.heard,
        json.dumps(list(call.path), ensure_ascii=False),
        iso(call.started_at),
        iso(call.waiting_since),
        node,
        iso(at),
    )


def _call(row: tuple[object, ...]) -> LiveCall:
    call_id, caller, flow, state, step, seat_id, intent, heard, path, started, waiting, node = row
    started_at = parse_time(str(started))
    assert started_at is not None
    return LiveCall(
        call_id=str(call_id),
        caller=None if caller is None else str(caller),
        flow=str(flow),
        state=LiveState(state),
        started_at=started_at,
        step=None if step is None else str(step),
        seat_id=None if seat_id is None else str(seat_id),
        intent=None if intent is None else str(intent),
        heard=None if heard is None else str(heard),
        path=tuple(json.loads(str(path))),
        waiting_since=parse_time(None if waiting is None else str(waiting)),
        node=str(node),
    )


class LiveCalls:
    """The ``live_calls`` table of a register: written by the line ``node``, read by the console (every line's)."""

    def __init__(self, register: CallRegister, node: str = "") -> None:
        self.register = register
        self.node = node

    def put(self, call: LiveCall, at: datetime) -> None:
        """Write ``call`` as it is now; a seat already on the row stays when ``call`` names none (the queue
        rings seats on its own: ``seat`` sets and clears that)."""
        row = _row(call, at, self.node)

        def work(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO live_calls ({_COLUMNS}, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (call_id) DO UPDATE SET caller = excluded.caller, flow = excluded.flow, "
                "state = excluded.state, step = excluded.step, "
                "seat_id = coalesce(excluded.seat_id, live_calls.seat_id), intent = excluded.intent, "
                "heard = excluded.heard, path = excluded.path, started_at = excluded.started_at, "
                "waiting_since = excluded.waiting_since, node = excluded.node, updated_at = excluded.updated_at",
                row,
            )

        self.register.write(work)

    def seat(self, call_id: str, seat_id: str | None, state: LiveState | None, at: datetime) -> None:
        """The queue rang a seat for the call (``state`` None), or put the call through to it."""

        def work(conn: Connection) -> None:
            if state is None:
                conn.execute(
                    "UPDATE live_calls SET seat_id = ?, updated_at = ? WHERE call_id = ?",
                    (seat_id, iso(at), call_id),
                )
            else:
                conn.execute(
                    "UPDATE live_calls SET seat_id = ?, state = ?, updated_at = ? WHERE call_id = ?",
                    (seat_id, state.value, iso(at), call_id),
                )

        self.register.write(work)

    def remove(self, call_id: str) -> None:
        self.register.write(lambda conn: conn.execute("DELETE FROM live_calls WHERE call_id = ?", (call_id,)))

    def clear(self) -> None:
        """Forget this line's rows: a line starting has no calls in progress (rows it left when it died).

        The rows of other lines sharing the register stay: their calls go on.
        """
        self.register.write(lambda conn: conn.execute("DELETE FROM live_calls WHERE node = ?", (self.node,)))

    def all(self) -> list[LiveCall]:
        """Every call in progress, oldest first."""

        def work(conn: Connection) -> list[tuple[object, ...]]:
            return list(
                conn.execute(f"SELECT {_COLUMNS} FROM live_calls ORDER BY started_at, call_id").fetchall()
            )

        return [_call(row) for row in self.register.read(work)]

    def waiting(self) -> list[LiveCall]:
        """Callers waiting for a seat, first come first: position 1 is the next to be put through."""
        calls = [c for c in self.all() if c.state is LiveState.WAITING]
        return sorted(calls, key=lambda c: (c.waiting_since or c.started_at, c.call_id))

    def for_seat(self, seat_id: str) -> LiveCall | None:
        """The call ringing or talking at ``seat_id`` (the screen pop), if any."""
        return next((c for c in self.all() if c.seat_id == seat_id), None)


class LiveCallBoard(QueuedWrites):
    """The line's writer of the live table: every method queues a job and returns at once.

    The board takes over ``register`` (give it its own ``CallRegister`` on the
    register file). ``start()`` clears the line's own rows first (``node``):
    nothing is in progress on a line that has just started; other lines' rows
    stay. ``status`` (optional) is read on the worker after each write and
    stored in ``line_status`` under ``node`` (e.g. the register writer's
    queue depth), for ``/metrics``.
    """

    def __init__(
        self,
        register: CallRegister,
        wall_clock: Callable[[], datetime],
        *,
        node: str = "",
        status: Callable[[], dict[str, float]] | None = None,
        maxsize: int = DEFAULT_MAXSIZE,
    ) -> None:
        self.register = register
        self.node = node
        self.calls = LiveCalls(register, node)
        self._wall = wall_clock
        self._status = status
        self.jobs = WriteQueue(
            "live calls", "live call rows", register.where, maxsize=maxsize, thread_name="ivr-live-calls"
        )

    def start(self) -> None:
        self.calls.clear()
        super().start()

    def update(self, call: LiveCall) -> bool:
        """The call as it is now (answered, a new step, new words heard, waiting …)."""
        at = self._wall()
        return self._submit(f"live call {call.call_id[:8]}", lambda: self.calls.put(call, at))

    def seat_ringing(self, call_id: str, seat_id: str | None) -> bool:
        """A seat rings for the waiting caller (None: the ring stopped)."""
        at = self._wall()
        return self._submit(
            f"live call {call_id[:8]} ring", lambda: self.calls.seat(call_id, seat_id, None, at)
        )

    def put_through(self, call_id: str, seat_id: str) -> bool:
        at = self._wall()
        return self._submit(
            f"live call {call_id[:8]} seat",
            lambda: self.calls.seat(call_id, seat_id, LiveState.WITH_SEAT, at),
        )

    def ended(self, call_id: str) -> bool:
        return self._submit(f"live call {call_id[:8]} end", lambda: self.calls.remove(call_id))

    def _submit(self, label: str, job: Callable[[], None]) -> bool:
        status = self._status

        def work() -> None:
            job()
            if status is not None:
                LineStatus(self.register, self.node).put(status(), self._wall())

        return self.jobs.submit(label, work)


class LineStatus:
    """A few numbers each running line (``node``) leaves in the register for ``/metrics`` (queue depths)."""

    def __init__(self, register: CallRegister, node: str = "") -> None:
        self.register = register
        self.node = node

    def put(self, values: dict[str, float], at: datetime) -> None:
        rows = [(self.node, key, value, iso(at)) for key, value in values.items()]
        self.register.write(
            lambda conn: conn.executemany(
                "INSERT INTO line_status (node, key, value, at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (node, key) DO UPDATE SET value = excluded.value, at = excluded.at",
                rows,
            )
        )

    def by_node(self) -> dict[str, dict[str, float]]:
        """Each line's numbers, by line."""
        rows = self.register.read(
            lambda conn: conn.execute("SELECT node, key, value FROM line_status").fetchall()
        )
        out: dict[str, dict[str, float]] = {}
        for node, key, value in rows:
            out.setdefault(str(node), {})[str(key)] = float(value)
        return out

    def get(self) -> dict[str, float]:
        """The numbers added up over the lines sharing the register (a lost line's are cleared with it)."""
        total: dict[str, float] = {}
        for values in self.by_node().values():
            for key, value in values.items():
                total[key] = total.get(key, 0.0) + value
        return total
