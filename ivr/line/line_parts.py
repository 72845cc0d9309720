"""What the desk line is made of besides SIP: the flow and its prompts, hearing, seats, and its counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ivr.call.events import CallRecord
from ivr.call.ports import LineHearing, PromptSource
from ivr.flows.schema import Flow
from ivr.hearing.caller_speech import SpeechInput
from ivr.line.call_progress import CallProgress
from ivr.line.call_tickets import WriteTicket
from ivr.line.cross_line import CrossLine
from ivr.line.seat_floor import SeatFloor
from ivr.prompts.voice_worker import VoiceWorker
from ivr.seats.directory import Seat
from ivr.seats.queue import QueueAction, SeatQueue


@dataclass
class LineStats:
    calls: int = 0
    refused_busy: int = 0
    refused_forbidden: int = 0
    malformed: int = 0
    refused_on_arrival: int = 0  # 400, 420, 482, 483: a request that could not be taken as it came
    failed: int = 0  # calls a fault ended (each alone)
    rtp_lost: int = 0  # callers' frames that never came in time (ended calls)
    rtp_late: int = 0  # callers' packets that came after their turn (ended calls)


@dataclass
class SeatParts:
    """Human seats for transfers: who they are, their queue, the voice of the whisper, where actions go."""

    seats: list[Seat]
    queue: SeatQueue
    voice: VoiceWorker
    on_action: Callable[[QueueAction], object] = lambda action: None  # records, the board (off the tick)
    ask_breaks: Callable[[SeatFloor], object] | None = None  # read the board's breaks on a worker
    crossing: CrossLine | None = None  # other lines sharing the seats: claim a seat before ringing it


@dataclass
class LineParts:
    """What the line needs besides SIP: the flow, its prompts, hearing, and where records go."""

    flow: Flow
    prompts: PromptSource
    hearing: Callable[[], LineHearing]
    record: Callable[[CallRecord], object] = lambda record: None
    seconds_since_last_call: Callable[[str | None], float | None] = lambda caller: None
    dropped_path: Callable[[str | None], list[str]] = lambda caller: []  # where a dropped call was
    # seats can take transfers (the seats issue); without them a transfer step runs the flow's fallback
    transfers: bool = False
    wall_clock: Callable[[], datetime] = datetime.now  # now, for the register (and hours rules, by default)
    hours_clock: Callable[[], datetime] | None = None  # the time hours rules read; None: wall_clock
    speech: Callable[[str | None], SpeechInput] | None = None  # None: keys and line handling only
    seats: SeatParts | None = None  # None: transfers follow ``transfers`` (no queue)
    goodbye: str = "goodbye"  # said to a put-through caller whose seat hung up, before the BYE
    tickets: WriteTicket | None = None  # writes callback tickets off the tick; None: none is promised
    progress: Callable[[CallProgress], object] | None = (
        None  # each call's state and step (the console's table)
    )
