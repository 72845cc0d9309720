"""The engine's narrow ports: where prompt audio comes from and what hears the line."""

from __future__ import annotations

from typing import Protocol

from ivr.flows.schema import Say
from ivr.hearing.line_state import LineState


class PromptSource(Protocol):
    def frames(self, say: Say) -> list[bytes]:
        """The prompt's audio as whole 20 ms frames (variables filled from ``say.vars``)."""
        ...


class LineHearing(Protocol):
    def hear(self, frame: bytes) -> LineState:
        """The line's smoothed state after this 20 ms frame of caller audio."""
        ...
