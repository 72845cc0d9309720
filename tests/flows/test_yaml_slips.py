"""Typing slips a Chinese input method makes in YAML are named as the cause, at their line."""

from __future__ import annotations

from ivr.files import typing_slips


def test_full_width_marks_in_a_block_of_words_are_not_slips() -> None:
    """Chinese words in a ``>-`` block (a prompt's ``new:`` note) may use ，and ：; keys and lists may not."""
    text = "a: >-\n  中文，逗号：冒号\n  还是\nb： 1\nc: [x，y]\nd: |\n\n  好，\ne:\tx\n"
    assert [n for n, _ in typing_slips(text)] == [4, 5, 9]
