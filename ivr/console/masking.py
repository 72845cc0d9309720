"""Caller numbers on the console: in full only to the seat taking the call and to shift leaders."""

from __future__ import annotations


def masked(number: str | None) -> str:
    """``13812345678`` → ``138****5678``: the first three and last four digits; shorter numbers keep less."""
    if not number:
        return ""
    if len(number) >= 8:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    keep = max(1, len(number) // 4)
    return number[:keep] + "*" * (len(number) - 2 * keep) + number[-keep:]
