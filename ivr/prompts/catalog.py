"""The prompt catalog: prompt id → the exact words, and where in the handbook they come from.

A prompt's ``text`` may hold:

- ``{name}`` placeholders: company and brand names from the catalog's
  ``placeholders`` (filled when audio is rendered) or call variables such as
  ``{position}`` and ``{minutes}`` (filled when the prompt is played);
- ``[停顿]`` or ``[停顿 1.5s]`` pause marks: real silence in the audio
  (default ``DEFAULT_PAUSE_S``).

Handbook-sourced prompts name their ``source`` lines and the handbook text the
bot leaves out (stage directions such as ``(停顿)``, alternatives such as
``先生/小姐`` that a bot cannot choose between); the fidelity test checks the
rest against the handbook word for word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml.comments import CommentedMap

from ivr.errors import ConfigError, Problem
from ivr.files import problems_from, read_yaml, typing_slips

DEFAULT_PAUSE_S = 0.8
PROMPT_ID = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
PAUSE = re.compile(r"\[停顿(?:\s+(\d+(?:\.\d+)?)s)?\]")

# Call variables a prompt may hold, filled at play time, and how each is spoken.
CALL_VARIABLES: dict[str, Literal["number", "digits"]] = {
    "position": "number",  # place in the queue
    "minutes": "number",  # estimated wait
    "seconds": "number",
    "staff_id": "digits",  # 工号, read digit by digit
    "hotel": "digits",
    "number": "digits",  # a callback number read back to the caller (caller data)
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HandbookSource(Strict):
    """Where a prompt's words stand in the handbook."""

    lines: list[int] = Field(min_length=1, description="handbook line numbers (1-based)")
    omit: list[str] = Field(
        default_factory=list,
        description="handbook text in those lines that the bot does not say "
        "(stage directions, 先生/小姐 alternatives)",
    )


class Placeholder(Strict):
    """A company or brand name: the handbook's stand-in forms and this desk's value."""

    value: str = Field(min_length=1, description="what the bot says, e.g. the company's name")
    handbook: list[str] = Field(min_length=1, description="how the handbook writes it, e.g. **国际")


class Prompt(Strict):
    id: str = Field(pattern=PROMPT_ID)
    text: str = Field(min_length=1, description="the exact words, with {placeholders} and [停顿] marks")
    source: HandbookSource | None = Field(default=None, description="handbook lines the words come from")
    new: str | None = Field(default=None, description="why this is new wording not in the handbook")
    question: str | None = Field(default=None, description="FAQ prompts: the caller's question (handbook)")

    @model_validator(mode="after")
    def _sourced_or_new(self) -> Prompt:
        if (self.source is None) == (self.new is None):
            raise ValueError(
                f"prompt '{self.id}' needs exactly one of 'source' (handbook lines) or 'new' (why new wording)"
            )
        return self

    @property
    def is_faq(self) -> bool:
        return self.id.startswith("faq.")

    @property
    def variables(self) -> list[str]:
        return PLACEHOLDER.findall(self.text)


@dataclass(frozen=True, slots=True)
class Words:
    """A piece of a prompt to speak."""

    text: str


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float


@dataclass(frozen=True, slots=True)
class Variable:
    name: str


Piece = Words | Pause | Variable


class Catalog(Strict):
    locale: str = Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")
    voice: str = Field(default="cmn", description="espeak-ng voice for rendered audio")
    placeholders: dict[str, Placeholder] = Field(default_factory=dict)
    prompts: list[Prompt]

    @field_validator("prompts")
    @classmethod
    def _unique_ids(cls, prompts: list[Prompt]) -> list[Prompt]:
        seen: set[str] = set()
        for p in prompts:
            if p.id in seen:
                raise ValueError(f"prompt id '{p.id}' is defined twice")
            seen.add(p.id)
        return prompts

    @model_validator(mode="after")
    def _known_names(self) -> Catalog:
        for p in self.prompts:
            for name in p.variables:
                if name not in self.placeholders and name not in CALL_VARIABLES:
                    known = sorted([*self.placeholders, *CALL_VARIABLES])
                    raise ValueError(
                        f"prompt '{p.id}' uses {{{name}}}, which is neither a placeholder "
                        f"nor a call variable (known: {', '.join(known)})"
                    )
        return self

    @cached_property
    def by_id(self) -> dict[str, Prompt]:
        return {p.id: p for p in self.prompts}

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self.by_id

    def __iter__(self) -> Iterator[Prompt]:  # type: ignore[override]
        return iter(self.prompts)

    def filled(self, prompt: Prompt) -> str:
        """The prompt's text with company/brand placeholders filled (call variables kept)."""
        return PLACEHOLDER.sub(
            lambda m: self.placeholders[m[1]].value if m[1] in self.placeholders else m[0],
            prompt.text,
        )

    def pieces(self, prompt: Prompt) -> list[Piece]:
        """The filled text cut into words, pauses and call variables, in order."""
        out: list[Piece] = []
        text = self.filled(prompt)
        pos = 0
        marks = sorted([*PAUSE.finditer(text), *PLACEHOLDER.finditer(text)], key=lambda m: m.start())
        for m in marks:
            if m.start() > pos and text[pos : m.start()].strip():
                out.append(Words(text[pos : m.start()].strip()))
            if m.re is PAUSE:
                out.append(Pause(float(m[1]) if m[1] else DEFAULT_PAUSE_S))
            else:
                out.append(Variable(m[1]))
            pos = m.end()
        if text[pos:].strip():
            out.append(Words(text[pos:].strip()))
        return out


def catalog_path(root: Path, locale: str) -> Path:
    return root / "prompts" / f"{locale}.yaml"


def load_catalog(path: Path) -> Catalog:
    """Load and validate a catalog; a ConfigError names file:line for every problem.

    A prompt's own mistakes (an unknown ``{name}``, an id used twice) are reported at that
    prompt's line, not at the top of the file where the catalog as a whole is validated.
    """
    tree = read_yaml(path)
    if tree is None:
        raise ConfigError([Problem(path, 0, "the file is empty")])
    problems = _prompt_problems(path, tree)
    if problems:
        raise ConfigError(problems)
    try:
        return Catalog.model_validate(tree)
    except ValidationError as exc:
        found = problems_from(path, tree, exc)
        found += [Problem(path, n, hint) for n, hint in typing_slips(path.read_text(encoding="utf-8"))]
        raise ConfigError(sorted(found, key=lambda p: p.line)) from None


def _prompt_problems(path: Path, tree: object) -> list[Problem]:
    """Unknown ``{names}`` and ids defined twice, each at its prompt's line (the raw tree, before validation)."""
    if not isinstance(tree, dict) or not isinstance(tree.get("prompts"), list):
        return []  # the schema says what is wrong with the file's shape
    raw = tree.get("placeholders")
    names = set(raw) if isinstance(raw, dict) else set()
    known = sorted([*names, *CALL_VARIABLES])
    out: list[Problem] = []
    seen: dict[str, int] = {}
    for item in tree["prompts"]:
        if not isinstance(item, CommentedMap):
            continue
        text, pid = item.get("text"), str(item.get("id"))
        if "id" in item:
            line = item.lc.key("id")[0] + 1
            if pid in seen:
                out.append(
                    Problem(path, line, f"prompt id '{pid}' is defined twice (first at line {seen[pid]})")
                )
            seen.setdefault(pid, line)
        if isinstance(text, str):
            for name in PLACEHOLDER.findall(text):
                if name not in names and name not in CALL_VARIABLES:
                    out.append(
                        Problem(
                            path,
                            item.lc.key("text")[0] + 1,
                            f"prompt '{pid}' uses {{{name}}}, which is neither a placeholder "
                            f"nor a call variable (known: {', '.join(known)})",
                        )
                    )
    return out


# Prompt ids that tools outside the code look up: the catalog must define them.
REQUIRED_IDS = (
    "greeting",
    "silent.nudge",
    "silent.goodbye",
    "noisy.repeat",
    "noisy.goodbye",
    "quiet.adjust",
    "transfer.to_seat",
    "hold.progress",
    "hold.sorry_wait",
    "anything_else",
    "goodbye",
)
