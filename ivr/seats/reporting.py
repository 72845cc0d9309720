"""The queue's actions as rows in the register: queue figures and the seat board, written off the tick.

``QueueReporter.take`` is handed every action the queue emits (on the media
tick) and only queues jobs on the ``QueueLog`` worker: a wait per caller who
queued, a ring per seat rung, a talk per call handled, and each seat's new
state on the board (so states, breaks and the longest-idle order survive a
restart). Wall times come from the clock the edge passes in. Ids only, never
caller data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ivr.records.queue_figures import QueueLog, RingResult, WaitOutcome
from ivr.seats.board import SeatBoard
from ivr.seats.queue import (
    Abandoned,
    Connected,
    GiveUp,
    Handled,
    QueueAction,
    Ring,
    SeatMissed,
    Whisper,
)
from ivr.seats.state import SeatChanged


class QueueReporter:
    def __init__(self, log: QueueLog, board: SeatBoard, wall_clock: Callable[[], datetime]) -> None:
        self.log = log
        self.board = board
        self._wall = wall_clock
        self._rang: dict[tuple[str, str], datetime] = {}  # (seat, call) → when the ring began

    def take(self, action: QueueAction) -> None:
        at = self._wall()
        if isinstance(action, SeatChanged):
            board = self.board
            self.log.submit(f"seat {action.seat_id} state", lambda: board.record(action, at))
        elif isinstance(action, Ring):
            self._rang[(action.seat_id, action.call_id)] = at
        elif isinstance(action, Whisper):
            began = self._rang.pop((action.seat_id, action.call_id), at)
            rang_s = (at - began).total_seconds()
            self.log.record_ring(action.seat_id, action.call_id, RingResult.ANSWERED, rang_s, at=at)
        elif isinstance(action, SeatMissed):
            self._rang.pop((action.seat_id, action.call_id), None)
            result = RingResult(action.miss.value)
            self.log.record_ring(action.seat_id, action.call_id, result, action.rang_s, at=at)
        elif isinstance(action, Connected):
            self.log.record_wait(
                action.call_id, action.skill, action.waited_s, WaitOutcome.ANSWERED, action.seat_id, at=at
            )
        elif isinstance(action, Abandoned):
            self.log.record_wait(action.call_id, action.skill, action.waited_s, WaitOutcome.ABANDONED, at=at)
        elif isinstance(action, GiveUp):
            self.log.record_wait(action.call_id, "", action.waited_s, WaitOutcome.GAVE_UP, at=at)
        elif isinstance(action, Handled):
            self.log.record_talk(action.seat_id, action.call_id, action.skill, action.talk_s, at=at)
