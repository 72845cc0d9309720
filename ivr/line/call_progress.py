"""Where each call on the line is, told to whoever keeps the console's live table.

``ProgressWatch.saw(call)`` is called by the line on the media tick at the
moments a call may have moved on (it rang in, was answered, ticked, got a
seat); it builds a ``CallProgress`` only when something a person would see
changed (state, step, events, seat) and hands it to ``tell``, which must
only queue work (e.g. ``LiveCallBoard``). ``ended(call)`` says the call is
over. Nothing here touches the register.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ivr.call.events import EventKind
from ivr.flows.schema import Flow
from ivr.line.inbound_call import CallState, InboundCall

ProgressState = Literal["ringing", "in_flow", "waiting", "with_seat"]


@dataclass(frozen=True, slots=True)
class CallProgress:
    """One call as the console shows it. ``caller`` and ``heard`` are caller data: never log them."""

    call_id: str
    caller: str | None
    flow: str
    state: ProgressState
    arrived: datetime
    step: str | None = None
    seat: str | None = None
    intent: str | None = None
    heard: str | None = None
    path: tuple[str, ...] = ()
    waiting_since: datetime | None = None
    ended: bool = False


class ProgressWatch:
    def __init__(
        self,
        tell: Callable[[CallProgress], object],
        flow: Callable[[], Flow],
        wall_clock: Callable[[], datetime],
    ) -> None:
        """``flow``: the line's flow now (a ringing call's); an answered call has its own (its engine's)."""
        self._tell = tell
        self._flow = flow
        self._wall = wall_clock
        self._seen: dict[str, tuple[object, ...]] = {}
        self._waiting_since: dict[str, datetime] = {}

    def saw(self, call: InboundCall) -> None:
        engine = call.engine
        key = (
            call.state,
            None if engine is None else engine.step,
            None if engine is None else len(engine.events),
            None if engine is None else engine.ended_by,
            call.seat,
        )
        if self._seen.get(call.call_id) == key:
            return
        self._seen[call.call_id] = key
        self._tell(self._progress(call))

    def ended(self, call: InboundCall) -> None:
        self._seen.pop(call.call_id, None)
        self._waiting_since.pop(call.call_id, None)
        self._tell(CallProgress(call.call_id, None, "", "in_flow", call.arrived_wall, ended=True))

    def _progress(self, call: InboundCall) -> CallProgress:
        engine = call.engine
        if call.state is CallState.RINGING or engine is None:
            return CallProgress(
                call.call_id, call.caller_number, self._flow().flow, "ringing", call.arrived_wall
            )
        flow = engine.flow
        state: ProgressState = "in_flow"
        step = engine.step
        if engine.ended_by == "transfer" or call.seat is not None:
            state = "with_seat"
        elif step is not None and step in flow.steps and flow.steps[step].transfer is not None:
            state = "waiting"
        since = None
        if state == "waiting":
            since = self._waiting_since.setdefault(call.call_id, self._wall())
        heard = intent = None
        for event in reversed(engine.events):
            if heard is None and event.kind is EventKind.HEARD:
                heard = str(event.detail.get("text") or "")
            elif intent is None and event.kind is EventKind.INTENT:
                intent = str(event.detail.get("intent") or "")
            if heard is not None and intent is not None:
                break
        return CallProgress(
            call.call_id,
            call.caller_number,
            flow.flow,
            state,
            call.arrived_wall,
            step=step,
            seat=call.seat,
            intent=intent,
            heard=heard,
            path=tuple(engine.path),
            waiting_since=since,
        )
