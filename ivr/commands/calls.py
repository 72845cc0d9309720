"""``ivr calls list|show|export|callbacks|stats``: reading the call register."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ivr.call.events import CallRecord, Detail, Outcome
from ivr.commands.tables import table_console
from ivr.records.callbacks import CallbackBook
from ivr.records.errors import RegisterError
from ivr.records.queue_figures import DEFAULT_SERVICE_S, QueueFigures, QueueSummary
from ivr.records.register import CallRegister, answered_at, ended_at
from ivr.records.store import target as store_target

DEFAULT_DB = Path("var/ivr.db")


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "calls", help="list, show and export the call register"
    )
    sub = parser.add_subparsers(dest="calls_command", required=True, metavar="ACTION")

    p = sub.add_parser("list", help="the latest calls, newest first")
    _db_option(p)
    p.add_argument("--limit", type=_positive_int, default=50, help="at most this many calls (default 50)")
    p.add_argument(
        "--outcome",
        type=parse_outcome,
        help="only calls with this outcome: " + ", ".join(repr(o.value) for o in Outcome),
    )
    p.add_argument(
        "--since",
        type=_parse_since,
        help="only calls started at or after this ISO-8601 time (UTC if no zone)",
    )
    p.set_defaults(run=run_list)

    p = sub.add_parser("show", help="one call's details and its timeline of events")
    p.add_argument("call_id", metavar="ID", help="a call id or a unique prefix of one")
    _db_option(p)
    p.set_defaults(run=run_show)

    p = sub.add_parser("export", help="every call as CSV, oldest first")
    p.add_argument("--csv", action="store_true", required=True, help="write CSV (the only format for now)")
    _db_option(p)
    p.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    p.set_defaults(run=run_export)

    p = sub.add_parser("callbacks", help="callback tickets still to call back, oldest first")
    _db_option(p)
    p.add_argument("--all", action="store_true", help="done tickets too")
    p.add_argument(
        "--done", metavar="ID", help="mark the ticket of this call (id or unique prefix) as called back"
    )
    p.set_defaults(run=run_callbacks)

    p = sub.add_parser("stats", help="queue figures: service level, abandoned callers, waits, per seat")
    _db_option(p)
    p.add_argument(
        "--since",
        type=_parse_since,
        help="only what happened at or after this ISO-8601 time (UTC if no zone)",
    )
    p.add_argument(
        "--service-s",
        type=_positive_float,
        default=DEFAULT_SERVICE_S,
        help=f"service level: answered within this many seconds (default {DEFAULT_SERVICE_S:g})",
    )
    p.set_defaults(run=run_stats)


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        type=store_target,
        default=DEFAULT_DB,
        metavar="FILE|URL",
        help=f"the register: a file (default {DEFAULT_DB}) or postgresql://user@host/db "
        "(the password from PGPASSWORD or ~/.pgpass)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def parse_outcome(text: str) -> Outcome:
    """An outcome by its text ('silent-call hang-up') or its name ('silent_hangup', 'SILENT-HANGUP')."""
    key = text.strip().lower()
    for outcome in Outcome:
        if key in (outcome.value, outcome.name.lower(), outcome.name.lower().replace("_", "-")):
            return outcome
    raise argparse.ArgumentTypeError(
        f"unknown outcome {text!r}; expected one of: " + ", ".join(repr(o.value) for o in Outcome)
    )


def _parse_since(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO-8601 date or time, got {text!r}") from None


def _with_register(args: argparse.Namespace, action: Callable[[CallRegister], int]) -> int:
    try:
        with CallRegister(args.db, create=False) as reg:
            return action(reg)
    except RegisterError as exc:
        print(f"ivr calls: {exc}", file=sys.stderr)
        return 1


def media_time(seconds: float) -> str:
    """Media time as mm:ss.ss (minutes keep counting past 59)."""
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:05.2f}"


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def run_list(args: argparse.Namespace) -> int:
    def action(reg: CallRegister) -> int:
        calls = reg.list_calls(limit=args.limit, outcome=args.outcome, since=args.since)
        console = table_console()
        if not calls:
            console.print("no calls", highlight=False)
            return 0
        table = Table(title=Text(f"calls in {args.db} (newest first, times UTC)"), title_justify="left")
        table.add_column("id", no_wrap=True)
        table.add_column("started", no_wrap=True)
        table.add_column("caller", no_wrap=True)
        table.add_column("flow")
        table.add_column("duration", justify="right", no_wrap=True)
        table.add_column("outcome")
        table.add_column("path", overflow="fold")
        nodes = any(call.node for call in calls)  # lines sharing the register: which one took each call
        if nodes:
            table.add_column("node", no_wrap=True)
        for call in calls:
            table.add_row(
                Text(call.call_id),
                _when(call.started_at),
                Text(call.caller or ""),
                Text(call.flow),
                media_time(call.duration_s),
                "" if call.outcome is None else call.outcome.value,
                Text(" > ".join(call.path)),
                *([Text(call.node or "")] if nodes else []),
            )
        console.print(table)
        return 0

    return _with_register(args, action)


def _detail_text(detail: dict[str, Detail]) -> str:
    return "  ".join(f"{key}={value}" for key, value in detail.items())


def render_call(record: CallRecord, console: Console) -> None:
    """The call's facts, then its events as a timeline in media time from the answer."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("call", Text(record.call_id))
    facts.add_row("flow", Text(record.flow))
    facts.add_row("caller", Text(record.caller or "(withheld)"))
    facts.add_row("arrived", _when(record.started_at) + " UTC")
    answered = answered_at(record)
    ended = ended_at(record)
    facts.add_row("answered", "never" if answered is None else f"{_when(answered)} UTC")
    facts.add_row("ended", "" if ended is None else f"{_when(ended)} UTC")
    facts.add_row("duration", media_time(record.duration_s))
    facts.add_row("outcome", "" if record.outcome is None else record.outcome.value)
    facts.add_row("path", Text(" > ".join(record.path)))
    console.print(facts)

    timeline = Table(title="events (media time from answer)", title_justify="left")
    timeline.add_column("time", justify="right", no_wrap=True)
    timeline.add_column("event", no_wrap=True)
    timeline.add_column("detail", overflow="fold")
    for event in record.events:
        timeline.add_row(media_time(event.seconds), event.kind.value, Text(_detail_text(event.detail)))
    console.print(timeline)


def run_show(args: argparse.Namespace) -> int:
    def action(reg: CallRegister) -> int:
        record = reg.get(args.call_id)
        if record is None:
            print(f"ivr calls: no call {args.call_id!r} in {args.db}", file=sys.stderr)
            return 1
        render_call(record, table_console())
        return 0

    return _with_register(args, action)


def run_export(args: argparse.Namespace) -> int:
    def action(reg: CallRegister) -> int:
        if args.output is None:
            reg.export_csv(sys.stdout)
            return 0
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with args.output.open("w", encoding="utf-8", newline="") as stream:
            count = reg.export_csv(stream)
        print(f"wrote {count} calls to {args.output}", file=sys.stderr)
        return 0

    return _with_register(args, action)


def run_callbacks(args: argparse.Namespace) -> int:
    def action(reg: CallRegister) -> int:
        book = CallbackBook(reg)
        if args.done is not None:
            if not book.mark_done(args.done, datetime.now(UTC)):
                print(f"ivr calls: no open callback ticket {args.done!r} in {args.db}", file=sys.stderr)
                return 1
            print(f"callback ticket {args.done} marked done")
            return 0
        tickets = book.tickets(open_only=not args.all)
        console = table_console()
        if not tickets:
            console.print("no callback tickets" if args.all else "no open callback tickets")
            return 0
        which = "all" if args.all else "open"
        table = Table(
            title=Text(f"{which} callback tickets in {args.db} (oldest first, times UTC)"),
            title_justify="left",
        )
        table.add_column("call", no_wrap=True)
        table.add_column("taken", no_wrap=True)
        table.add_column("number", no_wrap=True)
        table.add_column("number from", no_wrap=True)
        table.add_column("reason")
        if args.all:
            table.add_column("done", no_wrap=True)
        for ticket in tickets:
            cells: list[Text | str] = [
                Text(ticket.call_id),
                _when(ticket.created_at),
                Text(ticket.number),
                "caller ID" if ticket.source.value == "caller_id" else "keyed in",
                Text(ticket.reason),
            ]
            if args.all:
                cells.append(_when(ticket.done_at) if ticket.done else "")
            table.add_row(*cells)
        console.print(table)
        return 0

    return _with_register(args, action)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"


def render_stats(summary: QueueSummary, open_callbacks: int, console: Console) -> None:
    figures = Table(title="queue", title_justify="left")
    figures.add_column("figure")
    figures.add_column("value", justify="right")
    level = summary.service_level
    figures.add_row(
        f"service level (answered within {summary.service_s:g} s)",
        "" if level is None else f"{level:.0%} ({summary.answered_within} of {summary.queued})",
    )
    figures.add_row("callers who waited for a seat", str(summary.queued))
    figures.add_row("answered by a seat", str(summary.answered))
    figures.add_row("average wait (answered)", _seconds(summary.mean_wait_s))
    figures.add_row("average wait (everyone)", _seconds(summary.mean_wait_all_s))
    figures.add_row("longest wait", _seconds(summary.longest_wait_s))
    figures.add_row("abandoned while waiting", str(summary.abandoned))
    figures.add_row("  their average wait", _seconds(summary.abandoned_mean_wait_s))
    figures.add_row("  their longest wait", _seconds(summary.abandoned_max_wait_s))
    figures.add_row("waited to the maximum (callback offered)", str(summary.gave_up))
    figures.add_row("open callback tickets", str(open_callbacks))
    console.print(figures)
    if not summary.seats:
        return
    seats = Table(title="seats", title_justify="left")
    seats.add_column("seat", no_wrap=True)
    for name in ("handled", "no answer", "rejected", "unreachable", "hung up in whisper", "average talk"):
        seats.add_column(name, justify="right")
    for seat in summary.seats:
        seats.add_row(
            Text(seat.seat_id),
            str(seat.handled),
            str(seat.no_answer),
            str(seat.rejected),
            str(seat.unreachable),
            str(seat.whisper_hangups),
            _seconds(seat.mean_talk_s),
        )
    console.print(seats)


def run_stats(args: argparse.Namespace) -> int:
    def action(reg: CallRegister) -> int:
        summary = QueueFigures(reg).summary(since=args.since, service_s=args.service_s)
        open_callbacks = len(CallbackBook(reg).tickets(open_only=True))
        render_stats(summary, open_callbacks, table_console())
        return 0

    return _with_register(args, action)
