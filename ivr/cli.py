"""The ``ivr`` command: one subcommand group per module in ``ivr/commands``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ivr import __version__
from ivr.commands import calls, console, demo, flow, prompts, seats, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivr",
        description="A front-desk phone line that a bot answers.",
    )
    parser.add_argument("--version", action="version", version=f"ivr {__version__}")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for module in (flow, prompts, calls, seats, serve, console, demo):
        module.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
