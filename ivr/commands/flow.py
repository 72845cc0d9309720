"""``ivr flow check|test|graph|schema``: what admins run on the flow files they edit."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ivr.flows.checks import check
from ivr.flows.schema import Flow

DEFAULT_FLOWS = Path("flows")
SCHEMA_PATH = Path("schemas/flow.schema.json")


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("flow", help="check, test and describe flow files")
    sub = parser.add_subparsers(dest="flow_command", required=True, metavar="ACTION")

    p = sub.add_parser("check", help="validate flows, prompt catalogs and seats files (file:line: message)")
    p.add_argument("files", nargs="*", type=Path, help="files or folders (default: flows/)")
    p.add_argument("--root", type=Path, default=Path("."), help="folder holding prompts/ and audio/")
    p.set_defaults(run=run_check)

    p = sub.add_parser("test", help="run the conversation tests written in flow files, in media time")
    p.add_argument("files", nargs="*", type=Path, help="flow files or folders (default: flows/)")
    p.add_argument("--root", type=Path, default=Path("."), help="folder holding prompts/ and audio/")
    p.set_defaults(run=run_test)

    p = sub.add_parser("graph", help="draw a flow: its steps and the ways between them (SVG, PNG, PDF, DOT)")
    p.add_argument("file", type=Path, help="the flow file")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="the picture; its suffix picks the format (default: FLOW.svg)",
    )
    p.add_argument(
        "--every-step", action="store_true", help="draw alike answers (a FAQ) one by one, not as one node"
    )
    p.add_argument("--root", type=Path, default=Path("."), help="folder holding prompts/ and audio/")
    p.set_defaults(run=run_graph)

    p = sub.add_parser("schema", help="write the flow files' JSON Schema (for editors)")
    p.add_argument("-o", "--output", type=Path, default=SCHEMA_PATH)
    p.set_defaults(run=run_schema)


def run_check(args: argparse.Namespace) -> int:
    files = args.files or [args.root / DEFAULT_FLOWS]
    result = check(files, args.root)
    for problem in result.problems:
        print(problem, file=sys.stderr)
    if result.problems:
        n = len(result.problems)
        print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
        return 1
    tests = sum(len(f.flow.tests) for f in result.flows)
    print(f"ok: {len(result.flows)} flows, {len(result.seats)} seats files, {tests} conversation tests")
    return 0


def run_test(args: argparse.Namespace) -> int:
    from ivr.flows.conversation import run_conversation_tests

    files = args.files or [args.root / DEFAULT_FLOWS]
    return run_conversation_tests(files, args.root)


def run_graph(args: argparse.Namespace) -> int:
    """A checked flow drawn by Graphviz; a flow with problems is reported, never drawn."""
    from ivr.errors import MissingPartError
    from ivr.flows.graph import draw, picture_format

    output: Path = args.output or args.file.with_suffix(".svg")
    try:
        picture_format(output)  # before the flow is checked: a wrong suffix is the first thing to say
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    result = check([args.file], args.root)
    if result.problems or not result.flows:
        for problem in result.problems:
            print(problem, file=sys.stderr)
        print(f"{args.file}: not drawn; fix the problems above first", file=sys.stderr)
        return 1
    flow = result.flows[0].flow
    try:
        draw(flow, result.catalogs.get(flow.locale), output, fold=not args.every_step)
    except MissingPartError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"wrote {output} ({len(flow.steps)} steps)")
    return 0


def flow_schema() -> dict[str, Any]:
    schema = Flow.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ivr flow file"
    return schema


def schema_text() -> str:
    return json.dumps(flow_schema(), ensure_ascii=False, indent=2) + "\n"


def run_schema(args: argparse.Namespace) -> int:
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0
