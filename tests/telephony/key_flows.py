"""The small flow many SIP tests answer with: the bot thanks the caller, then waits for one key (or
gives up) and says goodbye. Tests differ only in its silence ladder, its goodbye wait, the key and how
long it rings; ``key_flow`` writes one with those, instead of a copy of the YAML in each test file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

Rung = tuple[str, str, bool]  # after (a duration: "10s"), the prompt said, whether the bot hangs up then


def key_flow(
    path: Path,
    name: str,
    *,
    key: str = "0",
    silence: Sequence[Rung] = (),
    goodbye_wait: str | None = None,
    rings: int = 0,
    ring: str | None = None,
) -> Path:
    """Write the flow to ``path`` and return it. ``ring``: the cadence as the flow writes it
    (``{on: 1s, off: 2s}``), for ``rings`` above 0."""
    answer = [f"  rings: {rings}"] + ([f"  ring: {ring}"] if ring is not None else [])
    line: list[str] = []
    if silence:
        line.append("  silence:")
        for after, say, hang_up in silence:
            line.append(f"    - {{after: {after}, say: {say}{', then: hangup' if hang_up else ''}}}")
    if goodbye_wait is not None:
        line.append(f"  goodbye_wait: {goodbye_wait}")
    text = "\n".join(
        [
            f"flow: {name}",
            f"description: thanks the caller, waits for key {key}, says goodbye and hangs up",
            "locale: zh-CN",
            "answer:",
            *answer,
            *(["line:", *line] if line else []),
            "steps:",
            "  start:",
            "    say: polite.thanks",
            "    next: menu",
            "  menu:",
            "    listen:",
            "      keys:",
            f'        "{key}": bye',
            "      give_up: bye",
            "  bye:",
            "    hangup: goodbye",
        ]
    )
    path.write_text(text + "\n", encoding="utf-8")
    return path
