"""What happened on a call, in order, stamped with media time.

Events are the call's record: the register stores them, ``ivr flow test``
compares them, the demo prints them. ``frame`` counts 20 ms frames from the
moment the call was answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from ivr.media import seconds_of

Detail = str | int | float | bool | None


class EventKind(Enum):
    ANSWERED = "answered"
    STEP = "step"  # the flow entered a step
    PROMPT_STARTED = "prompt.started"
    PROMPT_FINISHED = "prompt.finished"
    PROMPT_INTERRUPTED = "prompt.interrupted"  # barge-in or hang-up during the prompt
    LINE = "line"  # the line's state changed (silence/speech/noise/quiet)
    DTMF = "dtmf"
    HEARD = "heard"  # a recognition result (caller data: never logged above debug)
    INTENT = "intent"
    TRANSFER = "transfer"
    SEAT = "seat"  # after a hand-off: the seat talking with the caller, then leaving (detail 'seat', 'state')
    CALLBACK = "callback"
    HANGUP = "hangup"  # detail 'by': 'caller' | 'bot'
    ERROR = "error"
    HOLD = "hold"  # the caller put the bot on hold, or took it off (detail 'state': 'held' | 'resumed')
    MEDIA = "media"  # the call's RTP as RTCP tells it, at the end (detail: packets, lost, loss %, jitter ms)


@dataclass(frozen=True, slots=True)
class CallEvent:
    frame: int
    kind: EventKind
    detail: dict[str, Detail] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return seconds_of(self.frame)


class Outcome(Enum):
    SERVED = "served"  # the bot finished the business and said goodbye
    TRANSFERRED = "transferred"  # handed to a human seat
    CALLBACK = "callback"  # a callback ticket was taken
    ABANDONED = "abandoned"  # the caller hung up before the business was done
    SILENT_HANGUP = "silent-call hang-up"  # silent-call script ran to its goodbye
    NOISY_HANGUP = "noisy-line hang-up"  # noisy-line script ran to its goodbye
    DECLINED = "declined"  # harassment, sales calls: the decline script and goodbye
    FAILED = "failed"  # a fault in the bot ended the call
    LINE_CLOSED = "line closed"  # the line was shut down (ivr serve stopping): goodbye, then hang-up


@dataclass(slots=True)
class CallRecord:
    """One call, as the register keeps it."""

    call_id: str
    flow: str
    caller: str | None  # caller number (caller data)
    started_at: datetime  # wall time the call arrived (from the telephony edge or the simulator)
    answered_frame: int | None = None  # frames after arrival when the call was answered
    ended_frame: int | None = None  # frames after answer when the call ended
    outcome: Outcome | None = None
    path: list[str] = field(default_factory=list)  # step ids, in order
    events: list[CallEvent] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return seconds_of(self.ended_frame or 0)
