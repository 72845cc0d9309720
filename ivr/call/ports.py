"""The engine's narrow ports: where prompt audio comes from and what hears the line."""

from __future__ import annotations

from typing import Protocol

from ivr.flows.schema import Say
from ivr.hearing.line_state import LineState


class PromptSource(Protocol):
    def frames(self, say: Say) -> list[bytes]:
        """The prompt's audio as whole 20 ms frames (variables filled from ``say.vars``)."""
        ...

    def music(self, spec: str) -> list[bytes]:
        """Hold music (``hold.music``: ``built-in`` or a WAV file) as whole 20 ms frames, to loop."""
        ...


class LineHearing(Protocol):
    def hear(self, frame: bytes) -> LineState:
        """The line's smoothed state after this 20 ms frame of caller audio."""
        ...


class SeatDesk(Protocol):
    """The queue of callers waiting for a human seat, as the engine sees it."""

    def join(self, call_id: str, skill: str, frame: int, about: dict[str, str]) -> None:
        """The caller starts waiting; ``about`` is what the seat is told in the whisper."""
        ...

    def waiting(self, call_id: str) -> tuple[int, float] | None:
        """(position, estimated wait in seconds) while the caller waits; None once they no longer do."""
        ...

    def connected(self, call_id: str) -> bool:
        """A seat took the call (whisper done): the caller is put through."""
        ...

    def leave(self, call_id: str, frame: int, reason: str) -> None:
        """The caller stops waiting: hung up, asked for a callback, or waited too long."""
        ...

    def can_serve(self, skill: str) -> bool:
        """Some seat with ``skill`` is signed in and not on a break: waiting for one can end well."""
        ...


class CallbackDesk(Protocol):
    """Where callback tickets are written, off the media tick."""

    def take(self, call_id: str, number: str, source: str, reason: str) -> None:
        """Write a ticket (``source``: caller_id or keyed). Returns at once; the outcome reaches the
        engine later as a ``TicketWritten`` input. ``number`` is caller data: never log it."""
        ...
