"""Chinese text as units the intent matcher compares: a character and its toneless pinyin.

Recognition errors in Mandarin are mostly errors of writing, not of sound: 订房 heard as
定房, 押金 as 压金. Comparing by sound as well as by character lets a phrase match what
the recogniser wrote. Each unit carries three keys, from strict to loose:

- ``syllable``: the toneless pinyin (``ding``), so homophones compare equal;
- ``near``: the syllable with the commonest regional mergers folded
  (zh/z, ch/c, sh/s, n/l; -ang/-an, -eng/-en, -ing/-in), so 是/四 and 心/星 compare equal;
- ``initial``: the folded initial alone (``d``), for a rougher likeness.

Digits read as Chinese digits (114 → 一一四) so a typed and a spoken number compare;
Latin letters are units of their own; punctuation, spaces and symbols are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")
_HAN = r"\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_KEEP = re.compile(rf"[{_HAN}\uac00-\ud7a3a-z]")  # Han, Hangul syllables (the test model), ASCII letters
_HAN_RUN = re.compile(rf"[{_HAN}]+")
_INITIALS = tuple(
    [
        "zh",
        "ch",
        "sh",
        "b",
        "p",
        "m",
        "f",
        "d",
        "t",
        "n",
        "l",
        "g",
        "k",
        "h",
        "j",
        "q",
        "x",
        "r",
        "z",
        "c",
        "s",
        "y",
        "w",
    ]
)  # two-letter ones first
_FOLD_INITIAL = {"zh": "z", "ch": "c", "sh": "s", "n": "l"}


@dataclass(frozen=True, slots=True)
class Unit:
    char: str
    syllable: str
    near: str
    initial: str


def plain(text: str) -> str:
    """The characters that count: Han characters and lower-case letters, digits as Chinese digits."""
    folded = unicodedata.normalize("NFKC", text).lower().translate(_DIGITS)
    return "".join(_KEEP.findall(folded))


def _split(syllable: str) -> tuple[str, str]:
    for initial in _INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            return initial, syllable[len(initial) :]
    return "", syllable


@lru_cache(maxsize=8192)
def _unit(char: str, syllable: str) -> Unit:
    initial, final = _split(syllable)
    if final.endswith("ng") and not final.endswith("ong") and len(final) > 2:
        final = final[:-1]
    folded = _FOLD_INITIAL.get(initial, initial)
    return Unit(char, syllable, folded + final, folded)


@lru_cache(maxsize=2048)
def units(text: str) -> tuple[Unit, ...]:
    """``text`` as units, one per character kept by ``plain``; readings use the whole text as context."""
    kept = plain(text)
    readings: list[str] = list(kept)
    for run in _HAN_RUN.finditer(kept):
        syllables = lazy_pinyin(run.group(), style=Style.NORMAL)
        if len(syllables) == len(run.group()):
            readings[run.start() : run.end()] = syllables
        else:  # characters without a reading were kept together: read them one by one
            readings[run.start() : run.end()] = [lazy_pinyin(c, style=Style.NORMAL)[0] for c in run.group()]
    return tuple(_unit(c, r) for c, r in zip(kept, readings, strict=True))
