"""Matching what a caller said to a listening step's intents, tolerant of recognition errors.

Each phrase is aligned against the best stretch of the recognised text, unit by unit
(see ``ivr.hearing.pinyin_text``): the same character costs nothing, a homophone
(定房 for 订房) little, a near sound (zh/z, -ng/-n) a little more, a sound with the
same initial more again, anything else, or a phrase character the text lacks, a
whole miss; an extra character inside the stretch costs most of one. Words around
the stretch (嗯, 那个, 请问 …) cost nothing.

A phrase's score is ``1 - cost / len(phrase)``, in [0, 1]; under the threshold it
does not count. With the default threshold a two-character phrase must be heard
whole, as homophones or near sounds at worst; a three-character one may have one
character heard by a sound that shares its initial, or one extra character; a
four-character one survives one wrong or missing character (入往时间 for 入住时间).

Of the phrases that count, the first in file order wins unless another dominates it:
over the same words, one that covers more of them (如家和锦江 over 如家), where a
wrong or missing character counts against a phrase twice and an extra word once;
elsewhere in the utterance, one that covers more and matches better. So separate
mentions go by the flow's order (我想订一间如家酒店: 如家, listed before 订一间),
as with exact phrase matching.

Build one ``IntentMatcher`` per listening step (``match_listen`` caches them); the
phrases' sounds are worked out once, the heard text's once per utterance.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ivr.flows.schema import NO_PHRASES, YES_PHRASES, Listen
from ivr.hearing.pinyin_text import Unit, plain, units

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.7

HOMOPHONE = 0.1  # same toneless pinyin, another character
NEAR = 0.3  # the same after folding zh/z, ch/c, sh/s, n/l, -ng/-n
SAME_INITIAL = 0.7  # only the (folded) initial agrees
MISS = 1.0  # nothing alike
DROPPED = 1.0  # a phrase character the text lacks
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

    __slots__ = ("_rows", "chars", "initials", "nears", "plain", "syllables", "units")

    def __init__(self, text: str) -> None:
        self.units = units(text)
        self.plain = plain(text)
        self.chars = {u.char for u in self.units}
        self.syllables = {u.syllable for u in self.units}
        self.nears = {u.near for u in self.units}
        self.initials = {u.initial for u in self.units if u.initial}
        self._rows: dict[Unit, list[float]] = {}

    def row(self, p: Unit) -> list[float]:
        """The cost of phrase unit ``p`` heard as each text unit (phrases share units: cached)."""
        row = self._rows.get(p)
        if row is None:
            row = self._rows[p] = [_cost(p, t) for t in self.units]
        return row

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


@dataclass(frozen=True, slots=True)
class _Hit:
    phrase: _Phrase
    score: float
    coverage: float  # how much of what was heard the phrase accounts for (see IntentMatcher._hit)
    start: int  # the stretch of heard units it matched, [start, end)
    end: int

    def dominates(self, other: _Hit) -> bool:
        """Over the same words: covers more, or as much and better; elsewhere: covers more and better."""
        if self.start < other.end and other.start < self.end:
            return (self.coverage, self.score) > (other.coverage, other.score)
        return self.coverage > other.coverage and self.score > other.score


def _align(rows: list[list[float]], size: int) -> tuple[float, int, int, int]:
    """The least cost of a phrase against any stretch of the heard text (free start and end).

    ``rows[i][j]`` is the cost of phrase unit i heard as text unit j. Returns (cost,
    extra text units inside the stretch, start, end) of the best stretch, ``[start, end)``.
    """
    cost = [0.0] * (size + 1)
    extras = [0] * (size + 1)
    start = list(range(size + 1))
    for row in rows:
        new_cost, new_extras, new_start = [cost[0] + DROPPED], [extras[0]], [start[0]]
        for j in range(1, size + 1):
            best, n, origin = cost[j - 1] + row[j - 1], extras[j - 1], start[j - 1]
            dropped = cost[j] + DROPPED
            if dropped < best:
                best, n, origin = dropped, extras[j], start[j]
            extra = new_cost[j - 1] + EXTRA
            if extra < best:
                best, n, origin = extra, new_extras[j - 1] + 1, new_start[j - 1]
            new_cost.append(best)
            new_extras.append(n)
            new_start.append(origin)
        cost, extras, start = new_cost, new_extras, new_start
    end = min(range(size + 1), key=cost.__getitem__)
    return cost[end], extras[end], start[end], end


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
        # a phrase can reach the threshold only if one of its units sounds near some heard unit
        # (otherwise every unit costs SAME_INITIAL or more): index the phrases by those sounds
        self._by_near: dict[str, list[int]] = {}
        for i, phrase in enumerate(self._phrases):
            for near in dict.fromkeys(u.near for u in phrase.units):
                self._by_near.setdefault(near, []).append(i)

    @property
    def intents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.intent for p in self._phrases))

    def match(self, text: str) -> IntentMatch | None:
        """The intent heard in ``text``, or None when nothing reaches the threshold."""
        heard = _Heard(text)
        if not heard.units:
            return None
        if self.threshold > 1.0 - SAME_INITIAL:
            candidates = sorted({i for near in heard.nears for i in self._by_near.get(near, ())})
        else:  # so low a threshold that sounds alike in their initials alone may reach it
            candidates = list(range(len(self._phrases)))
        hits = [hit for i in candidates if (hit := self._hit(self._phrases[i], heard)) is not None]
        # file order, except that a phrase loses to one that dominates it (see _Hit.dominates)
        winner = next((h for h in hits if not any(o.dominates(h) for o in hits)), None)
        if winner is None:
            log.debug("no intent in %r", text)
            return None
        found = IntentMatch(winner.phrase.intent, round(winner.score, 6), winner.phrase.text)
        log.debug("heard %r as %s (%.2f, %r)", text, found.intent, found.score, found.phrase)
        return found

    def _hit(self, phrase: _Phrase, heard: _Heard) -> _Hit | None:
        size = len(phrase.units)
        if 1.0 - heard.least_cost(phrase.units) / size < self.threshold:
            return None
        at = heard.plain.find(phrase.plain)
        if at >= 0:
            return _Hit(phrase, 1.0, float(size), at, at + size)
        cost, extras, start, end = _align([heard.row(p) for p in phrase.units], len(heard.units))
        score = 1.0 - cost / size
        if score < self.threshold:
            return None
        # a wrong or missing character counts against the phrase twice, an extra word once
        return _Hit(phrase, score, size - 2 * cost + EXTRA * extras, start, end)


_MATCHERS: dict[int, tuple[Listen, IntentMatcher]] = {}
_MAX_CACHED = 256


def matcher_for(listen: Listen) -> IntentMatcher:
    """The matcher for a listening step, built on first use (flows are immutable once loaded)."""
    cached = _MATCHERS.get(id(listen))
    if cached is not None and cached[0] is listen:
        return cached[1]
    if len(_MATCHERS) >= _MAX_CACHED:
        _MATCHERS.clear()
    matcher = IntentMatcher({name: intent.phrases for name, intent in listen.heard_intents().items()})
    _MATCHERS[id(listen)] = (listen, matcher)
    return matcher


def match_listen(listen: Listen, text: str) -> IntentMatch | None:
    """The intent heard in ``text`` for a listening step, or None (cached matcher per step)."""
    return matcher_for(listen).match(text)


_YES_NO = IntentMatcher({"yes": YES_PHRASES, "no": NO_PHRASES})


def match_yes_no(text: str) -> IntentMatch | None:
    """A yes (intent ``yes``: 好的, 可以, 需要 …) or a no (``no``: 不用, 不需要, 没有了 …) in ``text``."""
    return _YES_NO.match(text)
