"""What the console's pages show, read from the register: the wallboard, an agent's seat, today's figures.

Every view is plain data (dicts of strings and numbers) in the viewer's
language, with caller numbers already in full or masked for that viewer, so
the page's script only places text. Times are the desk's (``[line] timezone``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ivr.console.masking import masked
from ivr.console.words import Lang, intent_word, reason_word, state_word
from ivr.records.callback_work import CallbackWork
from ivr.records.console_users import ConsoleUser
from ivr.records.live_calls import LiveCall, LiveCalls, LiveState
from ivr.records.queue_figures import QueueFigures
from ivr.records.register import CallRegister
from ivr.seats.board import BREAK_LIMIT, SeatBoard, SeatRow
from ivr.seats.directory import SeatsFile
from ivr.seats.state import SeatState

THIRD_RING_S = 10.0  # the third ring starts 10 s after the call arrives (1 s on, 4 s off)

View = dict[str, object]


def span(seconds: float) -> str:
    """``75`` → ``1:15``; an hour or more → ``1:02:03``."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@dataclass
class ConsoleDesk:
    register: CallRegister
    seats: SeatsFile | None
    timezone: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __post_init__(self) -> None:
        self.zone = ZoneInfo(self.timezone)
        self.live = LiveCalls(self.register)
        self.callbacks = CallbackWork(self.register)
        self.board = None if self.seats is None else SeatBoard(self.seats, self.register)

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def local(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%H:%M:%S")

    def start_of_today(self) -> datetime:
        local = self.now().astimezone(self.zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    # -- pieces ---------------------------------------------------------------

    def _number(self, number: str | None, in_full: bool) -> str:
        return (number or "") if in_full else masked(number)

    def _call(self, call: LiveCall, lang: Lang, in_full: bool, now: datetime) -> View:
        since = call.waiting_since or call.started_at
        return {
            "id": call.call_id,
            "caller": self._number(call.caller, in_full),
            "state": state_word(call.state.value, lang),
            "state_id": call.state.value,
            "step": call.step or "",
            "seat": call.seat_id or "",
            "intent": intent_word(call.intent),
            "heard": call.heard or "",
            "path": " › ".join(call.path),
            "started": self.local(call.started_at),
            "time": span((now - call.started_at).total_seconds()),
            "wait": span((now - since).total_seconds()) if call.state is LiveState.WAITING else "",
        }

    def _seat(self, row: SeatRow, lang: Lang, now: datetime) -> View:
        since = row.break_since if row.on_break else row.since
        seconds = (now - since).total_seconds() if since is not None else None
        late = row.on_break and since is not None and now - since > BREAK_LIMIT
        return {
            "id": row.seat.id,
            "name": row.seat.name,
            "state": state_word(row.state.value, lang),
            "state_id": row.state.value,
            "since": "" if seconds is None else span(seconds),
            "reason": (row.reason or "") if row.on_break else "",
            "late": late,
        }

    def seat_rows(self, lang: Lang) -> list[View]:
        if self.board is None:
            return []
        now = self.now()
        return [self._seat(r, lang, now) for r in self.board.list()]

    def figures(self) -> View:
        since = self.start_of_today()
        summary = QueueFigures(self.register).summary(since=since)
        calls = self.register.list_calls(limit=None, since=since)
        answered = [c for c in calls if c.answered_at is not None]
        early = sum(
            1
            for c in answered
            if c.answered_at is not None and (c.answered_at - c.started_at).total_seconds() < THIRD_RING_S
        )
        return {
            "calls": len(calls),
            "service_level": percent(summary.service_level),
            "third_ring": percent(early / len(answered) if answered else None),
            "abandoned": percent(summary.abandoned / summary.queued if summary.queued else None),
            "mean_wait": "—" if summary.mean_wait_all_s is None else span(summary.mean_wait_all_s),
            "seats": [
                {
                    "id": s.seat_id,
                    "handled": s.handled,
                    "no_answer": s.no_answer,
                    "mean_talk": "—" if s.mean_talk_s is None else span(s.mean_talk_s),
                }
                for s in summary.seats
            ],
        }

    def hourly_calls(self) -> list[int]:
        """Today's calls in each hour of the desk's day, hour 0 first (24 counts)."""
        hours = [0] * 24
        for call in self.register.list_calls(limit=None, since=self.start_of_today()):
            hours[call.started_at.astimezone(self.zone).hour] += 1
        return hours

    def seat_counts(self) -> list[tuple[str, int, int]]:
        """Each seat's calls answered and missed today: (seat id, answered, missed)."""
        summary = QueueFigures(self.register).summary(since=self.start_of_today())
        return [(s.seat_id, s.handled, s.no_answer) for s in summary.seats]

    def callback_rows(self, viewer: ConsoleUser, in_full: bool, lang: Lang) -> list[View]:
        seat = viewer.seat_id if viewer.role == "agent" else None
        if viewer.role == "agent" and seat is None:
            return []
        return [
            {
                "id": job.ticket.call_id,
                "number": self._number(job.ticket.number, in_full),
                "reason": reason_word(job.ticket.reason, lang),
                "created": job.ticket.created_at.astimezone(self.zone).strftime("%m-%d %H:%M"),
                "seat": job.seat_id or "",
                "attempts": job.attempts,
                "last": reason_word(job.last_result, lang) if job.last_result else "",
            }
            for job in self.callbacks.open_jobs(seat)
        ]

    # -- pages ----------------------------------------------------------------

    def wallboard(self, viewer: ConsoleUser, lang: Lang) -> View:
        """The shift leader's wallboard: leaders see numbers in full, admins masked."""
        in_full = viewer.role == "shift_leader"
        now = self.now()
        calls = self.live.all()
        waiting = sorted(
            (c for c in calls if c.state is LiveState.WAITING),
            key=lambda c: (c.waiting_since or c.started_at, c.call_id),
        )
        return {
            "now": self.local(now),
            "waiting": [
                {"position": n, **self._call(c, lang, in_full, now)} for n, c in enumerate(waiting, start=1)
            ],
            "calls": [self._call(c, lang, in_full, now) for c in calls],
            "seats": self.seat_rows(lang),
            "figures": self.figures(),
            "callbacks": self.callback_rows(viewer, in_full, lang),
            "seat_ids": [] if self.seats is None else [s.id for s in self.seats.seats],
        }

    def agent(self, viewer: ConsoleUser, lang: Lang) -> View:
        """An agent's seat: its state, the call ringing or talking there (the screen pop), its tickets."""
        seat_id = viewer.seat_id or ""
        now = self.now()
        seat: View | None = None
        if self.board is not None and seat_id:
            seat = self._seat(self.board.get(seat_id), lang, now)
        call = self.live.for_seat(seat_id) if seat_id else None
        pop: View | None = None
        if call is not None:
            pop = self._call(call, lang, True, now)  # the seat taking the call sees the number in full
            pop["wait"] = span((now - (call.waiting_since or call.started_at)).total_seconds())
            pop["earlier"] = self.earlier_today(call.caller, lang)
        return {
            "now": self.local(now),
            "seat": seat,
            "seat_id": seat_id,
            "on_break": seat is not None and seat["state_id"] == SeatState.ON_BREAK.value,
            "call": pop,
            "callbacks": self.callback_rows(viewer, True, lang),
        }

    def earlier_today(self, number: str | None, lang: Lang) -> list[View]:
        if not number:
            return []
        since = self.start_of_today()
        out: list[View] = []
        for c in self.register.list_calls(limit=200, since=since):
            if c.caller == number:
                out.append(
                    {
                        "started": self.local(c.started_at),
                        "outcome": reason_word(c.outcome.value, lang) if c.outcome else "",
                        "path": " › ".join(c.path),
                    }
                )
        return out


def break_limit_minutes() -> int:
    return int(BREAK_LIMIT / timedelta(minutes=1))
