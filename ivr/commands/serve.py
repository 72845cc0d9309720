"""``ivr serve``: the desk line in production, until SIGTERM, or until it can no longer take calls.

Should the media clock or the SIP reader die (a fault no single call contains),
the line says why in its log, closes what it can, and ``ivr serve`` exits with
status 70 (EX_SOFTWARE), so systemd or the container runtime starts it afresh:
it never stays up deaf.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ivr.config import IvrConfig, load_config
from ivr.errors import IvrError
from ivr.line.open_line import OpenLine, open_line

log = logging.getLogger(__name__)


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("serve", help="answer the desk line (SIP)")
    parser.add_argument("--config", type=Path, default=None, help="settings (default: ivr.toml if present)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each call's progress")
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        path = args.config or Path("ivr.toml")
        config = load_config(path) if args.config is not None or path.exists() else IvrConfig()
        line = open_line(config, Path("."))
    except IvrError as exc:
        print(f"ivr serve: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    line.on_failure(stop.set)  # a dead thread wakes the wait below, as SIGTERM does
    signal.signal(signal.SIGHUP, lambda *_: line.reloads.wake())  # read the flow and prompts again
    line.start()
    print(
        f"serving {config.line.flow} on {config.sip.bind} ({config.sip.mode} mode); SIGTERM to stop",
        flush=True,
    )
    return serve_until_stopped(line, stop, config.sip.grace)


EXIT_LINE_FAILED = 70  # EX_SOFTWARE: the line broke; whoever runs it starts it again


def serve_until_stopped(line: OpenLine, stop: threading.Event, grace: float) -> int:
    """Wait for SIGTERM (``stop``) or a dead thread; close the line; the exit status.

    SIGTERM: live calls hear goodbye within ``grace``, 0. A thread died: its reason is logged,
    live calls are hung up at once (no clock is left to say goodbye), 70.
    """
    stop.wait()
    failure = line.failure
    if failure is None:
        line.line.refuse_new_calls()  # before saying so: a call arriving after the line is read gets 503
        print("stopping: new calls get 503, live calls finish their goodbye", flush=True)
        line.stop(grace)
        return 0
    log.error("the line can take no more calls (%s); closing it and exiting for a restart", failure)
    print(f"ivr serve: {failure}; exiting", file=sys.stderr, flush=True)
    try:
        line.stop(0.0)
    except Exception:  # best effort: the exit status says what matters
        log.exception("closing the broken line failed too")
    return EXIT_LINE_FAILED
