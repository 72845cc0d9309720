"""Errors a person can act on.

IvrError
 ├── ConfigError          a file an admin edits is wrong; carries file:line problems
 └── MissingPartError     something the bot needs is not installed (espeak-ng, a model)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a file, at a line (1-based; 0 when the file as a whole is wrong)."""

    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class IvrError(Exception):
    """Base of every error the bot raises on purpose."""


class ConfigError(IvrError):
    """One or more problems in files an admin edits."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class MissingPartError(IvrError):
    """A part the bot needs is not installed; the message says what to install."""
