"""What a caller's line sounds like to the bot, frame by frame, on real audio.

Speech is rendered by espeak-ng; webrtcvad is the real one. Each scenario is
built from the evaluation set's generators with its own seeded RNG.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ivr.hearing import eval_corpus, sounds
from ivr.hearing.eval_corpus import Clip
from ivr.hearing.evaluation import Score, heard_states, windows
from ivr.hearing.line_classifier import HearingThresholds, LineClassifier
from ivr.hearing.line_state import LineState
from ivr.media import FRAME_BYTES, SILENT_FRAME, frames_in, split_frames

SILENCE, SPEECH, NOISE, QUIET = LineState.SILENCE, LineState.SPEECH, LineState.NOISE, LineState.QUIET


def hear(x: sounds.Signal) -> list[LineState]:
    return heard_states(sounds.to_pcm(x), LineClassifier())


def sentence(rng: np.random.Generator, dbfs: float = -20.0, count: int = 2) -> sounds.Signal:
    voice, speed, texts = eval_corpus._speakers()[4]
    return eval_corpus._voice(rng, voice, speed, texts[:count], dbfs)


def mostly(states: list[LineState]) -> LineState:
    return Counter(states).most_common(1)[0][0]


def line(states: list[LineState]) -> str:
    return "".join("." if s is SILENCE else s.value[0] for s in states)


@pytest.mark.slow
def test_evaluation_set_meets_95_percent_of_windows(evaluation: Score) -> None:
    assert evaluation.windows >= 400
    assert evaluation.accuracy >= 0.95, "\n" + evaluation.table()


@pytest.mark.slow
def test_every_kind_of_line_is_mostly_heard_as_labelled(evaluation: Score) -> None:
    weak = {c: evaluation.category_accuracy(c) for c in evaluation.categories}
    weak = {c: a for c, a in weak.items() if a < 0.9}
    assert not weak, "\n" + evaluation.table()


@pytest.mark.slow
def test_evaluation_set_covers_the_issue(clips: tuple[Clip, ...]) -> None:
    categories = {c.category for c in clips}
    for kind in ("speech", "quiet speech", "digital silence", "comfort noise", "mains hum"):
        assert kind in categories
    for kind in ("white", "pink", "brown"):
        assert f"{kind} noise" in categories
        for snr in (20, 10, 5, 0):
            assert f"speech in {kind} noise {snr} dB" in categories
    assert "crackle" in categories


@pytest.mark.slow
def test_caller_speaking_normally_is_heard_as_speech() -> None:
    rng = np.random.default_rng(1)
    classifier = LineClassifier()
    states = heard_states(sounds.to_pcm(sentence(rng)), classifier)
    assert set(windows(states)) == {SPEECH}, line(states)
    assert states[frames_in(0.3)] is SPEECH, line(states)  # soon enough to barge in


@pytest.mark.slow
def test_speech_level_is_reported_in_dbfs() -> None:
    rng = np.random.default_rng(2)
    classifier = LineClassifier()
    levels = []
    for frame in split_frames(sounds.to_pcm(sentence(rng, dbfs=-20.0))):
        classifier.hear(frame)
        levels.append(classifier.level_dbfs)
    assert -24.0 < max(levels) - 6.0 < -10.0
    classifier.hear(SILENT_FRAME)
    assert classifier.level_dbfs == -np.inf


@pytest.mark.slow
def test_quiet_caller_is_heard_as_too_quiet() -> None:
    rng = np.random.default_rng(3)
    states = hear(sentence(rng, dbfs=-45.0))
    assert set(windows(states)) == {QUIET}, line(states)


@pytest.mark.slow
def test_pause_between_sentences_keeps_the_caller_speaking() -> None:
    rng = np.random.default_rng(4)
    states = hear(sentence(rng, count=3))
    start = states.index(SPEECH)
    end = len(states) - states[::-1].index(SPEECH)
    assert set(states[start:end]) == {SPEECH}, line(states)


@pytest.mark.slow
def test_line_falls_silent_soon_after_the_caller_stops() -> None:
    rng = np.random.default_rng(5)
    speech = sentence(rng, count=1)
    states = hear(np.concatenate([speech, sounds.comfort_noise(rng, 2.0)]))
    stopped = len(speech) // 160
    assert states[stopped - 1] is SPEECH
    assert states[stopped + frames_in(0.6) :] == [SILENCE] * (len(states) - stopped - 30)


@pytest.mark.slow
def test_cough_while_speaking_keeps_the_caller_speaking() -> None:
    rng = np.random.default_rng(6)
    speech = sentence(rng, count=2)
    states = hear(sounds.overlay(speech, sounds.cough(rng, -10.0), 1.5))
    assert set(states[frames_in(1.0) : frames_in(2.5)]) == {SPEECH}, line(states)


@pytest.mark.slow
def test_caller_heard_over_mild_noise_but_not_drowned_by_it() -> None:
    rng = np.random.default_rng(7)
    speech = sentence(rng, count=3)
    mild = sounds.mix(speech, sounds.pink(rng, len(speech) / 8000, -30.0), 15.0)
    drowned = sounds.mix(speech, sounds.pink(rng, len(speech) / 8000, -30.0), 2.0)
    assert mostly(windows(hear(mild))) is SPEECH
    assert mostly(windows(hear(drowned))) is NOISE


@pytest.mark.slow
def test_noise_after_the_caller_stops_is_heard_as_noise() -> None:
    rng = np.random.default_rng(8)
    speech = sentence(rng, count=1)
    states = hear(np.concatenate([speech, sounds.white(rng, 3.0, -25.0)]))
    stopped = len(speech) // 160
    assert set(states[stopped + frames_in(1.5) :]) == {NOISE}, line(states)


def test_digital_silence_is_silence() -> None:
    classifier = LineClassifier()
    assert {classifier.hear(SILENT_FRAME) for _ in range(200)} == {SILENCE}


def test_comfort_noise_is_silence() -> None:
    assert set(hear(sounds.comfort_noise(np.random.default_rng(9), 4.0, -60.0))) == {SILENCE}


@pytest.mark.parametrize("make", [sounds.white, sounds.pink, sounds.brown, sounds.hum])
@pytest.mark.parametrize("dbfs", [-30.0, -10.0])
def test_steady_noise_is_heard_as_noise_not_speech(make: object, dbfs: float) -> None:
    assert callable(make)
    states = hear(make(np.random.default_rng(10), 3.0, dbfs))
    assert set(windows(states)) == {NOISE}, line(states)
    assert SPEECH not in states and QUIET not in states, line(states)


def test_noise_starting_on_a_silent_line_is_never_taken_for_speech() -> None:
    rng = np.random.default_rng(11)
    states = hear(np.concatenate([sounds.comfort_noise(rng, 2.0), sounds.pink(rng, 3.0, -25.0)]))
    assert SPEECH not in states and QUIET not in states, line(states)
    assert states[-frames_in(2.0) :] == [NOISE] * frames_in(2.0), line(states)


def test_crackling_line_is_heard_as_noise() -> None:
    rng = np.random.default_rng(12)
    crackle = sounds.clicks(rng, 4.0, 30.0, -6.0) + sounds.comfort_noise(rng, 4.0, -66.0)
    states = hear(crackle)
    assert set(windows(states)) == {NOISE}, line(states)


@pytest.mark.parametrize("peak_dbfs", [-20.0, -6.0, 0.0])
def test_single_click_does_not_flip_silence(peak_dbfs: float) -> None:
    rng = np.random.default_rng(13)
    quiet_line = sounds.comfort_noise(rng, 3.0, -60.0)
    assert set(hear(sounds.overlay(quiet_line, sounds.click(peak_dbfs), 1.0))) == {SILENCE}


@pytest.mark.parametrize("dbfs", [-25.0, -10.0])
def test_cough_does_not_flip_silence(dbfs: float) -> None:
    rng = np.random.default_rng(14)
    quiet_line = sounds.comfort_noise(rng, 3.0, -60.0)
    assert set(hear(sounds.overlay(quiet_line, sounds.cough(rng, dbfs, 0.3), 1.0))) == {SILENCE}


def test_same_audio_is_heard_the_same_after_reset() -> None:
    rng = np.random.default_rng(15)
    pcm = sounds.to_pcm(np.concatenate([sounds.pink(rng, 2.0, -20.0), sounds.silence(1.0)]))
    classifier = LineClassifier()
    first = heard_states(pcm, classifier)
    classifier.reset()
    assert classifier.state is SILENCE
    assert heard_states(pcm, classifier) == first
    assert heard_states(pcm, LineClassifier()) == first


def test_frame_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match=f"{FRAME_BYTES} bytes"):
        LineClassifier().hear(bytes(FRAME_BYTES - 2))


@pytest.mark.parametrize(
    "bad", [{"vad_mode": 4}, {"noise_onset_ms": 600}, {"hangover_ms": 0}, {"switch_ms": 10}]
)
def test_nonsense_thresholds_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        HearingThresholds(**bad)


def test_levels_follow_the_pydub_convention() -> None:
    t = np.arange(8000) / 8000
    full_sine = 32767 * np.sin(2 * np.pi * 1000 * t)
    assert sounds.level_dbfs(full_sine) == pytest.approx(-3.01, abs=0.01)
    assert sounds.level_dbfs(sounds.white(np.random.default_rng(0), 1.0, -30.0)) == pytest.approx(-30.0)
