"""The seats this line holds in the one queue across lines, kept on the media tick.

``SeatFloor`` hands every queue action to ``ClaimedSeats.saw`` when the line
shares its seats with other lines (a ``CrossLine``). What it keeps:

- a ``Ring`` is first a claim (``CrossLine.claim``); the seat is dialled only
  when the answer says this line got it (``take``, each tick). Held by another
  line, the queue hears ``seat_taken_elsewhere`` and the caller keeps its place;
- the claim is held while the seat rings, talks, wraps up or pauses after a
  miss here, and released when the seat is available (or on a break) here;
- a ring is told to the records and the console (``tell``) only once the seat
  is held: a ring another line's claim stopped never started, so the seat
  board and the caller's screen pop never show it (the holder writes the seat);
- callers joining and leaving this line's queue go to ``waiting_callers``;
- each look at the other lines (``CrossLine.view``) tells the queue which
  seats they hold and how many of their callers came before each of ours;
- a claim is first asked "first come" (``SeatClaims.claim``): refused while a
  caller on another line has waited longer for the seat's skill. The seat is
  offered again after the next look; once such claims of a seat that no line
  holds have been refused for ``FIRST_COME_S``, the claim is asked without that
  rule: the other line had its turn and let the seat go by.

Nothing here waits: every write is a job on the ``CrossLine``'s worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ivr.line.cross_line import CrossLine
from ivr.media import frames_in
from ivr.seats.queue import Abandoned, Connected, GiveUp, QueueAction, Ring, SeatQueue, StopRinging
from ivr.seats.state import SeatChanged, SeatState

log = logging.getLogger(__name__)

FIRST_COME_S = 3.0  # three looks (CrossLine.LOOK_S) for the line of an earlier caller to take a free seat
FIRST_COME_FRAMES = frames_in(FIRST_COME_S)


class ClaimedSeats:
    def __init__(
        self,
        crossing: CrossLine,
        queue: SeatQueue,
        tell: Callable[[QueueAction], object],
        dial: Callable[[str, str], None],
        take_actions: Callable[[list[QueueAction]], None],
        frame: Callable[[], int],
    ) -> None:
        """``tell``: the records and the console; ``dial``: ring the seat now; ``take_actions``: the
        queue's actions that follow (the floor's ``desk.take``); ``frame``: the floor's media frame now."""
        self.crossing = crossing
        self.queue = queue
        self._tell = tell
        self._dial = dial
        self._take = take_actions
        self._frame = frame
        self._claiming: dict[str, str] = {}  # seat id → the call a claim was asked for (answer not yet in)
        self._held: dict[str, str] = {}  # seat id → the call this line holds its claim for
        self._untold: dict[str, list[QueueAction]] = {}  # seat id → its ring, told once the claim is won
        self._lost_since: dict[str, int] = {}  # seat id → the frame a claim of it, free, was first refused

    def joined(self, call_id: str, skill: str) -> None:
        self.crossing.joined(call_id, skill)

    def tell(self, action: QueueAction) -> None:
        """Hand ``action`` on to the records and the console, holding back a ring not yet claimed."""
        if isinstance(action, Ring | SeatChanged):
            seat_id = action.seat_id
            if isinstance(action, Ring) or action.state is SeatState.RINGING:
                if seat_id not in self._held:
                    self._untold.setdefault(seat_id, []).append(action)
                    return
            elif self._untold.pop(seat_id, None) is not None and action.state is SeatState.AVAILABLE:
                return  # back to available before the ring was told: nothing happened
        self._tell(action)

    def saw(self, action: QueueAction) -> bool:
        """Keep the claims in step with ``action``; True for a ``Ring``, which the claim's answer dials."""
        crossing = self.crossing
        if isinstance(action, Ring):
            self._claiming[action.seat_id] = action.call_id
            lost_since = self._lost_since.get(action.seat_id)
            first_come = lost_since is None or self._frame() - lost_since < FIRST_COME_FRAMES
            crossing.claim(action.seat_id, action.call_id, first_come=first_come)
            return True
        if isinstance(action, SeatChanged):
            if action.state in (SeatState.AVAILABLE, SeatState.ON_BREAK):
                held = self._held.pop(action.seat_id, None)
                if held is not None:
                    crossing.release(action.seat_id, held)
        elif isinstance(action, StopRinging):
            if self._claiming.get(action.seat_id) == action.call_id:
                del self._claiming[action.seat_id]  # not rung yet: the claim is given back when answered
        elif isinstance(action, Abandoned | GiveUp | Connected):
            crossing.left(action.call_id)
        return False

    def take(self, frame: int) -> None:
        """On the tick: claims answered since the last one, and the latest look at the other lines."""
        crossing = self.crossing
        for seat_id, call_id, won in crossing.answers():
            if self._claiming.get(seat_id) != call_id:  # the ring was called off while the claim was made
                if won:
                    crossing.release(seat_id, call_id)
                if seat_id not in self._claiming:
                    self._untold.pop(seat_id, None)
                continue
            del self._claiming[seat_id]
            if won:
                self._lost_since.pop(seat_id, None)
                self._held[seat_id] = call_id
                for action in self._untold.pop(seat_id, []):
                    self._tell(action)
                self._dial(seat_id, call_id)
            else:
                log.info("seat %s is held by another line, or left to a caller waiting longer there", seat_id)
                self._lost_since.setdefault(seat_id, frame)
                self._take(self.queue.seat_taken_elsewhere(seat_id, frame))
        view = crossing.view()
        if view is None:
            return
        for seat_id in view.busy:  # another line holds it now: whoever it was left to has it
            self._lost_since.pop(seat_id, None)
        self.queue.callers_ahead_elsewhere(view.ahead)
        self._take(self.queue.seats_elsewhere(view.busy, frame))
        for seat_id, call_id in view.mine.items():  # a claim this line no longer knows of (a lost answer)
            if self._held.get(seat_id) != call_id and self._claiming.get(seat_id) != call_id:
                crossing.release(seat_id, call_id)
