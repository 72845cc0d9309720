"""What a waiting caller is told about their place is true: the caller who is next hears they are first."""

from __future__ import annotations

from pathlib import Path

from ivr.prompts.catalog import load_catalog
from ivr.prompts.numerals import chinese_number

REPO = Path(__file__).resolve().parents[2]


def test_the_caller_who_is_next_is_told_they_are_first_in_line_not_that_one_is_ahead() -> None:
    catalog = load_catalog(REPO / "prompts" / "zh-CN.yaml")
    words = catalog.filled(catalog.by_id["hold.progress"])
    next_in_line = words.replace("{position}", chinese_number(1))  # SeatQueue.position: 1 is next
    assert "第一位" in next_in_line
    assert "前面" not in next_in_line, "前面还有一位 would tell the next caller someone is ahead"
