"""docs/handbook-scripts.md cannot go stale: every handbook phone script has words, a path and a test
there, and every prompt id, step, setting, conversation test and pytest test it names exists."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from ivr.flows.loader import load_flow
from ivr.flows.schema import Flow
from ivr.prompts.catalog import load_catalog

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "docs" / "handbook-scripts.md"
SHARED_README = REPO.parent / "shared" / "README.md"
CATALOG = REPO / "prompts" / "zh-CN.yaml"
SETTINGS = ("answer.", "line.", "hold.")  # path tokens that name a flow setting, not a step

CODE = re.compile(r"`([^`]+)`")
FLOW_OR_TEST = re.compile(r"`([\w.-]+\.yaml)`|«([^»]+)»|`([^`]+::[^`]+)`")
LINES = re.compile(r"(\d+)(?:–(\d+))?")


@dataclass(frozen=True)
class Row:
    lines: str
    script: str
    words: str
    path: str
    test: str


def _rows() -> list[Row]:
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) != 5 or cells[0] in ("lines", "---"):
            continue
        rows.append(Row(*cells))
    return rows


ROWS = _rows()
IDS = [f"lines {r.lines}: {r.script[:40]}" for r in ROWS]


def _ranges(text: str) -> list[range]:
    return [range(int(a), int(b or a) + 1) for a, b in LINES.findall(text)]


@cache
def _flow(name: str) -> Flow:
    return load_flow(REPO / "flows" / name).flow


def _setting(flow: Flow, dotted: str) -> bool:
    value: object = flow
    for part in dotted.split("."):
        if not hasattr(value, part):
            return False
        value = getattr(value, part)
    return True


def test_the_table_has_rows() -> None:
    assert len(ROWS) > 50


def test_every_range_in_the_shared_readme_has_a_row() -> None:
    listed: list[str] = []
    for line in SHARED_README.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells and re.fullmatch(r"\d+(–\d+)?", cells[0]):
            listed.append(cells[0])
    assert len(listed) > 15, "the shared README's list of handbook lines was not found"
    covered = {n for row in ROWS for r in _ranges(row.lines) for n in r}
    missing = [span for span in listed if not any(n in covered for r in _ranges(span) for n in r)]
    assert missing == []


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_no_cell_is_blank(row: Row) -> None:
    assert all([row.lines, row.script, row.words, row.path, row.test])
    assert _ranges(row.lines)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_every_prompt_id_is_in_the_catalog(row: Row) -> None:
    catalog = {p.id for p in load_catalog(CATALOG).prompts}
    named = CODE.findall(row.words)
    assert named, "the words cell names no prompt id"
    assert [p for p in named if p not in catalog and "/" not in p] == []


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_every_step_and_setting_is_in_its_flow(row: Row) -> None:
    flow: Flow | None = None
    problems = []
    for token in CODE.findall(row.path):
        if token.endswith(".yaml"):
            flow = _flow(token)
        elif "/" in token:
            if not (REPO / token).exists():
                problems.append(f"no file {token}")
        elif flow is None:
            problems.append(f"{token} names no flow before it")
        elif token.startswith(SETTINGS):
            if not _setting(flow, token):
                problems.append(f"{flow.flow} has no setting {token}")
        elif token not in flow.steps:
            problems.append(f"{flow.flow} has no step {token}")
    assert problems == []


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_every_named_test_exists(row: Row) -> None:
    flow: Flow | None = None
    found = 0
    problems = []
    for flow_name, test_name, pytest_id in FLOW_OR_TEST.findall(row.test):
        if flow_name:
            flow = _flow(flow_name)
        elif test_name:
            found += 1
            if flow is None:
                problems.append(f"«{test_name}» names no flow file before it")
            elif test_name not in {t.name for t in flow.tests}:
                problems.append(f"{flow.flow} has no conversation test «{test_name}»")
        else:
            found += 1
            file, _, name = pytest_id.partition("::")
            path = REPO / file
            name = name.split("[")[0]
            if not path.exists() or f"def {name}(" not in path.read_text(encoding="utf-8"):
                problems.append(f"no pytest test {pytest_id}")
    assert found, "the test cell names no test"
    assert problems == []
