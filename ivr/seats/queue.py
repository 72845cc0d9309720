"""The queue of callers waiting for a seat, in media time.

A pure object: the lead feeds it what happened (a caller joined, a seat
answered, rejected, was unreachable, hung up in the whisper, finished a
call, a caller left) and calls ``tick(frame)`` once per media tick; every
method returns the ``QueueAction``\\ s that follow. Nothing here reads a clock
or touches SIP. ``frame`` is the *line's* media clock (one count of 20 ms
ticks for every call), not a call's own frame count.

Rules (compare Asterisk app_queue with ``strategy=leastrecent``, ``timeout=15``,
``retry=5``, ``autopause=yes``, and FreeSWITCH mod_callcenter's
``longest-idle-agent`` with ``max-no-answer``):

- callers are offered in order: first come, first served by join frame; a
  caller whose seat hung up during the whisper goes back to the head;
- the head caller is offered to the longest-idle available seat with the
  skill it needs; one seat rings at a time per caller, for at most the
  caller's ``ring_timeout_s`` (15 s, from the flow), then the next seat;
- a seat that does not answer, rejects, is unreachable or hangs up during the
  whisper is paused a while (``SeatTiming``) and the caller keeps its place:
  the next free seat goes to it before anyone behind it;
- a caller still waiting ``max_wait_s`` (120 s) after joining is given up
  (``GiveUp``), exactly on that frame, unless a seat is already talking to it;
- several lines may share the seats (one queue across lines): a seat another
  line holds is not offered (``seats_elsewhere``, ``seat_taken_elsewhere``),
  and callers waiting on other lines who came first count in a caller's
  position and estimated wait (``callers_ahead_elsewhere``).

Actions are of two kinds. Things the lead must *do*: ``Ring``, ``StopRinging``,
``Whisper``, ``GiveUp``. Things to *record* (off the media path): ``SeatChanged``
(the board), ``SeatMissed``, ``Connected``, ``Abandoned``, ``Handled`` (queue
figures).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from ivr.media import frames_in, seconds_of
from ivr.seats.directory import Seat
from ivr.seats.state import LiveSeat, Miss, SeatChanged, SeatState, SeatTiming
from ivr.seats.whisper import CallerInfo, whisper_text

RECENT_HANDLED = 20  # handling times kept per skill for the wait estimate
DEFAULT_HANDLE_S = 120.0  # assumed handling time before any call was handled

_NEVER = 1 << 62


# -- actions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ring:
    """Dial ``seat_id`` for ``call_id``."""

    seat_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class StopRinging:
    """End the leg to ``seat_id`` (ringing, or in the whisper). ``reason``: no_answer, caller_left, max_wait, seat_paused."""

    seat_id: str
    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Whisper:
    """The seat answered: play ``text`` to the seat only, then bridge and call ``connected``."""

    seat_id: str
    call_id: str
    text: str  # caller data: never log above debug
    waited_s: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The caller waited too long: take them out of hold music to the callback offer."""

    call_id: str
    reason: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class SeatMissed:
    """A ring for ``call_id`` came to nothing on ``seat_id`` after ``rang_s``."""

    seat_id: str
    call_id: str
    miss: Miss
    rang_s: float


@dataclass(frozen=True, slots=True)
class Connected:
    call_id: str
    seat_id: str
    skill: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class Abandoned:
    """The caller hung up while waiting."""

    call_id: str
    skill: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class Handled:
    """``seat_id`` finished ``call_id`` after ``talk_s`` of talk."""

    seat_id: str
    call_id: str
    skill: str
    talk_s: float


QueueAction = (
    Ring | StopRinging | Whisper | GiveUp | SeatMissed | Connected | Abandoned | Handled | SeatChanged
)


class _Waiting:
    __slots__ = (
        "answered",
        "call_id",
        "caller",
        "give_up_at",
        "joined",
        "rank",
        "ring_frames",
        "ring_started",
        "seat",
        "skill",
    )

    def __init__(
        self,
        call_id: str,
        skill: str,
        joined: int,
        caller: CallerInfo,
        ring_frames: int,
        give_up_at: int,
        seq: int,
    ) -> None:
        self.call_id = call_id
        self.skill = skill
        self.joined = joined
        self.caller = caller
        self.ring_frames = ring_frames
        self.give_up_at = give_up_at
        self.rank: tuple[int, int, int] = (1, joined, seq)
        self.seat: str | None = None  # the seat ringing (or in the whisper) for this caller
        self.ring_started = 0
        self.answered = False  # the seat picked up: whisper playing


@dataclass(frozen=True, slots=True)
class _Talk:
    call_id: str
    skill: str
    started: int


class SeatQueue:
    """Callers waiting for seats, and the seats' live states. See the module docstring for the rules."""

    def __init__(
        self,
        seats: Sequence[Seat],
        *,
        timing: SeatTiming | None = None,
        idle_order: Sequence[str] = (),
        on_break: Mapping[str, str] | None = None,
        recent_handle_s: Mapping[str, Sequence[float]] | None = None,
        default_handle_s: float = DEFAULT_HANDLE_S,
        start_frame: int = 0,
    ) -> None:
        """``idle_order``: seat ids longest idle first (from the board, so the order survives a restart);
        seats not named follow in file order. ``on_break``: seat id → reason for seats on a break."""
        self.timing = timing or SeatTiming()
        self.default_handle_s = default_handle_s
        known = [s.id for s in seats]
        ordered = [i for i in idle_order if i in known] + [i for i in known if i not in idle_order]
        start = start_frame - len(ordered)
        rank = {seat_id: start + n for n, seat_id in enumerate(ordered)}
        self._seats: dict[str, LiveSeat] = {
            s.id: LiveSeat(s.id, frozenset(s.skills), idle_since=rank[s.id]) for s in seats
        }
        self._file_order = {seat_id: n for n, seat_id in enumerate(known)}
        for seat_id, reason in (on_break or {}).items():
            if seat_id in self._seats:
                self._seats[seat_id].pause(reason, start_frame)
        self._waiting: dict[str, _Waiting] = {}
        self._line: list[_Waiting] = []  # sorted by rank: the order callers are offered
        self._talks: dict[str, _Talk] = {}  # seat id → the call it is talking on (after connected)
        self._recent: dict[str, deque[float]] = {
            skill: deque(times, maxlen=RECENT_HANDLED) for skill, times in (recent_handle_s or {}).items()
        }
        self._seq = 0
        self._next_due = _NEVER
        self._elsewhere: set[str] = set()  # seats another line holds: not offered here
        self._ahead: dict[str, int] = {}  # call id → callers on other lines who joined before it

    # -- reading --------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._line)

    def waiting(self) -> list[str]:
        """Call ids still waiting (ringing or in the whisper included), in the order they are offered."""
        return [w.call_id for w in self._line]

    def seat_state(self, seat_id: str) -> SeatState:
        return self._live(seat_id).state

    def seat_states(self) -> dict[str, SeatState]:
        return {seat_id: seat.state for seat_id, seat in self._seats.items()}

    def can_serve(self, skill: str) -> bool:
        """Some seat with ``skill`` is not on a break (else waiting is pointless: offer a callback)."""
        return any(skill in s.skills and s.state is not SeatState.ON_BREAK for s in self._seats.values())

    def position(self, call_id: str) -> int:
        """The caller's place among callers needing the same skill: 1 is next (or being rung now)."""
        me = self._waiting[call_id]
        ahead = self._ahead.get(call_id, 0)
        for w in self._line:
            if w is me:
                return ahead + 1
            if w.skill == me.skill:
                ahead += 1
        raise AssertionError("waiting caller missing from the line")

    def waited_s(self, call_id: str, frame: int) -> float:
        return seconds_of(frame - self._waiting[call_id].joined)

    def handle_s(self, skill: str) -> float:
        """Mean handling time (talk plus wrap-up) of the last calls for ``skill``, or the default."""
        recent = self._recent.get(skill)
        if not recent:
            return self.default_handle_s
        return sum(recent) / len(recent) + self.timing.wrap_up_s

    def positions(self) -> dict[str, int]:
        """Every waiting caller's ``position`` in one pass (for a round of progress updates)."""
        ahead: dict[str, int] = {}
        out: dict[str, int] = {}
        for w in self._line:
            n = ahead.get(w.skill, 0) + 1
            ahead[w.skill] = n
            out[w.call_id] = n + self._ahead.get(w.call_id, 0)
        return out

    def estimated_wait_s(self, call_id: str, position: int | None = None) -> float:
        """Position × mean handling time ÷ seats with the skill that are not on a break.

        ``position``: the caller's position if already known (from ``positions``).
        """
        skill = self._waiting[call_id].skill
        seats = sum(
            1 for s in self._seats.values() if skill in s.skills and s.state is not SeatState.ON_BREAK
        )
        place = self.position(call_id) if position is None else position
        return place * self.handle_s(skill) / max(1, seats)

    # -- callers --------------------------------------------------------------

    def join(
        self,
        call_id: str,
        skill: str,
        frame: int,
        caller: CallerInfo | None = None,
        *,
        ring_timeout_s: float = 15.0,
        max_wait_s: float = 120.0,
    ) -> list[QueueAction]:
        if call_id in self._waiting:
            raise ValueError(f"call {call_id} is already waiting")
        self._seq += 1
        w = _Waiting(
            call_id,
            skill,
            frame,
            caller or CallerInfo(),
            frames_in(ring_timeout_s),
            frame + frames_in(max_wait_s),
            self._seq,
        )
        self._waiting[call_id] = w
        bisect.insort(self._line, w, key=lambda x: x.rank)
        out: list[QueueAction] = []
        return self._settle(frame, out)

    def caller_left(self, call_id: str, frame: int) -> list[QueueAction]:
        """The caller hung up while waiting: abandoned, with the time they waited."""
        w = self._waiting.get(call_id)
        if w is None:
            return []
        out: list[QueueAction] = []
        self._remove(w)
        if w.seat is not None:
            out.append(StopRinging(w.seat, call_id, "caller_left"))
            out.append(self._live(w.seat).released(frame))
        out.append(Abandoned(call_id, w.skill, seconds_of(frame - w.joined)))
        return self._settle(frame, out)

    def connected(self, call_id: str, frame: int) -> list[QueueAction]:
        """The whisper is over and the caller is bridged to the seat: the caller leaves the queue."""
        w = self._waiting.get(call_id)
        if w is None or w.seat is None or not w.answered:
            return []
        self._remove(w)
        self._talks[w.seat] = _Talk(call_id, w.skill, frame)
        out: list[QueueAction] = [Connected(call_id, w.seat, w.skill, seconds_of(frame - w.joined))]
        return self._settle(frame, out)

    # -- seats ----------------------------------------------------------------

    def seat_answered(self, seat_id: str, frame: int) -> list[QueueAction]:
        seat = self._live(seat_id)
        w = self._ringing_for(seat)
        if w is None or w.answered:
            return []  # stale: the ring already stopped
        w.answered = True
        waited = seconds_of(frame - w.joined)
        out: list[QueueAction] = [
            seat.answered(frame),
            Whisper(seat_id, w.call_id, whisper_text(w.caller, waited), waited),
        ]
        return self._settle(frame, out)

    def seat_rejected(self, seat_id: str, frame: int) -> list[QueueAction]:
        return self._missed(seat_id, Miss.REJECTED, frame)

    def seat_unreachable(self, seat_id: str, frame: int) -> list[QueueAction]:
        return self._missed(seat_id, Miss.UNREACHABLE, frame)

    def seat_hung_up_in_whisper(self, seat_id: str, frame: int) -> list[QueueAction]:
        """The seat hung up while hearing who is calling: the caller goes back to the head of the queue."""
        seat = self._live(seat_id)
        w = self._ringing_for(seat)
        if w is None or not w.answered:
            return []
        return self._missed(seat_id, Miss.WHISPER_HANGUP, frame)

    def seat_done(self, seat_id: str, frame: int) -> list[QueueAction]:
        """The seat's call ended (either side hung up after being put through): wrap-up."""
        seat = self._live(seat_id)
        talk = self._talks.pop(seat_id, None)
        if talk is None:
            w = self._ringing_for(seat)
            if w is not None and w.answered:  # ended before being put through
                return self.seat_hung_up_in_whisper(seat_id, frame)
            return []
        talk_s = seconds_of(frame - talk.started)
        self._recent.setdefault(talk.skill, deque(maxlen=RECENT_HANDLED)).append(talk_s)
        out: list[QueueAction] = [
            Handled(seat_id, talk.call_id, talk.skill, talk_s),
            seat.done(frame, self.timing),
        ]
        return self._settle(frame, out)

    def pause_seat(self, seat_id: str, reason: str, frame: int) -> list[QueueAction]:
        """On a break (暂停服务). A ringing seat stops ringing (the caller keeps its place); a seat
        on a call breaks when the call ends."""
        seat = self._live(seat_id)
        out: list[QueueAction] = []
        w = self._ringing_for(seat)
        if w is not None and not w.answered:
            out.append(StopRinging(seat_id, w.call_id, "seat_paused"))
            w.seat = None
        change = seat.pause(reason, frame)
        if change is not None:
            out.append(change)
        return self._settle(frame, out)

    def resume_seat(self, seat_id: str, frame: int) -> list[QueueAction]:
        change = self._live(seat_id).resume(frame)
        out: list[QueueAction] = [] if change is None else [change]
        return self._settle(frame, out)

    def sync_breaks(self, breaks: Mapping[str, str], frame: int) -> list[QueueAction]:
        """Make the seats on a break exactly those in ``breaks`` (seat id → reason), as the board has them.

        The lead calls this when the board was read (``ivr seats pause`` runs in another process).
        """
        out: list[QueueAction] = []
        for seat_id, seat in self._seats.items():
            reason = breaks.get(seat_id)
            if reason is not None:
                pending = seat.state is SeatState.TALKING and seat.break_after_call == reason
                if not pending and not (seat.state is SeatState.ON_BREAK and seat.reason == reason):
                    out.extend(self.pause_seat(seat_id, reason, frame))
            elif seat.state is SeatState.ON_BREAK or seat.break_after_call is not None:
                out.extend(self.resume_seat(seat_id, frame))
        return out

    # -- other lines ----------------------------------------------------------

    def seat_taken_elsewhere(self, seat_id: str, frame: int) -> list[QueueAction]:
        """Another line holds ``seat_id``: the ring this queue asked for never started. The caller keeps
        its place (no miss, no pause: the seat did nothing wrong) and the seat is not offered here
        again until ``seats_elsewhere`` no longer names it."""
        seat = self._live(seat_id)
        self._elsewhere.add(seat_id)
        out: list[QueueAction] = []
        w = self._ringing_for(seat)
        if w is not None and not w.answered:
            w.seat = None
            out.append(seat.released(frame))
        return self._settle(frame, out)

    def seats_elsewhere(self, seat_ids: Collection[str], frame: int) -> list[QueueAction]:
        """The seats other lines hold now (as last read from the register): a seat no longer among
        them is offered again at once."""
        held = {seat_id for seat_id in seat_ids if seat_id in self._seats}
        freed = bool(self._elsewhere - held)
        self._elsewhere = held
        return self._settle(frame, []) if freed else []

    def callers_ahead_elsewhere(self, ahead: Mapping[str, int]) -> None:
        """For this queue's callers, how many callers on other lines joined earlier for the same skill:
        they count in ``position`` and ``estimated_wait_s`` (the one queue across lines)."""
        self._ahead = dict(ahead)

    # -- the media tick -------------------------------------------------------

    def tick(self, frame: int) -> list[QueueAction]:
        """Timers due at ``frame``: pauses ending, rings timing out, callers reaching the maximum wait."""
        if frame < self._next_due:
            return []
        out: list[QueueAction] = []
        for seat in self._seats.values():
            if seat.until is not None and seat.until <= frame:
                change = seat.expire(frame)
                if change is not None:
                    out.append(change)
        for w in list(self._line):
            if w.answered:
                continue
            if frame >= w.give_up_at:
                self._remove(w)
                if w.seat is not None:
                    out.append(StopRinging(w.seat, w.call_id, "max_wait"))
                    out.append(self._live(w.seat).released(frame))
                out.append(GiveUp(w.call_id, "max_wait", seconds_of(frame - w.joined)))
            elif w.seat is not None and frame - w.ring_started >= w.ring_frames:
                seat_id = w.seat
                out.append(StopRinging(seat_id, w.call_id, "no_answer"))
                self._miss(w, self._live(seat_id), Miss.NO_ANSWER, frame, out)
        return self._settle(frame, out)

    # -- inside ---------------------------------------------------------------

    def _live(self, seat_id: str) -> LiveSeat:
        try:
            return self._seats[seat_id]
        except KeyError:
            raise ValueError(f"no seat {seat_id!r} in the queue") from None

    def _ringing_for(self, seat: LiveSeat) -> _Waiting | None:
        if seat.state not in (SeatState.RINGING, SeatState.TALKING) or seat.call_id is None:
            return None
        w = self._waiting.get(seat.call_id)
        return w if w is not None and w.seat == seat.seat_id else None

    def _missed(self, seat_id: str, miss: Miss, frame: int) -> list[QueueAction]:
        seat = self._live(seat_id)
        w = self._ringing_for(seat)
        if w is None:
            return []
        if miss is not Miss.WHISPER_HANGUP and w.answered:
            return []
        out: list[QueueAction] = []
        self._miss(w, seat, miss, frame, out)
        return self._settle(frame, out)

    def _miss(self, w: _Waiting, seat: LiveSeat, miss: Miss, frame: int, out: list[QueueAction]) -> None:
        out.append(SeatMissed(seat.seat_id, w.call_id, miss, seconds_of(frame - w.ring_started)))
        out.append(seat.missed(miss, frame, self.timing))
        w.seat = None
        w.answered = False
        if miss is Miss.WHISPER_HANGUP:  # back to the head of the queue
            self._line.remove(w)
            w.rank = (0, *w.rank[1:])
            bisect.insort(self._line, w, key=lambda x: x.rank)

    def _remove(self, w: _Waiting) -> None:
        del self._waiting[w.call_id]
        self._line.remove(w)

    def _settle(self, frame: int, out: list[QueueAction]) -> list[QueueAction]:
        """Offer waiting callers to free seats, head first; then work out when the next timer is due."""
        free = [s for s in self._seats.values() if s.free and s.seat_id not in self._elsewhere]
        if free and self._line:
            free.sort(key=lambda s: (s.idle_since, self._file_order[s.seat_id]))
            for w in self._line:
                if w.seat is not None:
                    continue
                seat = next((s for s in free if w.skill in s.skills), None)
                if seat is None:
                    continue
                free.remove(seat)
                w.seat = seat.seat_id
                w.ring_started = frame
                out.append(seat.ring(w.call_id, frame))
                out.append(Ring(seat.seat_id, w.call_id))
                if not free:
                    break
        due = _NEVER
        for s in self._seats.values():
            if s.until is not None and s.until < due:
                due = s.until
        for w in self._line:
            if w.answered:
                continue
            due = min(due, w.give_up_at)
            if w.seat is not None:
                due = min(due, w.ring_started + w.ring_frames)
        self._next_due = due
        return out
