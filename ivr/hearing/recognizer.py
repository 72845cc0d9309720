"""Streaming recognition of one caller: vosk fed 20 ms frames, partials while they speak, a final per utterance.

The hearing layer decides where an utterance ends (the line goes quiet) and
calls ``finish``; everything fed since the last ``finish`` is one utterance
and gives one ``Final``. vosk's own endpointer may cut a long utterance at a
pause; those pieces are joined, so the final holds every word.

With a grammar (the closed set of phrases a listening step expects) vosk
decodes only those phrases, far faster than free decoding on small models.
The grammar goes to vosk as JSON with non-ASCII characters kept as they are:
vosk does not decode ``\\uXXXX`` escapes and would drop every word as out of
vocabulary. A grammar word the model does not know is refused here, not
silently dropped.

Results are caller data: nothing here logs them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import vosk

from ivr.hearing.speech_model import SpeechModel
from ivr.media import SAMPLE_RATE

UNKNOWN = "[unk]"  # vosk's garbage word: matches speech outside the grammar, where the model has it


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word; times in seconds of audio fed to the recognizer."""

    text: str
    confidence: float  # 0..1
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class Partial:
    """What the caller has said so far in the current utterance (may still change)."""

    kind: ClassVar[str] = "partial"
    text: str


@dataclass(frozen=True, slots=True)
class Final:
    """One whole utterance: its text, its words, and their mean confidence (0.0 when nothing was heard)."""

    kind: ClassVar[str] = "final"
    text: str
    words: tuple[Word, ...] = ()
    confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class Failed:
    """Recognition broke for this call; the bot apologises and falls back to keys. No caller data."""

    kind: ClassVar[str] = "failed"
    reason: str


RecognitionResult = Partial | Final | Failed


def grammar_json(phrases: Sequence[str], *, with_unknown: bool) -> str:
    """The grammar as vosk reads it: a JSON list, non-ASCII unescaped, ``[unk]`` last if wanted."""
    items = list(dict.fromkeys(" ".join(p.split()) for p in phrases))
    if with_unknown:
        items.append(UNKNOWN)
    return json.dumps(items, ensure_ascii=False)


def _words(result: dict[str, Any]) -> list[Word]:
    return [
        Word(
            text=str(w["word"]),
            confidence=min(1.0, max(0.0, float(w["conf"]))),
            start_s=float(w["start"]),
            end_s=float(w["end"]),
        )
        for w in result.get("result", ())
    ]


class Recognizer:
    """vosk's KaldiRecognizer for one caller; not thread-safe (one worker owns it).

    ``grammar``: the phrases to listen for, or None for free decoding. A model
    without a lookahead graph cannot compile one and decodes freely
    (``grammar_json`` is then None). Raises ``ValueError`` for an empty
    grammar or one with words the model does not know.
    """

    def __init__(
        self,
        model: SpeechModel,
        sample_rate: int = SAMPLE_RATE,
        grammar: Sequence[str] | None = None,
    ) -> None:
        self.grammar_json: str | None = None
        if grammar is not None:
            if isinstance(grammar, str):
                raise TypeError("grammar is a sequence of phrases, not one string")
            if not any(p.strip() for p in grammar):
                raise ValueError("a grammar needs at least one phrase")
            unknown = model.unknown_words(grammar)
            if unknown:
                raise ValueError(f"the speech model does not know these grammar words: {', '.join(unknown)}")
            if model.supports_grammar:
                self.grammar_json = grammar_json(
                    [p for p in grammar if p.strip()], with_unknown=model.knows(UNKNOWN)
                )
        if self.grammar_json is None:
            self._vosk = vosk.KaldiRecognizer(model.vosk_model, float(sample_rate))
        else:
            self._vosk = vosk.KaldiRecognizer(model.vosk_model, float(sample_rate), self.grammar_json)
        self._vosk.SetWords(True)
        self._heard: list[Word] = []  # words of this utterance in pieces vosk has already closed
        self._last_partial = ""

    def feed(self, pcm: bytes) -> Partial | None:
        """Decode 16-bit PCM; a ``Partial`` when the text so far has changed, else None."""
        if self._vosk.AcceptWaveform(pcm):
            self._heard.extend(_words(json.loads(self._vosk.Result())))
            text = self._heard_text()
        else:
            partial = str(json.loads(self._vosk.PartialResult()).get("partial", ""))
            text = " ".join(t for t in (self._heard_text(), partial) if t)
        if text == self._last_partial:
            return None
        self._last_partial = text
        return Partial(text)

    def finish(self) -> Final:
        """The utterance fed since the last ``finish``; the recognizer is ready for the next one."""
        words = (*self._heard, *_words(json.loads(self._vosk.FinalResult())))
        self._heard = []
        self._last_partial = ""
        confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
        return Final(" ".join(w.text for w in words), words, confidence)

    def _heard_text(self) -> str:
        return " ".join(w.text for w in self._heard)
