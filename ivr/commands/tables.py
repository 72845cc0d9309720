"""The terminal the commands print tables to."""

from __future__ import annotations

from rich.console import Console


def table_console() -> Console:
    """Rich output; when piped (not a terminal) wide enough that rows are not folded."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, 160))
    return console
