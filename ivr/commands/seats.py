"""``ivr seats list|pause|resume``: who can take calls now, and breaks (暂停服务, handbook lines 397–399).

The command reads the seats file and the seat board in the register file; a
running bot picks up a pause or a resume the next time it reads the board.
This is the telephony edge's side of the line, for admins: the wall clock is
read here, and a shift leader's or supervisor's name may be shown.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ivr.commands.tables import table_console
from ivr.errors import ConfigError
from ivr.records.errors import RegisterError, RegisterNotFoundError
from ivr.records.register import CallRegister
from ivr.records.store import target as store_target
from ivr.seats.board import BREAK_LIMIT, BreakAlert, SeatBoard, SeatRow, UnknownSeatError
from ivr.seats.directory import SeatsFile, load_seats
from ivr.seats.state import SeatState

DEFAULT_DB = Path("var/ivr.db")
DEFAULT_SEATS = Path("flows/seats.yaml")

STATE_WORDS = {
    SeatState.AVAILABLE: "available",
    SeatState.RINGING: "ringing",
    SeatState.TALKING: "talking",
    SeatState.WRAP_UP: "wrap-up",
    SeatState.NO_ANSWER: "no answer (paused a while)",
    SeatState.ON_BREAK: "on break (暂停服务)",
}


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("seats", help="list seats, pause and resume them")
    sub = parser.add_subparsers(dest="seats_command", required=True, metavar="ACTION")

    p = sub.add_parser("list", help="every seat with its state; breaks over 30 minutes are flagged")
    _options(p)
    p.set_defaults(run=run_list)

    p = sub.add_parser("pause", help="put a seat on a break (暂停服务)")
    p.add_argument("seat_id", metavar="ID", help="the seat's staff number (工号)")
    p.add_argument("--reason", required=True, help="why (shown on the board and in the 30-minute alert)")
    _options(p)
    p.set_defaults(run=run_pause)

    p = sub.add_parser("resume", help="end a seat's break: it takes calls again")
    p.add_argument("seat_id", metavar="ID", help="the seat's staff number (工号)")
    _options(p)
    p.set_defaults(run=run_resume)


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seats", type=Path, default=DEFAULT_SEATS, help=f"the seats file (default {DEFAULT_SEATS})"
    )
    p.add_argument(
        "--db",
        type=store_target,
        default=DEFAULT_DB,
        metavar="FILE|URL",
        help=f"the register: a file (default {DEFAULT_DB}) or postgresql://user@host/db "
        "(the password from PGPASSWORD or ~/.pgpass)",
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _with_board(args: argparse.Namespace, action: Callable[[SeatBoard], int], *, create: bool) -> int:
    try:
        seats = load_seats(args.seats)
        with CallRegister(args.db, create=create) as reg:
            return action(SeatBoard(seats, reg))
    except (ConfigError, RegisterError, UnknownSeatError, ValueError) as exc:
        print(f"ivr seats: {exc}", file=sys.stderr)
        return 1


def _ago(since: datetime | None, now: datetime) -> str:
    if since is None:
        return ""
    minutes = int((now - since).total_seconds() // 60)
    hours, minutes = divmod(max(0, minutes), 60)
    span = f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return f"{since.strftime('%Y-%m-%d %H:%M')} UTC ({span})"


def alert_line(alert: BreakAlert, seats: SeatsFile) -> str:
    leaders = [s for s in seats.seats if s.role == "shift_leader"]
    tell = ", ".join(f"{s.name} ({s.id})" for s in leaders) or "the person in charge"
    return (
        f"ALERT: seat {alert.seat_id} ({alert.name}) has been on a break (暂停服务) for {alert.minutes} min, "
        f"over {int(BREAK_LIMIT.total_seconds() // 60)} min (reason: {alert.reason}); "
        f"shift leader to be told: {tell} (handbook line 397)"
    )


def render_board(
    rows: list[SeatRow], alerts: list[BreakAlert], seats: SeatsFile, now: datetime, console: Console
) -> None:
    late = {a.seat_id for a in alerts}
    table = Table(title=Text("seats (times UTC)"), title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("name")
    table.add_column("role", no_wrap=True)
    table.add_column("skills")
    table.add_column("state", no_wrap=True)
    table.add_column("since", no_wrap=True)
    table.add_column("reason")
    for row in rows:
        since = row.break_since if row.on_break else row.since
        table.add_row(
            Text(row.seat.id),
            Text(row.seat.name),
            row.seat.role,
            Text(", ".join(row.seat.skills)),
            STATE_WORDS[row.state],
            _ago(since, now),
            Text((row.reason or "") if row.on_break else ""),
            style="bold red" if row.seat.id in late else None,
        )
    console.print(table)
    for alert in alerts:
        console.print(Text(alert_line(alert, seats), style="bold red"))


def run_list(args: argparse.Namespace) -> int:
    now = _now()
    try:
        seats = load_seats(args.seats)
    except ConfigError as exc:
        print(f"ivr seats: {exc}", file=sys.stderr)
        return 1
    try:
        with CallRegister(args.db, create=False) as reg:
            board = SeatBoard(seats, reg)
            rows, alerts = board.list(), board.break_alerts(now)
    except RegisterNotFoundError:
        rows, alerts = [SeatRow(s, SeatState.AVAILABLE, None) for s in seats.seats], []
    except RegisterError as exc:
        print(f"ivr seats: {exc}", file=sys.stderr)
        return 1
    render_board(rows, alerts, seats, now, table_console())
    return 0


def run_pause(args: argparse.Namespace) -> int:
    def action(board: SeatBoard) -> int:
        row = board.pause(args.seat_id, args.reason, _now())
        since = row.break_since or _now()
        print(f"seat {row.seat.id} is on a break (暂停服务) since {since:%H:%M} UTC: {row.reason}")
        latest = since + timedelta(minutes=30)
        print(f"a break past {latest:%H:%M} UTC raises an alert for the shift leader")
        return 0

    return _with_board(args, action, create=True)


def run_resume(args: argparse.Namespace) -> int:
    def action(board: SeatBoard) -> int:
        before = board.get(args.seat_id)
        if not before.on_break:
            print(f"seat {args.seat_id} is not on a break ({STATE_WORDS[before.state]})")
            return 0
        board.resume(args.seat_id, _now())
        print(f"seat {args.seat_id} takes calls again")
        return 0

    return _with_board(args, action, create=True)
