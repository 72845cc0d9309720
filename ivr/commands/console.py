"""``ivr console``: the web page for seats, shift leaders and admins; ``ivr console user add`` for its users.

The console is its own process: it shares only the register file with the
line (``ivr serve``), reading calls in progress and the seat board, writing
pauses, callback work and reload requests. Serving runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ivr.config import IvrConfig, load_config
from ivr.errors import IvrError
from ivr.records.console_users import ROLES, ConsoleUser, ConsoleUsers
from ivr.records.errors import RegisterError
from ivr.records.register import CallRegister


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "console", help="the web page for seats, shift leaders and admins (and /metrics)"
    )
    _config_option(parser)
    parser.set_defaults(run=run_console)
    sub = parser.add_subparsers(dest="console_command", metavar="[ACTION]", help="none: serve the console")
    users = sub.add_parser("user", help="console users").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    p = users.add_parser("add", help="add a user (or change one); the password is read from standard input")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--seat", metavar="ID", help="an agent's seat (staff number 工号)")
    _config_option(p, default=argparse.SUPPRESS)  # `ivr console --config X user add …` keeps X
    p.set_defaults(run=run_user_add)


def _config_option(p: argparse.ArgumentParser, default: object = None) -> None:
    p.add_argument("--config", type=Path, default=default, help="settings (default: ivr.toml if present)")


def _config(args: argparse.Namespace) -> IvrConfig:
    path = args.config or Path("ivr.toml")
    return load_config(path) if args.config is not None or path.exists() else IvrConfig()


def run_user_add(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        if sys.stdin.isatty():
            password = getpass.getpass(f"password for {args.name}: ")
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        with CallRegister(config.records.target(Path())) as reg:
            if args.seat and config.line.seats:
                from ivr.seats.board import SeatBoard
                from ivr.seats.directory import load_seats

                SeatBoard(load_seats(Path(config.line.seats)), reg).seat(args.seat)  # a seat that exists
            ConsoleUsers(reg).add(ConsoleUser(args.name, args.role, args.seat), password, datetime.now(UTC))
    except (IvrError, RegisterError, ValueError) as exc:
        print(f"ivr console: {exc}", file=sys.stderr)
        return 1
    seat = f", seat {args.seat}" if args.seat else ""
    print(f"console user {args.name}: {args.role}{seat}")
    return 0


def run_console(args: argparse.Namespace) -> int:
    import uvicorn

    from ivr.console.app import ConsoleParts, make_app
    from ivr.console.desk import ConsoleDesk
    from ivr.console.flow_editing import FlowFiles

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = _config(args)
        root = Path(".")
        seats = None
        if config.line.seats:
            from ivr.seats.directory import load_seats

            seats = load_seats(root / config.line.seats)
        register = CallRegister(config.records.target(root))
    except (IvrError, RegisterError) as exc:
        print(f"ivr console: {exc}", file=sys.stderr)
        return 1
    try:
        desk = ConsoleDesk(register, seats, config.line.timezone)
        files = FlowFiles(
            root, Path(config.line.flow).parent, Path(config.line.seats) if config.line.seats else None
        )
        app = make_app(ConsoleParts(desk, files, secure_cookies=config.console.secure_cookies))
        host, port = config.console.bind_address
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
        )
        print(f"console on http://{host}:{port}/ ; SIGTERM to stop", flush=True)
        server.run()
    finally:
        register.close()
    return 0
