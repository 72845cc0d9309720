"""What the caller says, for the engine: frames to a recogniser while they talk, results back.

``SpeechGate`` watches the line state the engine heard: it feeds the caller's
frames (with 300 ms of pre-roll, since speech is recognised as such a little
after it starts) while the caller talks, and marks the end of each utterance.
Behind it, ``VoskSpeech`` runs the real recogniser on its worker threads, and
``ScriptedSpeech`` stands in for it where no Mandarin model is installed (the
demo): it returns the words the scripted caller was given, only for speech
heard clearly, and says so in its name.

``VoskSpeech`` can follow the flow: given the flow's step grammars (see
``ivr.hearing.step_grammar``), ``on_step`` switches the recogniser to the
phrases of each listening step as the engine enters it (grammar mode), or to
free decoding for a listening step without phrases the model knows. Steps
that do not listen leave the recogniser as it is, so an utterance in progress
is not cut. Without grammars, or if ``on_step`` is never called, it decodes
with whatever its session was opened for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Literal, Protocol

from ivr.call.inputs import CallInput, Heard, RecognitionLost
from ivr.hearing.line_state import LineState
from ivr.hearing.recognition_workers import RecognitionSession
from ivr.hearing.recognizer import Failed, Final, RecognitionResult
from ivr.media import frames_in

PRE_ROLL = frames_in(0.3)
TALKING = (LineState.SPEECH, LineState.QUIET)


class StepGrammarSource(Protocol):
    """A flow's grammars by step name (``ivr.hearing.step_grammar.StepGrammars``)."""

    def listens(self, step_name: str) -> bool: ...
    def __call__(self, step_name: str) -> Sequence[str] | None: ...


class SpeechInput(Protocol):
    def feed(self, frame: bytes) -> None: ...
    def end_of_speech(self, heard_clearly: bool) -> None: ...
    def poll(self) -> list[CallInput]: ...
    def close(self) -> None: ...
    def on_step(self, step_name: str | None) -> None:
        """The engine's step after this tick (a recogniser may switch grammars on it)."""
        ...


class SpeechGate:
    def __init__(self, speech: SpeechInput) -> None:
        self.speech = speech
        self._recent: deque[bytes] = deque(maxlen=PRE_ROLL)
        self._talking = False
        self._clear_frames = 0

    def hear(self, frame: bytes, state: LineState) -> None:
        if state in TALKING:
            if not self._talking:
                self._talking = True
                self._clear_frames = 0
                for earlier in self._recent:
                    self.speech.feed(earlier)
                self._recent.clear()
            self.speech.feed(frame)
            self._clear_frames += state is LineState.SPEECH
            return
        if self._talking:
            self._talking = False
            self.speech.end_of_speech(heard_clearly=self._clear_frames >= frames_in(0.2))
        self._recent.append(frame)

    def poll(self) -> list[CallInput]:
        return self.speech.poll()

    def close(self) -> None:
        self.speech.close()


def call_inputs(results: Iterable[RecognitionResult]) -> list[CallInput]:
    """What the engine hears of recognition results: a ``Heard`` per final with words, a lost recogniser."""
    out: list[CallInput] = []
    for result in results:
        if isinstance(result, Final) and result.text:
            out.append(Heard(result.text, result.confidence))
        elif isinstance(result, Failed):
            out.append(RecognitionLost(result.reason))
    return out


class VoskSpeech:
    """A call's session on the shared recognition workers; ``grammars`` lets ``on_step`` follow the flow."""

    def __init__(self, session: RecognitionSession, grammars: StepGrammarSource | None = None) -> None:
        self.session = session
        self.grammars = grammars
        self._step: str | None = None
        self._grammar: tuple[str, ...] | Literal["unset"] | None = "unset"  # as the session was opened

    def on_step(self, step_name: str | None) -> None:
        """The engine is in ``step_name`` now: a new listening step gets its grammar (a no-op otherwise)."""
        if step_name == self._step:
            return
        self._step = step_name
        if self.grammars is None or step_name is None or not self.grammars.listens(step_name):
            return
        found = self.grammars(step_name)
        grammar = None if found is None else tuple(found)
        if grammar != self._grammar:
            self._grammar = grammar
            self.session.listen(grammar)

    def feed(self, frame: bytes) -> None:
        self.session.feed(frame)

    def end_of_speech(self, heard_clearly: bool) -> None:
        self.session.end_of_speech()

    def poll(self) -> list[CallInput]:
        return call_inputs(self.session.poll())

    def close(self) -> None:
        self.session.close()


class ScriptedSpeech:
    """Stands in for recognition with known words: the next line for each clearly heard utterance."""

    def __init__(self, lines: Sequence[str]) -> None:
        self._lines = deque(lines)
        self._ready: list[CallInput] = []

    def feed(self, frame: bytes) -> None:
        return None

    def on_step(self, step_name: str | None) -> None:
        return None

    def end_of_speech(self, heard_clearly: bool) -> None:
        if self._lines:
            text = self._lines.popleft()
            if heard_clearly:
                self._ready.append(Heard(text))

    def poll(self) -> list[CallInput]:
        out, self._ready = self._ready, []
        return out

    def close(self) -> None:
        self._lines.clear()
