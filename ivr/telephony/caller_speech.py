"""What the caller says, for the engine: frames to a recogniser while they talk, results back.

``SpeechGate`` watches the line state the engine heard: it feeds the caller's
frames (with 300 ms of pre-roll, since speech is recognised as such a little
after it starts) while the caller talks, and marks the end of each utterance.
Behind it, ``VoskSpeech`` runs the real recogniser on its worker threads, and
``ScriptedSpeech`` stands in for it where no Mandarin model is installed (the
demo): it returns the words the scripted caller was given, only for speech
heard clearly, and says so in its name.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Protocol

from ivr.call.inputs import CallInput, Heard, RecognitionLost
from ivr.hearing.line_state import LineState
from ivr.hearing.recognition_workers import RecognitionSession
from ivr.hearing.recognizer import Failed, Final
from ivr.media import frames_in

PRE_ROLL = frames_in(0.3)
TALKING = (LineState.SPEECH, LineState.QUIET)


class SpeechInput(Protocol):
    def feed(self, frame: bytes) -> None: ...
    def end_of_speech(self, heard_clearly: bool) -> None: ...
    def poll(self) -> list[CallInput]: ...
    def close(self) -> None: ...


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


class VoskSpeech:
    """A call's session on the shared recognition workers."""

    def __init__(self, session: RecognitionSession) -> None:
        self.session = session

    def feed(self, frame: bytes) -> None:
        self.session.feed(frame)

    def end_of_speech(self, heard_clearly: bool) -> None:
        self.session.end_of_speech()

    def poll(self) -> list[CallInput]:
        out: list[CallInput] = []
        for result in self.session.poll():
            if isinstance(result, Final) and result.text:
                out.append(Heard(result.text, result.confidence))
            elif isinstance(result, Failed):
                out.append(RecognitionLost(result.reason))
        return out

    def close(self) -> None:
        self.session.close()


class ScriptedSpeech:
    """Stands in for recognition with known words: the next line for each clearly heard utterance."""

    def __init__(self, lines: Sequence[str]) -> None:
        self._lines = deque(lines)
        self._ready: list[CallInput] = []

    def feed(self, frame: bytes) -> None:
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
