"""Reading the YAML files admins edit, with every problem pinned to a file and line.

``load_model(path, Model)`` parses YAML with ruamel (which keeps line numbers),
validates it with a pydantic model, and turns every validation error into a
``Problem`` at the line of the offending key or value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from ivr.errors import ConfigError, Problem

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> Any:
    """Parse ``path``; a syntax error or duplicate key becomes a ConfigError at its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(path, 0, "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(path, 0, f"not UTF-8 text ({exc.reason})")]) from None
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "YAML syntax error"
        if exc.context and "quoted scalar" in exc.context and exc.context_mark is not None:
            mark, what = exc.context_mark, "this quoted string is never closed"
        line = mark.line + 1 if mark is not None else 0
        if "duplicate key" in str(what) or "found duplicate key" in str(exc):
            what = "duplicate key" + _after(str(exc), "duplicate key")
        slips = [s for s in typing_slips(text) if s[0] <= max(line, 1)]
        if slips:  # the slip is what the admin must fix; YAML's own words only say where it gave up
            raise ConfigError(
                [Problem(path, n, f"{hint} (YAML then fails at line {line}: {what})") for n, hint in slips]
            ) from None
        raise ConfigError([Problem(path, line, f"YAML: {what}")]) from None


# Typing slips that YAML reports in its own words, far from the cause: a Chinese input method's
# full-width colon or comma where YAML needs ':' or ',', and tabs (YAML indents with spaces only).
_FULL_WIDTH = {"：": "full-width colon '：' — YAML needs ':'", "，": "full-width comma '，' — YAML needs ','"}


_BLOCK_START = re.compile(r":\s+[|>][-+0-9]*\s*$")


def typing_slips(text: str) -> list[tuple[int, str]]:
    """``(line, hint)`` for each line with a full-width ':' or ',' outside quotes and comments, or a tab."""
    out: list[tuple[int, str]] = []
    block: int | None = None  # the indent of the key whose block scalar (| or >) we are in
    for n, raw in enumerate(text.splitlines(), start=1):
        indent = len(raw) - len(raw.lstrip(" "))
        if block is not None and (not raw.strip() or indent > block):
            continue  # block text is words, not YAML: a full-width comma there is Chinese
        block = None
        code = code_part(raw)
        if _BLOCK_START.search(code):
            block = indent
        if "\t" in code:
            out.append((n, "a tab — YAML indents and separates with spaces only"))
            continue
        for mark, hint in _FULL_WIDTH.items():
            if mark in code:
                out.append((n, hint))
                break
    return out


def code_part(line: str) -> str:
    """The line without its quoted strings and its comment."""
    out: list[str] = []
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"" and (i == 0 or line[i - 1] in " \t[{,:-"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        else:
            out.append(ch)
    return "".join(out)


def _after(text: str, marker: str) -> str:
    rest = text.split(marker, 1)[1] if marker in text else ""
    first = rest.strip().splitlines()[0] if rest.strip() else ""
    return f" {first}" if first else ""


def line_of(root: Any, loc: Sequence[int | str]) -> int:
    """1-based line of the node at ``loc`` (a pydantic error location) in a ruamel tree.

    Walks as deep as the tree allows; locations that name no node (union tags,
    missing fields) stop at the deepest node found, whose line is reported.
    """
    node = root
    line = root.lc.line + 1 if isinstance(root, CommentedMap | CommentedSeq) else 1
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedMap | CommentedSeq):
            continue  # a union tag or a missing field: stay on this node
        else:
            break
    return line


def describe_error(err: Any) -> str:
    """A one-line, person-readable message for one pydantic error."""
    loc = ".".join(str(p) for p in err["loc"] if not _is_tag(p))
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{err['loc'][-1]}'" + (
            f" in {_parent(err['loc'])}" if len(err["loc"]) > 1 else ""
        )
    if kind == "missing":
        return f"missing required key '{err['loc'][-1]}'" + (
            f" in {_parent(err['loc'])}" if len(err["loc"]) > 1 else ""
        )
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{loc}: {msg}" if loc else msg


def _is_tag(part: int | str) -> bool:
    return isinstance(part, str) and (part.startswith("function-") or part.endswith("]"))


def _parent(loc: Sequence[int | str]) -> str:
    return ".".join(str(p) for p in loc[:-1] if not _is_tag(p)) or "the file"


def problems_from(path: Path, root: Any, exc: ValidationError) -> list[Problem]:
    """Every error of ``exc`` as a Problem at its line, in file order."""
    seen: set[tuple[int, str]] = set()
    out: list[Problem] = []
    for err in exc.errors():
        problem = Problem(path, line_of(root, err["loc"]), describe_error(err))
        key = (problem.line, problem.message)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return sorted(out, key=lambda p: p.line)


def load_model(path: Path, model: type[M]) -> tuple[M, Any]:
    """Load and validate ``path`` as ``model``; returns the model and the ruamel tree (for lines)."""
    root = read_yaml(path)
    if root is None:
        raise ConfigError([Problem(path, 0, "the file is empty")])
    try:
        return model.model_validate(root), root
    except ValidationError as exc:
        problems = problems_from(path, root, exc)
        slips = typing_slips(path.read_text(encoding="utf-8"))
        problems += [Problem(path, n, hint) for n, hint in slips]  # the likely cause, at its own line
        raise ConfigError(sorted(problems, key=lambda p: p.line)) from None
