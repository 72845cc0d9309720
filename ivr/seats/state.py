"""A seat's state machine, in media time.

::

                 ring                answered             done
    AVAILABLE ─────────▶ RINGING ─────────────▶ TALKING ────────▶ WRAP_UP
        ▲  ▲                │  │                   │                 │
        │  │  caller left   │  │ no answer,        │ hung up in      │ wrap_up_s
        │  └────────────────┘  │ rejected,         │ the whisper     │ later
        │                      ▼ unreachable       ▼                 │
        ├──────────────── NO_ANSWER ◀──────────────┘                 │
        │  pause over         (autopause, like Asterisk)             │
        ├────────────────────────────────────────────────────────────┘
        │  resume
        └──────────── ON_BREAK (暂停服务)  ◀── pause (from any state; a
                                               ringing seat stops ringing, a
                                               talking seat breaks after the call)

Every transition is stamped with the frame it happened at and reported as a
``SeatChanged`` so the board can show it and keep it across a restart.
``idle_since`` orders seats for the queue (longest idle first): it is set when
a seat becomes free after work (end of wrap-up) or comes back from a break,
and is *not* reset when a ring comes to nothing: a seat that did not answer
keeps its place among the idle seats once its pause is over.

Nothing here reads the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ivr.media import frames_in


class SeatState(Enum):
    AVAILABLE = "available"
    RINGING = "ringing"
    TALKING = "talking"  # from the seat's answer: the whisper, then the call
    WRAP_UP = "wrap_up"
    NO_ANSWER = "no_answer"  # paused a while after a ring came to nothing
    ON_BREAK = "on_break"  # 暂停服务, with a reason


class Miss(Enum):
    """Why a ring came to nothing; each pauses the seat for its own while."""

    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"
    WHISPER_HANGUP = "whisper_hangup"  # answered, then hung up while hearing who is calling


class SeatStateError(Exception):
    """A transition the machine does not allow (a bug in the caller of the machine)."""


@dataclass(frozen=True, slots=True)
class SeatTiming:
    """How long each state lasts. Defaults follow Asterisk app_queue and FreeSWITCH mod_callcenter.

    ``max_no_answer``: after this many rings in a row that were not answered
    (mod_callcenter's max-no-answer), the seat is put on a break instead of a
    short pause, and someone must resume it; 0 turns that off.
    """

    wrap_up_s: float = 10.0
    no_answer_pause_s: float = 30.0  # Asterisk autopause, but it ends by itself
    retry_s: float = 5.0  # a seat that rejected (or hung up in the whisper) may ring again after this
    unreachable_pause_s: float = 60.0
    max_no_answer: int = 3

    def pause_frames(self, miss: Miss) -> int:
        seconds = {
            Miss.NO_ANSWER: self.no_answer_pause_s,
            Miss.REJECTED: self.retry_s,
            Miss.WHISPER_HANGUP: self.retry_s,
            Miss.UNREACHABLE: self.unreachable_pause_s,
        }[miss]
        return frames_in(seconds)


@dataclass(frozen=True, slots=True)
class SeatChanged:
    """A seat moved to ``state`` at ``frame``. ``idle_from_now``: the seat's idle time starts here."""

    seat_id: str
    state: SeatState
    frame: int
    call_id: str | None = None
    reason: str | None = None  # the break's reason, or the miss that caused a no-answer pause
    idle_from_now: bool = False


_ALLOWED: dict[SeatState, frozenset[SeatState]] = {
    SeatState.AVAILABLE: frozenset({SeatState.RINGING, SeatState.ON_BREAK}),
    SeatState.RINGING: frozenset(
        {SeatState.TALKING, SeatState.NO_ANSWER, SeatState.AVAILABLE, SeatState.ON_BREAK}
    ),
    SeatState.TALKING: frozenset(
        {SeatState.WRAP_UP, SeatState.NO_ANSWER, SeatState.AVAILABLE, SeatState.ON_BREAK}
    ),
    SeatState.WRAP_UP: frozenset({SeatState.AVAILABLE, SeatState.ON_BREAK}),
    SeatState.NO_ANSWER: frozenset({SeatState.AVAILABLE, SeatState.ON_BREAK}),
    SeatState.ON_BREAK: frozenset({SeatState.AVAILABLE, SeatState.ON_BREAK}),
}


class LiveSeat:
    """One seat's live state. Each method returns the ``SeatChanged`` it caused (None if nothing changed)."""

    __slots__ = (
        "break_after_call",
        "call_id",
        "idle_since",
        "misses_in_a_row",
        "reason",
        "seat_id",
        "since",
        "skills",
        "state",
        "until",
    )

    def __init__(self, seat_id: str, skills: frozenset[str], *, idle_since: int = 0) -> None:
        self.seat_id = seat_id
        self.skills = skills
        self.state = SeatState.AVAILABLE
        self.since = idle_since
        self.idle_since = idle_since
        self.until: int | None = None  # when a wrap-up or no-answer pause ends
        self.call_id: str | None = None
        self.reason: str | None = None
        self.misses_in_a_row = 0
        self.break_after_call: str | None = None  # a break asked for while talking: its reason

    def __repr__(self) -> str:
        return f"LiveSeat({self.seat_id!r}, {self.state.value}, since={self.since})"

    @property
    def free(self) -> bool:
        return self.state is SeatState.AVAILABLE

    def _go(
        self,
        state: SeatState,
        frame: int,
        *,
        call_id: str | None = None,
        reason: str | None = None,
        until: int | None = None,
        idle: bool = False,
    ) -> SeatChanged:
        if state not in _ALLOWED[self.state]:
            raise SeatStateError(f"seat {self.seat_id}: {self.state.value} → {state.value} is not allowed")
        self.state = state
        self.since = frame
        self.call_id = call_id
        self.reason = reason
        self.until = until
        if idle:
            self.idle_since = frame
        return SeatChanged(self.seat_id, state, frame, call_id, reason, idle)

    def ring(self, call_id: str, frame: int) -> SeatChanged:
        if self.state is not SeatState.AVAILABLE:
            raise SeatStateError(f"seat {self.seat_id} is {self.state.value}, not available to ring")
        return self._go(SeatState.RINGING, frame, call_id=call_id)

    def answered(self, frame: int) -> SeatChanged:
        if self.state is not SeatState.RINGING:
            raise SeatStateError(f"seat {self.seat_id} answered while {self.state.value}")
        self.misses_in_a_row = 0
        return self._go(SeatState.TALKING, frame, call_id=self.call_id)

    def missed(self, miss: Miss, frame: int, timing: SeatTiming) -> SeatChanged:
        """The ring (or the whisper) came to nothing: a pause, or a break after too many in a row."""
        call_id = self.call_id
        if miss is Miss.NO_ANSWER:
            self.misses_in_a_row += 1
            if timing.max_no_answer and self.misses_in_a_row >= timing.max_no_answer:
                self.break_after_call = None
                return self._go(SeatState.ON_BREAK, frame, reason=f"连续{self.misses_in_a_row}次未接听")
        if self.break_after_call is not None:
            return self._take_pending_break(frame)
        return self._go(
            SeatState.NO_ANSWER,
            frame,
            call_id=call_id,
            reason=miss.value,
            until=frame + timing.pause_frames(miss),
        )

    def released(self, frame: int) -> SeatChanged:
        """The caller went away before being put through: free again, keeping its idle time."""
        if self.break_after_call is not None:
            return self._take_pending_break(frame)
        return self._go(SeatState.AVAILABLE, frame)

    def done(self, frame: int, timing: SeatTiming) -> SeatChanged:
        """The call ended: wrap-up (or the break that was asked for during the call)."""
        if self.state is not SeatState.TALKING:
            raise SeatStateError(f"seat {self.seat_id} finished a call while {self.state.value}")
        if self.break_after_call is not None:
            return self._take_pending_break(frame)
        return self._go(
            SeatState.WRAP_UP, frame, call_id=self.call_id, until=frame + frames_in(timing.wrap_up_s)
        )

    def expire(self, frame: int) -> SeatChanged | None:
        """End a wrap-up or no-answer pause whose time is up."""
        if self.until is None or frame < self.until:
            return None
        after_work = self.state is SeatState.WRAP_UP
        return self._go(SeatState.AVAILABLE, frame, idle=after_work)

    def pause(self, reason: str, frame: int) -> SeatChanged | None:
        """On a break now; a seat on a call breaks when the call ends (None until then)."""
        if self.state is SeatState.TALKING:
            self.break_after_call = reason
            return None
        if self.state is SeatState.ON_BREAK and self.reason == reason:
            return None
        self.break_after_call = None
        return self._go(SeatState.ON_BREAK, frame, reason=reason)

    def resume(self, frame: int) -> SeatChanged | None:
        self.break_after_call = None
        if self.state is not SeatState.ON_BREAK:
            return None
        self.misses_in_a_row = 0
        return self._go(SeatState.AVAILABLE, frame, idle=True)

    def _take_pending_break(self, frame: int) -> SeatChanged:
        reason = self.break_after_call or ""
        self.break_after_call = None
        return self._go(SeatState.ON_BREAK, frame, reason=reason)
