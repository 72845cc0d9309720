"""A listening step's grammar: the closed set of phrases the recogniser decodes while the step listens.

A listening step whose intents are phrases is a closed set, and vosk decodes
a closed set (grammar mode) ten to thirty times faster than free speech on
the small models, and more accurately. ``grammar_for`` turns a step's intent
phrases into a grammar the model can compile:

- a phrase is split into the model's words: at spaces, and a run the model
  does not know as one word (Chinese is written without spaces, 我想订房) into
  the fewest words it does know (我 想 订房); a piece that cannot be split
  into known words is dropped, the rest of the phrase kept, since vosk could
  not hear it in free decoding either;
- phrases that end up empty are dropped, the rest kept once each, in file order;
- a step that does not listen, listens for keys alone, or has no phrase left
  gets None: free decoding.

``StepGrammars`` caches the grammars of one flow, for the tick: the first
time a step is entered costs a few vocabulary look-ups, later times nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from ivr.flows.schema import NO_PHRASES, YES_PHRASES, Flow
from ivr.hearing.speech_model import SpeechModel

MAX_WORD_CHARS = 12  # the longest word looked up when splitting an unspaced run


def _split(run: str, knows: Callable[[str], bool]) -> list[str] | None:
    """``run`` as the fewest words ``knows`` accepts (longest first on ties), or None."""
    if knows(run):
        return [run]
    n = len(run)
    best: list[list[str] | None] = [None] * (n + 1)  # best[i]: the words of run[i:]
    best[n] = []
    for i in range(n - 1, -1, -1):
        for j in range(min(n, i + MAX_WORD_CHARS), i, -1):
            rest = best[j]
            if rest is None or not knows(run[i:j]):
                continue
            candidate = [run[i:j], *rest]
            current = best[i]
            if current is None or len(candidate) < len(current):
                best[i] = candidate
    return best[0]


def model_words(phrase: str, model: SpeechModel) -> list[str]:
    """The words of ``phrase`` the model can hear (unknown pieces dropped)."""
    words: list[str] = []
    for token in phrase.split():
        split = _split(token, model.knows)
        if split is not None:
            words += split
    return words


def grammar_for(flow: Flow, step_name: str, model: SpeechModel) -> list[str] | None:
    """The phrases ``step_name`` listens for, in the model's words; None: free decoding.

    None when the step is missing, is not a listening step, or none of its
    intent phrases has a word the model knows.
    """
    step = flow.steps.get(step_name)
    if step is None:
        return None
    said: list[str] = []
    if step.listen is not None:
        said = [p for intent in step.listen.heard_intents().values() for p in intent.phrases]
    elif step.callback is not None:  # its questions are yes or no (the number is keyed)
        said = [*YES_PHRASES, *NO_PHRASES]
    elif step.confirm is not None:  # 还需要什么帮助: a yes, a no, or what the next step listens for
        said = [*YES_PHRASES, *NO_PHRASES]
        follow = flow.steps.get(step.next or "")
        if follow is not None and follow.listen is not None:
            said += [p for intent in follow.listen.heard_intents().values() for p in intent.phrases]
    else:
        return None
    phrases: dict[str, None] = {}
    for phrase in said:
        words = model_words(phrase, model)
        if words:
            phrases[" ".join(words)] = None
    return list(phrases) or None


class StepGrammars:
    """``grammar_for`` one flow and model, cached per step; call it with a step name."""

    def __init__(self, flow: Flow, model: SpeechModel) -> None:
        self.flow = flow
        self.model = model
        self._cache: dict[str, tuple[str, ...] | None] = {}

    def listens(self, step_name: str) -> bool:
        """Whether ``step_name`` listens: a listening step, a callback's questions, a finish step's
        confirm (the recogniser switches only for those)."""
        step = self.flow.steps.get(step_name)
        return step is not None and (
            step.listen is not None or step.callback is not None or step.confirm is not None
        )

    def __call__(self, step_name: str) -> tuple[str, ...] | None:
        if step_name not in self._cache:
            grammar = grammar_for(self.flow, step_name, self.model)
            self._cache[step_name] = None if grammar is None else tuple(grammar)
        return self._cache[step_name]
