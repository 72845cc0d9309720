"""What reaches the engine besides the caller's audio: keys, recognition results, hang-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Heard:
    """A final recognition result for one utterance (caller data)."""

    text: str
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class CallerHangup:
    pass


@dataclass(frozen=True, slots=True)
class RecognitionLost:
    """Speech recognition failed for this call: from now on the bot works with keys."""

    reason: str


@dataclass(frozen=True, slots=True)
class TicketWritten:
    """The callback ticket the engine asked for is in the register (``ok``), or could not be written."""

    ok: bool
    reason: str = ""  # why not, when not (no caller data)


CallInput = Dtmf | Heard | CallerHangup | RecognitionLost | TicketWritten


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the engine knows of a call before it starts; all of it from the telephony edge."""

    caller: str | None  # caller number, None when withheld (caller data)
    answered_at: datetime  # wall time of the answer: media time 0 (used for hours rules)
    seconds_since_last_call: float | None = None  # from the register: same number's previous call
    resume_step: str | None = None  # the listening step that number's previous call dropped in
    last_call_dropped: bool = False  # that call was cut off: line lost, or the caller hung up mid-step
    call_id: str = ""  # the call's id in the seat queue (and in the register unless record_id is given)
    record_id: str = ""  # the call's id in the register, which its callback ticket names
