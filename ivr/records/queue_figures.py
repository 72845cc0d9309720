"""Queue figures: how long callers waited for a seat, and how the seats answered.

Three kinds of rows, each stamped with the wall time it happened (passed in
by the telephony edge; nothing here reads the clock):

- a *wait* per caller who queued: answered (put through to a seat), abandoned
  (hung up while waiting) or given up (the maximum wait passed: callback offer);
- a *ring* per seat that was rung: answered, no answer, rejected, unreachable,
  or hung up during the whisper;
- a *talk* per call a seat finished, with its talk time.

``QueueFigures.summary`` turns them into the figures ``ivr calls stats``
prints: the service level (answered within N s of all callers who queued),
abandoned callers and how long they had waited, the average wait, and per
seat how many calls were handled and how many rings went unanswered.

``QueueLog`` is the one worker that writes these rows (and callback tickets,
and any other small job such as a seat-state change) off the media path.
Like ``RegisterWriter`` it never blocks the tick: ``record_*`` put a job on a
bounded queue and return at once; a full queue drops the row and counts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from ivr.records.callbacks import CallbackBook, CallbackTicket
from ivr.records.register import CallRegister, iso, parse_time
from ivr.records.store import Connection
from ivr.records.write_queue import Job, QueuedWrites, WriteQueue

DEFAULT_SERVICE_S = 20.0
DEFAULT_MAXSIZE = 4096


class WaitOutcome(Enum):
    ANSWERED = "answered"  # put through to a seat
    ABANDONED = "abandoned"  # the caller hung up while waiting
    GAVE_UP = "gave_up"  # the maximum wait passed: the callback offer


class RingResult(Enum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"
    WHISPER_HANGUP = "whisper_hangup"


@dataclass(frozen=True, slots=True)
class WaitRow:
    call_id: str
    at: datetime
    skill: str
    waited_s: float
    outcome: WaitOutcome
    seat_id: str | None = None


@dataclass(frozen=True, slots=True)
class RingRow:
    seat_id: str
    call_id: str
    at: datetime
    result: RingResult
    rang_s: float


@dataclass(frozen=True, slots=True)
class TalkRow:
    seat_id: str
    call_id: str
    at: datetime
    skill: str
    talk_s: float


QueueRow = WaitRow | RingRow | TalkRow


@dataclass(frozen=True, slots=True)
class SeatFigures:
    seat_id: str
    handled: int
    no_answer: int
    rejected: int
    unreachable: int
    whisper_hangups: int
    mean_talk_s: float | None


@dataclass(frozen=True, slots=True)
class QueueSummary:
    service_s: float  # the service-level threshold
    queued: int  # callers who waited for a seat (answered + abandoned + gave_up)
    answered: int
    answered_within: int  # answered within service_s
    abandoned: int
    gave_up: int
    mean_wait_s: float | None  # of answered callers (ASA)
    mean_wait_all_s: float | None  # of every caller who queued
    longest_wait_s: float | None
    abandoned_mean_wait_s: float | None
    abandoned_max_wait_s: float | None
    seats: tuple[SeatFigures, ...]

    @property
    def service_level(self) -> float | None:
        """Answered within ``service_s`` as a share of everyone who queued; None when nobody did."""
        return None if self.queued == 0 else self.answered_within / self.queued


def _insert(conn: Connection, row: QueueRow) -> None:
    if isinstance(row, WaitRow):
        conn.execute(
            "INSERT INTO queue_waits (call_id, at, skill, waited_s, outcome, seat_id) VALUES (?, ?, ?, ?, ?, ?)",
            (row.call_id, iso(row.at), row.skill, row.waited_s, row.outcome.value, row.seat_id),
        )
    elif isinstance(row, RingRow):
        conn.execute(
            "INSERT INTO seat_rings (seat_id, call_id, at, result, rang_s) VALUES (?, ?, ?, ?, ?)",
            (row.seat_id, row.call_id, iso(row.at), row.result.value, row.rang_s),
        )
    else:
        conn.execute(
            "INSERT INTO seat_talks (seat_id, call_id, at, skill, talk_s) VALUES (?, ?, ?, ?, ?)",
            (row.seat_id, row.call_id, iso(row.at), row.skill, row.talk_s),
        )


class QueueFigures:
    """Queue rows in a register file: adding them, and the figures they add up to."""

    def __init__(self, register: CallRegister) -> None:
        self.register = register

    def add(self, rows: Sequence[QueueRow]) -> None:
        """Store ``rows`` in one transaction."""

        def work(conn: Connection) -> None:
            for row in rows:
                _insert(conn, row)

        self.register.write(work)

    def waits(self, since: datetime | None = None) -> list[WaitRow]:
        sql, params = _window("SELECT call_id, at, skill, waited_s, outcome, seat_id FROM queue_waits", since)

        def work(conn: Connection) -> list[tuple[object, ...]]:
            return list(conn.execute(sql + " ORDER BY at", params).fetchall())

        out: list[WaitRow] = []
        for call_id, at, skill, waited, outcome, seat_id in self.register.read(work):
            moment = parse_time(str(at))
            assert moment is not None
            out.append(
                WaitRow(
                    str(call_id),
                    moment,
                    str(skill),
                    float(str(waited)),
                    WaitOutcome(outcome),
                    None if seat_id is None else str(seat_id),
                )
            )
        return out

    def recent_talk_times(self, per_skill: int = 20) -> dict[str, list[float]]:
        """The last ``per_skill`` talk times for each skill, oldest first (to seed the queue's wait estimate)."""

        def work(conn: Connection) -> list[tuple[object, ...]]:
            return list(
                conn.execute(
                    "SELECT skill, talk_s FROM (SELECT skill, talk_s, at, row_number() OVER "
                    "(PARTITION BY skill ORDER BY at DESC, call_id DESC) AS n FROM seat_talks) t "
                    "WHERE n <= ? ORDER BY skill, at, n DESC",
                    (per_skill,),
                ).fetchall()
            )

        out: dict[str, list[float]] = {}
        for skill, talk in self.register.read(work):
            out.setdefault(str(skill), []).append(float(str(talk)))
        return out

    def summary(self, *, since: datetime | None = None, service_s: float = DEFAULT_SERVICE_S) -> QueueSummary:
        waits = self.waits(since)
        answered = [w.waited_s for w in waits if w.outcome is WaitOutcome.ANSWERED]
        abandoned = [w.waited_s for w in waits if w.outcome is WaitOutcome.ABANDONED]
        every = [w.waited_s for w in waits]
        rings_sql, rings_params = _window("SELECT seat_id, result, count(*) FROM seat_rings", since)
        talks_sql, talks_params = _window("SELECT seat_id, count(*), avg(talk_s) FROM seat_talks", since)

        def work(conn: Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
            rings = conn.execute(rings_sql + " GROUP BY seat_id, result", rings_params).fetchall()
            talks = conn.execute(talks_sql + " GROUP BY seat_id", talks_params).fetchall()
            return list(rings), list(talks)

        rings, talks = self.register.read(work)
        counts: dict[str, dict[str, int]] = {}
        for seat_id, result, count in rings:
            counts.setdefault(str(seat_id), {})[str(result)] = int(str(count))
        talk_by_seat = {str(seat_id): (int(str(n)), float(str(mean))) for seat_id, n, mean in talks}
        seats = []
        for seat_id in sorted(set(counts) | set(talk_by_seat)):
            c = counts.get(seat_id, {})
            handled, mean_talk = talk_by_seat.get(seat_id, (0, None))
            seats.append(
                SeatFigures(
                    seat_id=seat_id,
                    handled=handled,
                    no_answer=c.get(RingResult.NO_ANSWER.value, 0),
                    rejected=c.get(RingResult.REJECTED.value, 0),
                    unreachable=c.get(RingResult.UNREACHABLE.value, 0),
                    whisper_hangups=c.get(RingResult.WHISPER_HANGUP.value, 0),
                    mean_talk_s=mean_talk,
                )
            )
        return QueueSummary(
            service_s=service_s,
            queued=len(waits),
            answered=len(answered),
            answered_within=sum(1 for w in answered if w <= service_s),
            abandoned=len(abandoned),
            gave_up=sum(1 for w in waits if w.outcome is WaitOutcome.GAVE_UP),
            mean_wait_s=_mean(answered),
            mean_wait_all_s=_mean(every),
            longest_wait_s=max(every) if every else None,
            abandoned_mean_wait_s=_mean(abandoned),
            abandoned_max_wait_s=max(abandoned) if abandoned else None,
            seats=tuple(seats),
        )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _window(sql: str, since: datetime | None) -> tuple[str, tuple[str, ...]]:
    if since is None:
        return sql, ()
    return sql + " WHERE at >= ?", (iso(since) or "",)


class QueueLog(QueuedWrites):
    """The one worker that writes queue rows and callback tickets off the media path.

    The log takes over ``register`` (give it its own ``CallRegister`` on the
    register file): ``close()`` drains the queue, joins the worker and closes
    the register, and raises ``RegisterWriteError`` if any write failed (see
    ``WriteQueue``). Messages name call ids and seat ids only, never caller numbers.
    """

    def __init__(self, register: CallRegister, *, maxsize: int = DEFAULT_MAXSIZE) -> None:
        self.register = register
        self.figures = QueueFigures(register)
        self.callbacks = CallbackBook(register)
        self.jobs = WriteQueue(
            "queue log", "queue rows", register.where, maxsize=maxsize, thread_name="ivr-queue-log"
        )

    # -- the media side -------------------------------------------------------

    def record_wait(
        self,
        call_id: str,
        skill: str,
        waited_s: float,
        outcome: WaitOutcome,
        seat_id: str | None = None,
        *,
        at: datetime,
    ) -> bool:
        row = WaitRow(call_id, at, skill, waited_s, outcome, seat_id)
        return self.submit(f"wait of call {call_id}", lambda: self.figures.add([row]))

    def record_ring(
        self, seat_id: str, call_id: str, result: RingResult, rang_s: float, *, at: datetime
    ) -> bool:
        row = RingRow(seat_id, call_id, at, result, rang_s)
        return self.submit(f"ring of seat {seat_id}", lambda: self.figures.add([row]))

    def record_talk(self, seat_id: str, call_id: str, skill: str, talk_s: float, *, at: datetime) -> bool:
        row = TalkRow(seat_id, call_id, at, skill, talk_s)
        return self.submit(f"talk of seat {seat_id}", lambda: self.figures.add([row]))

    def add_callback(self, ticket: CallbackTicket) -> bool:
        return self.submit(f"callback ticket of call {ticket.call_id}", lambda: self.callbacks.add(ticket))

    def submit(self, label: str, job: Job) -> bool:
        """Queue ``job`` (run on the worker) without waiting; False if it was dropped (queue full)."""
        return self.jobs.submit(label, job)
