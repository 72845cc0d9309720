"""Checking that handbook-sourced prompts keep the handbook's words.

A prompt with a ``source`` must be the handbook's own words: take the named
handbook lines, remove each ``omit`` string (stage directions such as
``(停顿)``, alternatives such as ``先生/小姐``), and the prompt's text must
stand in what is left as one contiguous run, once punctuation and spaces are
set aside on both sides.

On the prompt's side:

- ``[停顿]`` marks are not words; a segment said twice with a pause between
  (``您好![停顿]您好!``) counts once, since the handbook writes such a
  repetition as a direction (``您好!(停顿式重复二遍)``);
- a company or brand ``{placeholder}`` stands for any of its handbook forms
  (``{company}`` for ``**国际`` or ``XX公司``);
- a call variable stands for the handbook's stand-ins for it (``{staff_id}``
  for ``*****`` or ``**``); one with no stand-in never matches.

``ivr flow check`` and the test suite both use :func:`check_prompt`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from ivr.prompts.catalog import PAUSE, PLACEHOLDER, Catalog, Prompt

# How the handbook writes a call variable's value. Keep this tight: every form
# here is a hole that any prompt using the variable may fill.
STAND_INS: dict[str, tuple[str, ...]] = {
    "staff_id": ("*****", "**"),  # 我的工号是*****号 / **工号正在处理业务
}

# Kept by normalise besides letters and digits: the handbook's stand-in mark.
_KEPT = frozenset("*")


def normalise(text: str) -> str:
    """``text`` with punctuation, quotes and whitespace dropped (ASCII and full-width).

    Letters (CJK included), digits and ``*`` (the handbook's stand-in for a
    name or number) are kept; full-width forms are folded to their ASCII
    equivalents first (NFKC).
    """
    folded = unicodedata.normalize("NFKC", text)
    return "".join(c for c in folded if c in _KEPT or unicodedata.category(c)[0] in "LN")


def handbook_lines(path: Path, lines: Sequence[int] | None = None) -> list[str]:
    """The handbook's lines (all, or the 1-based ``lines`` in the order given)."""
    text = path.read_text(encoding="utf-8").splitlines()
    if lines is None:
        return text
    out: list[str] = []
    for n in lines:
        if not 1 <= n <= len(text):
            raise ValueError(f"handbook line {n} is out of range (1..{len(text)})")
        out.append(text[n - 1])
    return out


def spoken_segments(text: str) -> list[str]:
    """The text between pause marks, with a segment repeated right after a pause kept once."""
    out: list[str] = []
    for segment in PAUSE.sub("\x00", text).split("\x00"):
        if not normalise(segment):
            continue  # punctuation only
        if out and normalise(out[-1]) == normalise(segment):
            continue
        out.append(segment)
    return out


def prompt_pattern(catalog: Catalog, prompt: Prompt) -> tuple[str, str | None]:
    """(regex over normalised handbook text, problem) for the prompt's words."""
    parts: list[str] = []
    for segment in spoken_segments(prompt.text):
        pos = 0
        for m in PLACEHOLDER.finditer(segment):
            parts.append(re.escape(normalise(segment[pos : m.start()])))
            name = m[1]
            if name in catalog.placeholders:
                forms: Sequence[str] = catalog.placeholders[name].handbook
            elif name in STAND_INS:
                forms = STAND_INS[name]
            else:
                return "", (
                    f"prompt '{prompt.id}' uses {{{name}}}, which has no handbook form "
                    f"(placeholders: {', '.join(sorted(catalog.placeholders))}; "
                    f"call variables with stand-ins: {', '.join(sorted(STAND_INS))})"
                )
            alternatives = sorted({normalise(f) for f in forms if normalise(f)}, key=len, reverse=True)
            if not alternatives:
                return "", f"prompt '{prompt.id}': {{{name}}} has no handbook form with words in it"
            parts.append("(?:" + "|".join(re.escape(a) for a in alternatives) + ")")
            pos = m.end()
        parts.append(re.escape(normalise(segment[pos:])))
    pattern = "".join(parts)
    if not pattern:
        return "", f"prompt '{prompt.id}' has no words to check"
    return pattern, None


def check_prompt(catalog: Catalog, prompt: Prompt, handbook_text_lines: Sequence[str]) -> str | None:
    """A problem with ``prompt``'s fidelity to the handbook, or None.

    ``handbook_text_lines`` is the whole handbook, one string per line (line 1
    first), as :func:`handbook_lines` returns it. Prompts with ``new`` wording
    have nothing to check.
    """
    source = prompt.source
    if source is None:
        return None
    size = len(handbook_text_lines)
    bad = [n for n in source.lines if not 1 <= n <= size]
    if bad:
        return f"prompt '{prompt.id}': handbook line(s) {bad} out of range (1..{size})"
    raw = "\n".join(unicodedata.normalize("NFKC", handbook_text_lines[n - 1]) for n in source.lines)
    kept = raw
    for omit in source.omit:
        folded = unicodedata.normalize("NFKC", omit)
        if not normalise(folded) and not folded.strip():
            return f"prompt '{prompt.id}': omit entry {omit!r} is empty"
        if folded not in kept:
            return (
                f"prompt '{prompt.id}': omit {omit!r} does not occur in handbook line(s) "
                f"{source.lines} (after the omits before it)\n  handbook: {raw}"
            )
        kept = kept.replace(folded, "")
    if prompt.question is not None and normalise(prompt.question) not in normalise(raw):
        return (
            f"prompt '{prompt.id}': question is not verbatim from handbook line(s) {source.lines}\n"
            f"  question: {normalise(prompt.question)}\n  handbook: {normalise(raw)}"
        )
    pattern, problem = prompt_pattern(catalog, prompt)
    if problem is not None:
        return problem
    target = normalise(kept)
    if re.search(pattern, target) is None:
        return (
            f"prompt '{prompt.id}' is not verbatim from handbook line(s) {source.lines}"
            f"{' less ' + repr(source.omit) if source.omit else ''}\n"
            f"  prompt:   {_readable(pattern)}\n  handbook: {target}"
        )
    return None


def _readable(pattern: str) -> str:
    """The regex shown as text: escapes undone, alternations left as (?:a|b)."""
    return re.sub(r"\\(.)", r"\1", pattern)
