"""`ivr calls ...`."""

from __future__ import annotations

import argparse
from typing import Any


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("calls", help="calls commands")
    parser.set_defaults(run=lambda args: parser.print_help() or 2)
