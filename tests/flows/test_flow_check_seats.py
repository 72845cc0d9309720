"""A flow checked on its own is checked against the seats the line would use with it."""

from __future__ import annotations

import shutil
from pathlib import Path

from ivr.errors import Problem
from ivr.flows.checks import check

FLOW = """\
flow: alone
steps:
  start:
    say:
      prompt: staff_id.tell
      vars: {staff_id: "幺零零三"}
    next: put_through
  put_through:
    transfer:
      skill: booking
    next: bye
  bye:
    hangup: goodbye
"""
SEATS = """\
seats:
  - id: "1001"
    name: 王小明
    uri: "sip:1001@127.0.0.1:5091"
    skills: [reception]
  - id: "1003"
    name: 李主管
    uri: "sip:1003@127.0.0.1:5093"
    role: supervisor
"""


def _root(tmp_path: Path, repo: Path) -> Path:
    (tmp_path / "prompts").mkdir()
    shutil.copy(repo / "prompts" / "zh-CN.yaml", tmp_path / "prompts" / "zh-CN.yaml")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "alone.yaml").write_text(FLOW, encoding="utf-8")
    return tmp_path


def _mine(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems if "audio" not in str(p)]


def test_the_seats_file_named_in_ivr_toml_is_the_one_checked(tmp_path: Path, repo: Path) -> None:
    root = _root(tmp_path, repo)
    (root / "staff").mkdir()
    (root / "staff" / "people.yaml").write_text(SEATS, encoding="utf-8")
    (root / "ivr.toml").write_text('[line]\nflow = "flows/alone.yaml"\nseats = "staff/people.yaml"\n')
    found = _mine(check([root / "flows" / "alone.yaml"], root).problems)
    flow = root / "flows" / "alone.yaml"
    assert found == [
        f"{flow}:4: staff_id: 幺零零三 is a supervisor's number (1003) (from {root / 'staff' / 'people.yaml'}); "
        "the handbook (line 36) never gives it to a caller",
        f"{flow}:10: transfer to skill 'booking': no seat in {root / 'staff' / 'people.yaml'} has it; "
        "give a seat that skill, or transfer to one a seat has",
    ]


def test_without_ivr_toml_the_seats_file_beside_the_flow_is_checked(tmp_path: Path, repo: Path) -> None:
    root = _root(tmp_path, repo)
    (root / "flows" / "seats.yaml").write_text(SEATS, encoding="utf-8")
    found = _mine(check([root / "flows" / "alone.yaml"], root).problems)
    assert len(found) == 2 and "supervisor's number (1003)" in found[0] and "skill 'booking'" in found[1]


def test_a_flow_with_no_seats_file_anywhere_is_checked_without_seats(tmp_path: Path, repo: Path) -> None:
    root = _root(tmp_path, repo)
    assert _mine(check([root / "flows" / "alone.yaml"], root).problems) == []


def test_a_prompt_that_speaks_a_supervisors_number_in_words_is_caught(tmp_path: Path, repo: Path) -> None:
    root = _root(tmp_path, repo)
    (root / "flows" / "seats.yaml").write_text(SEATS, encoding="utf-8")
    catalog = root / "prompts" / "zh-CN.yaml"
    text = catalog.read_text(encoding="utf-8")
    old = 'text: "请您稍等。"'
    assert text.count(old) == 1
    catalog.write_text(text.replace(old, 'text: "请您稍等,或拨幺零零三。"'), encoding="utf-8")
    line = next(
        n for n, t in enumerate(catalog.read_text(encoding="utf-8").splitlines(), 1) if "幺零零三" in t
    )
    found = _mine(check([root / "flows"], root).problems)
    assert (
        f"{catalog}:{line}: prompt 'desk.please_wait' speaks 1003, a supervisor's number "
        f"(from {root / 'flows' / 'seats.yaml'}); the handbook (line 36) never gives it out"
    ) in found
