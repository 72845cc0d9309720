"""Durations and clock times as admins write them: ``10s``, ``1.5s``, ``500ms``, ``2min``, ``"08:50"``."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from ivr.media import FRAME_MS

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``10s``/``500ms``/``2min``/a bare number of seconds; whole 20 ms frames only."""
    if isinstance(value, bool):
        raise ValueError(f"a duration is a number with a unit such as 10s, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m[1]) * _UNIT_S[m[2]]
    else:
        raise ValueError(f"'{value}' is not a duration; write it like 10s, 1.5s, 500ms or 2min")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    ms = seconds * 1000
    if abs(ms / FRAME_MS - round(ms / FRAME_MS)) > 1e-6:
        raise ValueError(f"{value} is not a whole number of {FRAME_MS} ms frames")
    return round(ms / FRAME_MS) * FRAME_MS / 1000


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda s: f"{s:g}s", return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|min|h)?\s*$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "a duration: 10s, 1.5s, 500ms, 2min (whole 20 ms frames)",
        }
    ),
]

_CLOCK = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


def parse_clock(value: Any) -> time:
    """A time of day from ``"08:50"``; ``"24:00"`` means the end of the day."""
    if isinstance(value, time):
        return value
    if isinstance(value, int):  # YAML 1.1 reads 08:50 unquoted as sexagesimal minutes
        raise ValueError(f'write clock times in quotes, like "{value // 60:02d}:{value % 60:02d}"')
    if not isinstance(value, str) or not (m := _CLOCK.match(value.strip())):
        raise ValueError(f"'{value}' is not a time of day; write it like \"08:50\"")
    hour, minute = int(m[1]), int(m[2])
    if hour == 24:
        if minute:
            raise ValueError(f"'{value}' is past the end of the day")
        return time.max
    return time(hour, minute)


Clock = Annotated[
    time,
    BeforeValidator(parse_clock),
    PlainSerializer(lambda t: "24:00" if t == time.max else t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^([01]?\d|2[0-4]):[0-5]\d$", "description": "HH:MM"}),
]
