"""Callback work from the console: a shift leader gives a ticket to a seat; the seat reports how it went.

"Called back" closes the ticket (``CallbackBook.mark_done``); "no answer"
leaves it open, counts the attempt and says so on the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ivr.records.callbacks import CallbackBook, CallbackTicket
from ivr.records.register import CallRegister, iso
from ivr.records.store import Connection


@dataclass(frozen=True, slots=True)
class CallbackJob:
    ticket: CallbackTicket
    seat_id: str | None
    attempts: int
    last_result: str | None


class CallbackWork:
    def __init__(self, register: CallRegister) -> None:
        self.register = register
        self.book = CallbackBook(register)

    def open_jobs(self, seat_id: str | None = None) -> list[CallbackJob]:
        """Open tickets, oldest first, with who has them; only ``seat_id``'s when given."""
        extra = {
            str(r[0]): (r[1], int(r[2]), r[3])
            for r in self.register.read(
                lambda conn: conn.execute(
                    "SELECT call_id, seat_id, attempts, last_result FROM callbacks WHERE done = 0"
                ).fetchall()
            )
        }
        jobs = []
        for ticket in self.book.tickets(open_only=True):
            seat, attempts, last = extra.get(ticket.call_id, (None, 0, None))
            if seat_id is None or seat == seat_id:
                jobs.append(CallbackJob(ticket, seat, attempts, last))
        return jobs

    def assign(self, call_id: str, seat_id: str | None) -> bool:
        def work(conn: Connection) -> int:
            cursor = conn.execute(
                "UPDATE callbacks SET seat_id = ? WHERE call_id = ? AND done = 0", (seat_id, call_id)
            )
            return cursor.rowcount

        return self.register.write(work) == 1

    def seat_of(self, call_id: str) -> str | None:
        row = self.register.read(
            lambda conn: conn.execute(
                "SELECT seat_id FROM callbacks WHERE call_id = ?", (call_id,)
            ).fetchone()
        )
        return None if row is None or row[0] is None else str(row[0])

    def called_back(self, call_id: str, at: datetime) -> bool:
        def work(conn: Connection) -> int:
            cursor = conn.execute(
                "UPDATE callbacks SET done = 1, done_at = ?, attempts = attempts + 1, "
                "last_result = 'called_back' WHERE call_id = ? AND done = 0",
                (iso(at), call_id),
            )
            return cursor.rowcount

        return self.register.write(work) == 1

    def no_answer(self, call_id: str, at: datetime) -> bool:
        def work(conn: Connection) -> int:
            cursor = conn.execute(
                "UPDATE callbacks SET attempts = attempts + 1, last_result = 'no_answer' "
                "WHERE call_id = ? AND done = 0",
                (call_id,),
            )
            return cursor.rowcount

        return self.register.write(work) == 1
