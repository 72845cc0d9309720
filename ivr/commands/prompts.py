"""`ivr prompts ...`: `ivr prompts build` renders missing prompt audio with a progress bar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ivr.errors import IvrError
from ivr.prompts.audio_store import AudioFormatError
from ivr.prompts.build import Job, Outcome, build_locale


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("prompts", help="prompt audio")

    def usage(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(run=usage)
    sub = parser.add_subparsers(dest="prompts_command", metavar="COMMAND")

    build = sub.add_parser(
        "build",
        help="render prompt audio that has no recorded file",
        description="Render every prompt without a recorded file to audio/<locale>/<id>.wav "
        "(8 kHz mono 16-bit) with espeak-ng. Files recorded by a person are never overwritten; "
        "prompts whose words did not change are not rendered again.",
    )
    build.add_argument("--locale", default="zh-CN", help="catalog to render (default: zh-CN)")
    build.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        help="directory holding prompts/ and audio/ (default: the current directory)",
    )
    build.add_argument("--jobs", type=int, default=2, help="render this many clips at once (default: 2)")
    build.set_defaults(run=run_build)


def run_build(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    out = Console()
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task("prompts", total=None)

        def on_plan(jobs: list[Job]) -> None:
            progress.update(task, total=len(jobs))

        def on_done(outcome: Outcome) -> None:
            progress.update(task, advance=1, description=f"{outcome.status:>10}  {outcome.label}")

        try:
            report = build_locale(args.root, args.locale, on_plan=on_plan, on_done=on_done, workers=args.jobs)
        except IvrError as exc:
            progress.stop()
            print(f"ivr prompts build: {exc}", file=sys.stderr)
            return 1
        progress.update(task, description="done")
    out.print(report.summary, highlight=False)
    if report.bad_recordings:
        print(AudioFormatError(report.bad_recordings), file=sys.stderr)
        return 1
    return 0
