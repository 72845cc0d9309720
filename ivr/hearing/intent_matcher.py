"""Matching what a caller said to a listening step's intents, tolerant of recognition errors.

Each phrase is aligned against the best stretch of the recognised text, unit by unit
(see ``ivr.hearing.pinyin_text``): the same character costs nothing, a homophone
(定房 for 订房) little, a near sound (zh/z, -ng/-n) a little more, a sound with the
same initial more again; a phrase character the text lacks (a dropped character) and
an extra character inside the stretch each cost most of a miss. Words around the
stretch (嗯, 那个, 请问 …) cost nothing.

A phrase's score is ``1 - cost / len(phrase)``, in [0, 1]. Phrases scoring under the
threshold do not count; of the rest, the one that covers the most of what was said
wins (``len(phrase) * score``), so 如家和锦江 beats 如家; then the higher score, then
file order. With the default threshold a two-character phrase must be heard
whole, as homophones at worst; a four-character one survives one wrong or missing
character.

Build one ``IntentMatcher`` per listening step (``match_listen`` caches them); the
phrases' sounds are worked out once, the heard text's once per utterance.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ivr.flows.schema import Listen
from ivr.hearing.pinyin_text import Unit, plain, units

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.7

HOMOPHONE = 0.1  # same toneless pinyin, another character
NEAR = 0.3  # the same after folding zh/z, ch/c, sh/s, n/l, -ng/-n
SAME_INITIAL = 0.7  # only the (folded) initial agrees
MISS = 1.0  # nothing alike
DROPPED = 0.8  # a phrase character the text lacks
EXTRA = 0.7  # a text character inside the matched stretch that the phrase lacks


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The intent heard, how sure (``score`` in [0, 1]) and the phrase that matched."""

    intent: str
    score: float
    phrase: str


@dataclass(frozen=True, slots=True)
class _Phrase:
    intent: str
    text: str
    plain: str
    units: tuple[Unit, ...]
    order: int


def _cost(p: Unit, t: Unit) -> float:
    if p.char == t.char:
        return 0.0
    if p.syllable == t.syllable:
        return HOMOPHONE
    if p.near == t.near:
        return NEAR
    if p.initial and p.initial == t.initial:
        return SAME_INITIAL
    return MISS


class _Heard:
    """The keys of one utterance's units, as sets, for bounding a phrase's cost before aligning."""

    __slots__ = ("chars", "initials", "nears", "plain", "syllables", "units")

    def __init__(self, text: str) -> None:
        self.units = units(text)
        self.plain = plain(text)
        self.chars = {u.char for u in self.units}
        self.syllables = {u.syllable for u in self.units}
        self.nears = {u.near for u in self.units}
        self.initials = {u.initial for u in self.units if u.initial}

    def least_cost(self, phrase: tuple[Unit, ...]) -> float:
        """A lower bound on the alignment cost: each phrase unit at its best anywhere in the text."""
        total = 0.0
        for p in phrase:
            if p.char in self.chars:
                continue
            if p.syllable in self.syllables:
                total += HOMOPHONE
            elif p.near in self.nears:
                total += NEAR
            elif p.initial and p.initial in self.initials:
                total += SAME_INITIAL
            else:
                total += DROPPED
        return total


def _align(phrase: tuple[Unit, ...], heard: tuple[Unit, ...]) -> float:
    """The least cost of ``phrase`` against any stretch of ``heard`` (free start and end)."""
    previous = [0.0] * (len(heard) + 1)
    for p in phrase:
        current = [previous[0] + DROPPED]
        for j, t in enumerate(heard, start=1):
            current.append(
                min(
                    previous[j - 1] + _cost(p, t),
                    previous[j] + DROPPED,
                    current[j - 1] + EXTRA,
                )
            )
        previous = current
    return min(previous)


class IntentMatcher:
    """One listening step's intents: ``{intent: phrases}``, in file order."""

    def __init__(self, intents: Mapping[str, Sequence[str]], threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold {threshold:g} is outside (0, 1]")
        self.threshold = threshold
        phrases: list[_Phrase] = []
        for intent, texts in intents.items():
            for text in texts:
                phrase_units = units(text)
                if phrase_units:
                    phrases.append(_Phrase(intent, text, plain(text), phrase_units, len(phrases)))
        self._phrases = tuple(phrases)

    @property
    def intents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.intent for p in self._phrases))

    def match(self, text: str) -> IntentMatch | None:
        """The intent heard in ``text``, or None when nothing reaches the threshold."""
        heard = _Heard(text)
        if not heard.units:
            return None
        best: tuple[float, float, int] | None = None  # (coverage, score, -order)
        best_phrase: _Phrase | None = None
        for phrase in self._phrases:
            size = len(phrase.units)
            bound = heard.least_cost(phrase.units)
            if 1.0 - bound / size < self.threshold:
                continue
            if best is not None and size - bound < best[0]:
                continue  # cannot cover as much as the best so far
            cost = 0.0 if phrase.plain in heard.plain else _align(phrase.units, heard.units)
            score = max(0.0, 1.0 - cost / size)
            if score < self.threshold:
                continue
            key = (round(size * score, 6), round(score, 6), -phrase.order)
            if best is None or key > best:
                best, best_phrase = key, phrase
        if best is None or best_phrase is None:
            log.debug("no intent in %r", text)
            return None
        found = IntentMatch(best_phrase.intent, best[1], best_phrase.text)
        log.debug("heard %r as %s (%.2f, %r)", text, found.intent, found.score, found.phrase)
        return found


_MATCHERS: dict[int, tuple[Listen, IntentMatcher]] = {}
_MAX_CACHED = 256


def matcher_for(listen: Listen) -> IntentMatcher:
    """The matcher for a listening step, built on first use (flows are immutable once loaded)."""
    cached = _MATCHERS.get(id(listen))
    if cached is not None and cached[0] is listen:
        return cached[1]
    if len(_MATCHERS) >= _MAX_CACHED:
        _MATCHERS.clear()
    matcher = IntentMatcher({name: intent.phrases for name, intent in listen.intents.items()})
    _MATCHERS[id(listen)] = (listen, matcher)
    return matcher


def match_listen(listen: Listen, text: str) -> IntentMatch | None:
    """What ``ivr.call.intents.match_intent`` does, fuzzily: the intent heard in ``text``, or None."""
    return matcher_for(listen).match(text)
