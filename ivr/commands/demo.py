"""``ivr demo``: the embedded default — the line on loopback, scripted callers over real SIP."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from ivr.errors import IvrError


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "demo", help="call the desk line over real SIP on loopback"
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="folder with flows/, prompts/, audio/")
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="where recordings go (default: var/demo-TIME)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ivr.commands.prompts import run_build
    from ivr.demo.run import run_demo

    built = run_build(argparse.Namespace(root=args.root, locale="zh-CN", jobs=2))  # renders only what changed
    if built:
        return built
    try:
        run_demo(args.root, args.output, Console())
    except IvrError as exc:
        print(f"ivr demo: {exc}", file=sys.stderr)
        return 1
    return 0
