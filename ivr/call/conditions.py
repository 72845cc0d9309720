"""Evaluating a branch condition for a call at a moment of media time."""

from __future__ import annotations

from datetime import datetime

from ivr.flows.schema import DAYS, Condition, Flow


def holds(
    cond: Condition,
    flow: Flow,
    now: datetime,
    caller: str | None,
    seconds_since_last_call: float | None,
    last_intent: str | None,
    last_call_dropped: bool = False,
) -> bool:
    """True when every key given in ``cond`` holds (``not`` negates its whole condition)."""
    day = DAYS[now.weekday()]
    clock = now.time()
    if cond.hours is not None and not any(
        day in o.days and o.open <= clock < o.close for o in flow.hours.get(cond.hours, [])
    ):
        return False
    if cond.days is not None and day not in cond.days:
        return False
    if cond.time is not None and not cond.time.contains(clock):
        return False
    if cond.caller is not None:
        number = caller or "anonymous"
        if not any(number == p if p == "anonymous" else number.startswith(p) for p in cond.caller):
            return False
    if cond.repeat_caller is not None and (
        seconds_since_last_call is None or seconds_since_last_call > cond.repeat_caller
    ):
        return False
    if cond.dropped_call is not None and (
        not last_call_dropped
        or seconds_since_last_call is None
        or seconds_since_last_call > cond.dropped_call
    ):
        return False
    if cond.intent is not None and cond.intent != last_intent:
        return False
    return not (
        cond.not_ is not None
        and holds(cond.not_, flow, now, caller, seconds_since_last_call, last_intent, last_call_dropped)
    )
