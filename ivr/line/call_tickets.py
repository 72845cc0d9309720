"""A live call's callback tickets: handed to the line's writer, their outcome brought back to the tick.

The engine asks for a ticket through ``take`` (its ``CallbackDesk`` port); the line's
``write`` function queues the write on the records worker and calls ``done`` from there
once the ticket is committed, or could not be. ``answers`` hands those outcomes to the
call's next tick as ``TicketWritten`` inputs. Nothing here waits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ivr.call.inputs import TicketWritten


@dataclass(frozen=True, slots=True)
class TicketRequest:
    call_id: str
    number: str  # caller data: never logged
    source: str  # caller_id | keyed
    reason: str


Done = Callable[[TicketWritten], None]
WriteTicket = Callable[[TicketRequest, Done], None]


class CallTickets:
    """One call's ``CallbackDesk``: ``take`` on the tick, ``done`` from the writer, ``answers`` on the tick."""

    def __init__(self, write: WriteTicket) -> None:
        self._write = write
        self._answers: deque[TicketWritten] = deque(maxlen=16)  # appended by the writer, taken by the tick

    def take(self, call_id: str, number: str, source: str, reason: str) -> None:
        self._write(TicketRequest(call_id, number, source, reason), self._answers.append)

    def answers(self) -> list[TicketWritten]:
        out: list[TicketWritten] = []
        while self._answers:
            out.append(self._answers.popleft())
        return out
