"""Recognition workers: the media tick feeds frames and drains results, decoding happens elsewhere.

Real vosk and the real Korean model throughout; the only stand-ins are a
recognizer that blocks (to fill a queue) and one that raises (a decoder fault
that cannot be caused otherwise).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence

import pytest

from ivr.hearing.recognition_workers import RecognitionSession, RecognitionWorkers
from ivr.hearing.recognizer import Failed, Final, Partial, RecognitionResult, Recognizer
from ivr.hearing.speech_model import SpeechModel
from ivr.media import FRAME_BYTES, split_frames
from tests.hearing.test_recognition import WORDS, ko_model, korean

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model() -> SpeechModel:
    return ko_model()


@pytest.fixture
def workers(model: SpeechModel) -> Iterator[RecognitionWorkers]:
    with RecognitionWorkers(model, workers=2) as w:
        yield w


def say(session: RecognitionSession, pcm: bytes) -> None:
    for frame in split_frames(pcm):
        assert session.feed(frame) is True


def finals(results: Sequence[RecognitionResult]) -> list[Final]:
    return [r for r in results if isinstance(r, Final)]


def test_streamed_frames_give_the_same_final_as_the_whole_utterance(
    workers: RecognitionWorkers, model: SpeechModel
) -> None:
    pcm = korean("예약")
    whole = Recognizer(model, grammar=WORDS)
    whole.feed(pcm)
    expected = whole.finish()

    session = workers.open("call-1", WORDS)
    say(session, pcm)
    session.end_of_speech()
    workers.settle()
    results = workers.poll("call-1")
    assert finals(results) == [expected]
    assert expected.text == "예약"
    assert results[-1] == expected


def test_end_of_speech_yields_a_final_after_partials(workers: RecognitionWorkers) -> None:
    session = workers.open("call-1", WORDS)
    say(session, korean("안내"))
    workers.settle()
    before = session.poll()
    assert before and all(isinstance(r, Partial) for r in before)
    assert before[-1] == Partial("안내")
    session.end_of_speech()
    session.end_of_speech()  # said twice with nothing in between: one final
    workers.settle()
    after = session.poll()
    assert len(after) == 1 and isinstance(after[0], Final)
    assert after[0].text == "안내"
    assert 0.0 <= after[0].confidence <= 1.0


def test_calls_are_heard_apart_and_in_order(workers: RecognitionWorkers) -> None:
    spoken = {"a": ["네", "확인"], "b": ["아니요", "예약"], "c": ["안내", "네"]}
    sessions = {call: workers.open(call, WORDS) for call in spoken}
    for i in range(2):  # interleave the calls frame by frame, as the media tick does
        streams = {call: split_frames(korean(words[i])) for call, words in spoken.items()}
        for n in range(max(len(s) for s in streams.values())):
            for call, frames in streams.items():
                if n < len(frames):
                    assert sessions[call].feed(frames[n])
        for session in sessions.values():
            session.end_of_speech()
    workers.settle()
    drained = workers.drain()
    heard = {call: [r.text for c, r in drained if c == call and isinstance(r, Final)] for call in spoken}
    assert heard == spoken
    assert workers.drain() == []


def test_new_listening_step_uses_its_own_grammar(workers: RecognitionWorkers) -> None:
    session = workers.open("call-1", ["네", "아니요"])
    say(session, korean("아니요"))
    session.end_of_speech()
    session.listen(["예약", "안내"])
    say(session, korean("예약"))
    session.end_of_speech()
    session.listen(None)  # free decoding
    say(session, korean("안녕하세요"))
    session.end_of_speech()
    workers.settle()
    texts = [f.text for f in finals(session.poll())]
    assert texts[:2] == ["아니요", "예약"]
    assert len(texts) == 3 and texts[2]


class SlowRecognizer(Recognizer):
    """Blocks in ``feed`` until released: a worker that has fallen behind."""

    entered = threading.Event()
    release = threading.Event()

    def feed(self, pcm: bytes) -> Partial | None:
        SlowRecognizer.entered.set()
        SlowRecognizer.release.wait()
        return super().feed(pcm)


def test_full_queue_drops_frames_without_blocking_the_tick(model: SpeechModel) -> None:
    SlowRecognizer.entered.clear()
    SlowRecognizer.release.clear()
    with RecognitionWorkers(
        model, workers=1, queue_frames=20, recognizer_factory=lambda m, g: SlowRecognizer(m, grammar=g)
    ) as workers:
        session = workers.open("call-1", WORDS)
        other = workers.open("call-2", WORDS)
        try:
            assert session.feed(bytes(FRAME_BYTES))
            assert SlowRecognizer.entered.wait(10)  # the worker is stuck decoding that frame
            accepted = [session.feed(bytes(FRAME_BYTES)) for _ in range(25)]
            assert accepted == [True] * 20 + [False] * 5
            assert other.feed(bytes(FRAME_BYTES)) is False  # the worker's bound is shared
            assert (session.dropped_frames, other.dropped_frames) == (5, 1)
            assert workers.dropped_frames == 6
            session.end_of_speech()  # controls are never dropped
        finally:
            SlowRecognizer.release.set()
        workers.settle()
        assert finals(session.poll()) == [Final("")]
        assert session.feed(bytes(FRAME_BYTES))  # caught up: frames are taken again
        session.close()
        assert workers.dropped_frames == 6  # closed calls still count


class BrokenRecognizer(Recognizer):
    """A decoder that faults on the first frame."""

    def feed(self, pcm: bytes) -> Partial | None:
        raise RuntimeError("decoder fault")


def test_failing_recognizer_reports_failed_and_other_calls_carry_on(
    model: SpeechModel, caplog: pytest.LogCaptureFixture
) -> None:
    def factory(m: SpeechModel, grammar: Sequence[str] | None) -> Recognizer:
        return BrokenRecognizer(m, grammar=grammar) if grammar == ("네",) else Recognizer(m, grammar=grammar)

    with (
        caplog.at_level(logging.WARNING),
        RecognitionWorkers(model, workers=1, recognizer_factory=factory) as workers,
    ):
        broken = workers.open("broken", ["네"])
        good = workers.open("good", WORDS)
        for frame in split_frames(korean("확인")):
            broken.feed(frame)
            good.feed(frame)
        broken.end_of_speech()
        good.end_of_speech()
        workers.settle()
        assert broken.poll() == [Failed("RuntimeError")]  # once, then silence; no final
        assert finals(good.poll())[0].text == "확인"
        broken.listen(WORDS[1:])  # the next listening step gets a fresh recognizer
        say(broken, korean("예약"))
        broken.end_of_speech()
        workers.settle()
        assert finals(broken.poll())[0].text == "예약"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "확인" not in caplog.text and "decoder fault" not in caplog.text


def test_grammar_the_model_cannot_hear_is_a_failed_result_naming_the_word(
    workers: RecognitionWorkers,
) -> None:
    session = workers.open("call-1", ["네", "qzxv"])
    workers.settle()
    [result] = session.poll()
    assert isinstance(result, Failed)
    assert "qzxv" in result.reason


def test_close_stops_every_worker_thread(model: SpeechModel) -> None:
    before = threading.active_count()
    workers = RecognitionWorkers(model, workers=3)
    workers.start()
    assert threading.active_count() == before + 3
    session = workers.open("call-1", WORDS)
    say(session, korean("네"))  # close does not wait for queued audio
    workers.close()
    assert threading.active_count() == before
    assert session.closed and session.feed(bytes(FRAME_BYTES)) is False
    workers.close()  # twice is harmless
    with pytest.raises(RuntimeError):
        workers.open("call-2")
    with pytest.raises(RuntimeError):
        workers.start()


def test_a_call_has_one_session_until_it_is_closed(workers: RecognitionWorkers) -> None:
    session = workers.open("call-1")
    with pytest.raises(ValueError, match="call-1"):
        workers.open("call-1")
    session.close()
    assert workers.poll("call-1") == []
    assert workers.open("call-1") is not session


def test_undrained_results_stay_bounded(model: SpeechModel) -> None:
    with RecognitionWorkers(model, workers=1, results_per_call=3) as workers:
        session = workers.open("call-1", WORDS)
        for _ in range(5):
            session.feed(bytes(FRAME_BYTES))
            session.end_of_speech()
        workers.settle()
        assert session.poll() == [Final("")] * 3
        assert session.dropped_results == 2
