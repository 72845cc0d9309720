"""Turn taking with real recognition: each listening step decodes its own phrases (vosk grammar mode).

The caller is espeak-ng speaking Korean to the small Korean vosk model (the
Mandarin models cannot be downloaded here). A spoken word goes the live path
frame by frame: ``LineClassifier`` hears the line inside the ``CallEngine``,
``SpeechGate`` feeds the recogniser while the caller talks and ends the
utterance when they stop, ``VoskSpeech`` switches its session to the
listening step's grammar on ``on_step`` and turns the final into ``Heard``
for the engine. The workers are settled after every frame, so media time is
exact whatever the machine's speed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pytest

from ivr.call.engine import CallEngine
from ivr.call.events import EventKind
from ivr.call.inputs import CallContext
from ivr.flows.schema import Flow, Say
from ivr.hearing.caller_speech import SpeechGate, VoskSpeech
from ivr.hearing.line_classifier import LineClassifier
from ivr.hearing.recognition_workers import RecognitionWorkers
from ivr.hearing.speech_model import SpeechModel
from ivr.hearing.step_grammar import StepGrammars, grammar_for, model_words
from ivr.media import SAMPLE_RATE, SILENT_FRAME, frames_in, split_frames
from tests.hearing.test_recognition import ko_model, korean

pytestmark = pytest.mark.slow


def flow_of(steps: dict[str, Any]) -> Flow:
    return Flow.model_validate({"flow": "desk-ko", "locale": "ko-KR", "start": "hello", "steps": steps})


FLOW = flow_of(
    {
        "hello": {"say": "hello", "next": "ask"},
        "ask": {
            "listen": {
                "prompt": "ask",
                "intents": {
                    "book": {"phrases": ["예약", "예약하기 싶어요"], "next": "booked"},
                    "check": {"phrases": ["확인", "订房"], "next": "checked"},
                },
                "keys": {"1": "booked", "2": "checked"},
            }
        },
        "keys_only": {"listen": {"keys": {"1": "booked"}}},
        "unknown_words": {"listen": {"intents": {"other": {"phrases": ["订房", "xyzzy"], "next": "booked"}}}},
        "booked": {"hangup": "bye.booked"},
        "checked": {"hangup": "bye.checked"},
    }
)


@pytest.fixture(scope="module")
def model() -> SpeechModel:
    return ko_model()


class TonePrompts:
    """Every prompt is a short tone at -20 dBFS (the engine only needs frames)."""

    def __init__(self, seconds: float = 0.3) -> None:
        t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        pcm = np.round(0.1 * math.sqrt(2) * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
        self._frames = split_frames(pcm)

    def frames(self, say: Say) -> list[bytes]:
        return list(self._frames)

    def music(self, spec: str) -> list[bytes]:
        return list(self._frames)


class RecordingGrammars(StepGrammars):
    """The flow's grammars, noting each one the recogniser was asked for."""

    def __init__(self, flow: Flow, model: SpeechModel) -> None:
        super().__init__(flow, model)
        self.asked: list[tuple[str, tuple[str, ...] | None]] = []

    def __call__(self, step_name: str) -> tuple[str, ...] | None:
        grammar = super().__call__(step_name)
        self.asked.append((step_name, grammar))
        return grammar


# --- the grammar of a step --------------------------------------------------------------------------


def test_a_listening_step_gets_the_phrases_the_model_knows(model: SpeechModel) -> None:
    # 订房 is not Korean: dropped; 예약하기 is no word of the model's but splits into words it knows
    assert model_words("예약확인", model) == ["예약", "확인"]
    assert model_words("订房 확인", model) == ["확인"]
    grammar = grammar_for(FLOW, "ask", model)
    assert grammar is not None
    assert grammar[0] == "예약" and "확인" in grammar
    assert all(not model.unknown_words([phrase]) for phrase in grammar)
    assert len(grammar) == len(set(grammar))


@pytest.mark.parametrize("step", ["hello", "booked", "keys_only", "unknown_words", "no_such_step"])
def test_steps_without_known_phrases_decode_freely(model: SpeechModel, step: str) -> None:
    assert grammar_for(FLOW, step, model) is None


def test_the_linger_question_hears_yes_no_and_what_the_next_step_listens_for(model: SpeechModel) -> None:
    """A finish step with confirm listens (还需要什么帮助?): the yes/no words the model knows (none of
    the Chinese ones, for this Korean model) and the phrases of the step the caller goes back to."""
    flow = flow_of(
        {
            **{
                name: step.model_dump(by_alias=True, exclude_defaults=True)
                for name, step in FLOW.steps.items()
            },
            "hello": {"say": "hello", "next": "wrap"},
            "wrap": {"finish": True, "next": "ask", "confirm": {"yes": "ask", "no": "booked"}},
        }
    )
    assert StepGrammars(flow, model).listens("wrap")
    assert grammar_for(flow, "wrap", model) == grammar_for(FLOW, "ask", model)


def test_on_step_switches_only_for_a_new_listening_grammar(model: SpeechModel) -> None:
    grammars = RecordingGrammars(FLOW, model)
    with RecognitionWorkers(model, workers=1) as workers:
        speech = VoskSpeech(workers.open("call"), grammars)
        for step in (None, "hello", "hello", "ask", "ask", "booked", "keys_only", "unknown_words"):
            speech.on_step(step)
    grammar = grammar_for(FLOW, "ask", model)
    assert grammar is not None
    # once per listening step entered; the free steps after 'ask' ask again but switch only once
    assert grammars.asked == [("ask", tuple(grammar)), ("keys_only", None), ("unknown_words", None)]


# --- a spoken word through the live path ------------------------------------------------------------


@dataclass
class Call:
    engine: CallEngine
    grammars: RecordingGrammars
    heard: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)


def spoken_call(model: SpeechModel, word: str) -> Call:
    """One call: the caller waits for the question, says ``word``, and keeps quiet (at most 8 s)."""
    grammars = RecordingGrammars(FLOW, model)
    engine = CallEngine(FLOW, TonePrompts(), LineClassifier(), CallContext(None, datetime(2026, 3, 2, 10)))
    speech_frames = split_frames(korean(word))
    with RecognitionWorkers(model, workers=1) as workers:
        gate = SpeechGate(VoskSpeech(workers.open("call"), grammars))  # opened for free decoding
        spoken_at: int | None = None
        for frame_no in range(frames_in(8.0)):
            if engine.ended:
                break
            if spoken_at is None and any(
                e.kind is EventKind.PROMPT_FINISHED and e.detail["prompt"] == "ask" for e in engine.events
            ):
                spoken_at = frame_no
            offset = frame_no - spoken_at if spoken_at is not None else -1
            inbound = speech_frames[offset] if 0 <= offset < len(speech_frames) else SILENT_FRAME
            engine.tick(inbound, gate.poll())
            gate.speech.on_step(engine.step)
            gate.hear(inbound, engine.line)
            workers.settle()  # decoding done before the next tick: media time is exact
        gate.close()
    call = Call(engine, grammars)
    call.heard = [str(e.detail["text"]) for e in engine.events if e.kind is EventKind.HEARD]
    call.intents = [str(e.detail["intent"]) for e in engine.events if e.kind is EventKind.INTENT]
    return call


@pytest.fixture(scope="module")
def calls(model: SpeechModel) -> Iterator[dict[str, Call]]:
    yield {word: spoken_call(model, word) for word in ("예약", "확인")}


@pytest.mark.parametrize("word", ["예약", "확인"])
def test_a_spoken_word_is_heard_in_grammar_mode(calls: dict[str, Call], word: str) -> None:
    call = calls[word]
    grammar = grammar_for(FLOW, "ask", call.grammars.model)
    assert grammar is not None
    assert call.grammars.asked == [("ask", tuple(grammar))]  # switched once, on entering the step
    assert call.heard == [word]


@pytest.mark.parametrize(
    ("word", "intent", "step"), [("예약", "book", "booked"), ("확인", "check", "checked")]
)
def test_the_engine_picks_the_spoken_intent(
    calls: dict[str, Call], word: str, intent: str, step: str
) -> None:
    call = calls[word]
    assert call.intents == [intent]
    assert call.engine.path[:3] == ["hello", "ask", step]
