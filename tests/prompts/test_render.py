"""Rendering prompt audio with the real espeak-ng: format, level, edges, pauses, rebuilds."""

from __future__ import annotations

import hashlib
import math
import shutil
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ivr.cli import main
from ivr.errors import MissingPartError
from ivr.media import FRAME_SAMPLES, SAMPLE_RATE
from ivr.prompts.audio_store import AudioFormatError, PromptAudio, audio_dir, check_wav
from ivr.prompts.build import BuildReport, build_locale
from ivr.prompts.numerals import chinese_number, digit_words
from ivr.prompts.render import CEILING_DBFS, TARGET_DBFS

LOCALE = "zh-CN"

SHORT = "您好。"
MEDIUM = "请问有什么可以帮您？"
LONG = "您好，欢迎致电{company}前台，我们的服务时间是每天早上八点到晚上十点，请问有什么可以帮您？"
PAUSED = "请稍候。[停顿 1s]正在为您查询。"

STATIC_PROMPTS = {"short": SHORT, "medium": MEDIUM, "long": LONG, "paused": PAUSED}
VARIABLE_PROMPTS = {
    "hold.progress": "您前面还有{position}位，[停顿 0.5s]预计等待{minutes}分钟。",
    "transfer.to_seat": "正在为您转接{staff_id}号客服。",
}


def write_catalog(root: Path, prompts: dict[str, str]) -> None:
    lines = [
        f"locale: {LOCALE}",
        "voice: cmn",
        "placeholders:",
        "  company: {value: 星辰国际, handbook: ['**国际']}",
        "prompts:",
    ]
    for pid, text in prompts.items():
        lines += [f"  - id: {pid}", f"    text: '{text}'", "    new: test prompt"]
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "prompts" / f"{LOCALE}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def samples(path: Path) -> npt.NDArray[np.float64]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768


def dbfs(x: npt.NDArray[np.float64]) -> float:
    return 20 * math.log10(float(np.sqrt(np.mean(np.square(x)))) + 1e-12)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(directory)): (digest(p), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*.wav"))
    }


def statuses(report: BuildReport) -> dict[str, str]:
    return {o.name: o.status for o in report.outcomes}


def write_tone(path: Path, rate: int, channels: int, seconds: float = 0.3) -> None:
    t = np.arange(int(rate * seconds)) / rate
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(tone, channels).tobytes())


@pytest.fixture(scope="module")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    write_catalog(root, STATIC_PROMPTS)
    report = build_locale(root, LOCALE)
    assert report.count("rendered") == len(STATIC_PROMPTS)
    return root


@pytest.fixture(scope="module")
def variable_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("variables")
    write_catalog(root, {"short": SHORT, **VARIABLE_PROMPTS})
    build_locale(root, LOCALE)
    return root


@pytest.fixture
def static_copy(static_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(static_root, root)
    return root


def test_rendered_files_are_8khz_mono_16bit(static_root: Path) -> None:
    for pid in STATIC_PROMPTS:
        with wave.open(str(audio_dir(static_root, LOCALE) / f"{pid}.wav"), "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2), pid
            assert w.getcomptype() == "NONE"


def test_loudness_is_one_level_without_clipping(static_root: Path) -> None:
    lengths = []
    for pid in ("short", "medium", "long"):
        x = samples(audio_dir(static_root, LOCALE) / f"{pid}.wav")
        lengths.append(len(x))
        assert abs(dbfs(x) - TARGET_DBFS) <= 1.0, (pid, dbfs(x))
        assert 20 * math.log10(float(np.max(np.abs(x)))) <= CEILING_DBFS + 0.01, pid
    assert lengths[0] * 4 < lengths[2]  # the prompts really are of different lengths


def assert_starts_and_ends_on_speech(path: Path) -> None:
    x = samples(path)
    first, last = x[:FRAME_SAMPLES], x[-FRAME_SAMPLES:]
    assert dbfs(first) > TARGET_DBFS - 30, (path.name, "starts with silence", dbfs(first))
    assert dbfs(last) > TARGET_DBFS - 30, (path.name, "ends with silence", dbfs(last))


def test_no_leading_or_trailing_silence(static_root: Path) -> None:
    for pid in STATIC_PROMPTS:
        assert_starts_and_ends_on_speech(audio_dir(static_root, LOCALE) / f"{pid}.wav")


def longest_silence_s(x: npt.NDArray[np.float64]) -> float:
    quiet = np.abs(x) < 10 ** (-60 / 20)
    best = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        best = max(best, run)
    return best / SAMPLE_RATE


def test_pause_mark_is_exact_silence(static_root: Path) -> None:
    gap = longest_silence_s(samples(audio_dir(static_root, LOCALE) / "paused.wav"))
    assert abs(gap - 1.0) <= 0.020, gap


def test_second_run_renders_nothing(static_copy: Path) -> None:
    before = snapshot(audio_dir(static_copy, LOCALE))
    report = build_locale(static_copy, LOCALE)
    assert report.summary == f"rendered 0, up to date {len(STATIC_PROMPTS)}, recorded 0"
    assert snapshot(audio_dir(static_copy, LOCALE)) == before


def test_two_builds_at_once_render_each_clip_once_and_take_none_for_a_recording(tmp_path: Path) -> None:
    # two admins (or the console and a terminal) building the same folder at the same moment
    write_catalog(tmp_path, STATIC_PROMPTS)
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: build_locale(tmp_path, LOCALE), range(2)))
    assert sorted(r.count("rendered") for r in reports) == [0, len(STATIC_PROMPTS)]
    assert all(r.count("recorded") == 0 for r in reports)
    after = build_locale(tmp_path, LOCALE)
    assert after.summary == f"rendered 0, up to date {len(STATIC_PROMPTS)}, recorded 0"


def test_rendering_is_deterministic(static_root: Path, tmp_path: Path) -> None:
    write_catalog(tmp_path, {"short": SHORT, "paused": PAUSED})
    build_locale(tmp_path, LOCALE, workers=1)
    for pid in ("short", "paused"):
        name = f"{pid}.wav"
        assert digest(audio_dir(tmp_path, LOCALE) / name) == digest(audio_dir(static_root, LOCALE) / name)


def test_changed_words_rerender_only_that_prompt(static_copy: Path) -> None:
    directory = audio_dir(static_copy, LOCALE)
    before = snapshot(directory)
    write_catalog(static_copy, {**STATIC_PROMPTS, "medium": "请问您需要什么帮助？"})
    report = build_locale(static_copy, LOCALE)
    assert [o.name for o in report.outcomes if o.status == "rendered"] == ["medium.wav"]
    after = snapshot(directory)
    assert after["medium.wav"][0] != before["medium.wav"][0]
    assert {k: v for k, v in after.items() if k != "medium.wav"} == {
        k: v for k, v in before.items() if k != "medium.wav"
    }


def test_recorded_file_is_never_overwritten(static_copy: Path) -> None:
    directory = audio_dir(static_copy, LOCALE)
    write_tone(directory / "short.wav", 8000, 1)  # replaces a rendered file
    write_tone(directory / "fresh.wav", 8000, 1)  # placed before the prompt was ever built
    recorded = {name: digest(directory / name) for name in ("short.wav", "fresh.wav")}
    # the words change too: still the person's recording wins
    write_catalog(static_copy, {**STATIC_PROMPTS, "short": "您好！", "fresh": "新的提示。"})
    for _ in range(2):
        report = build_locale(static_copy, LOCALE)
        assert statuses(report)["short.wav"] == "recorded"
        assert statuses(report)["fresh.wav"] == "recorded"
        assert report.count("rendered") == 0
        assert report.bad_recordings == []
        assert {name: digest(directory / name) for name in recorded} == recorded
    audio = PromptAudio.open(static_copy, LOCALE)
    assert len(audio.pcm("short")) == 2 * int(8000 * 0.3)


def test_wrong_format_recording_is_a_clear_error(
    static_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = audio_dir(static_copy, LOCALE)
    write_tone(directory / "short.wav", 44100, 2)
    message = "audio/zh-CN/short.wav: 44100 Hz stereo 16-bit; prompts must be 8000 Hz mono 16-bit"

    with pytest.raises(AudioFormatError) as excinfo:
        PromptAudio.open(static_copy, LOCALE).pcm("short")
    assert str(excinfo.value) == message

    before = digest(directory / "short.wav")
    assert main(["prompts", "build", "--root", str(static_copy)]) == 1
    out, err = capsys.readouterr()
    assert "rendered 0, up to date 3, recorded 1" in out
    assert message in err
    assert digest(directory / "short.wav") == before

    (directory / "medium.wav").write_bytes(b"not a wav at all")
    with pytest.raises(AudioFormatError, match=r"medium\.wav: not a PCM WAV file"):
        check_wav(directory / "medium.wav")


def test_cli_build_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_catalog(tmp_path, {"short": SHORT})
    assert main(["prompts", "build", "--locale", LOCALE, "--root", str(tmp_path)]) == 0
    assert "rendered 1, up to date 0, recorded 0" in capsys.readouterr().out
    assert main(["prompts", "build", "--root", str(tmp_path)]) == 0
    assert "rendered 0, up to date 1, recorded 0" in capsys.readouterr().out


def test_missing_espeak_is_a_clear_error(
    static_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    # nothing to render: espeak-ng is not needed
    assert build_locale(static_copy, LOCALE).count("up to date") == len(STATIC_PROMPTS)
    (audio_dir(static_copy, LOCALE) / "short.wav").unlink()
    with pytest.raises(MissingPartError, match=r"install espeak-ng \(apt-get install espeak-ng\)"):
        build_locale(static_copy, LOCALE)


@pytest.mark.slow  # renders 131 number and digit clips
def test_variables_give_segments_number_and_digit_clips(variable_root: Path) -> None:
    directory = audio_dir(variable_root, LOCALE)
    for name in ("hold.progress.1.wav", "hold.progress.3.wav", "number/11.wav", "digit/0.wav"):
        assert_starts_and_ends_on_speech(directory / name)
    for name in ("hold.progress.1.wav", "hold.progress.2.wav", "hold.progress.3.wav"):
        check_wav(directory / name)
    assert not (directory / "hold.progress.wav").exists()
    assert sorted(int(p.stem) for p in (directory / "number").glob("*.wav")) == list(range(121))
    assert sorted(int(p.stem) for p in (directory / "digit").glob("*.wav")) == list(range(10))
    # the pause inside the second segment stays in it as silence
    assert abs(longest_silence_s(samples(directory / "hold.progress.2.wav")) - 0.5) <= 0.020

    audio = PromptAudio.open(variable_root, LOCALE)
    assert audio.clips("hold.progress", {"position": 3, "minutes": "15"}) == [
        directory / "hold.progress.1.wav",
        directory / "number/3.wav",
        directory / "hold.progress.2.wav",
        directory / "number/15.wav",
        directory / "hold.progress.3.wav",
    ]
    assert audio.clips("transfer.to_seat", {"staff_id": "1024"}) == [
        directory / "transfer.to_seat.1.wav",
        directory / "digit/1.wav",
        directory / "digit/0.wav",
        directory / "digit/2.wav",
        directory / "digit/4.wav",
        directory / "transfer.to_seat.2.wav",
    ]
    assert audio.clips("short") == [directory / "short.wav"]
    pcm = audio.pcm("hold.progress", {"position": 3, "minutes": 15})
    parts = audio.clips("hold.progress", {"position": 3, "minutes": 15})
    assert pcm == b"".join(check_wav(p) for p in parts)
    audio.preload()

    with pytest.raises(KeyError, match=r"needs a value for \{minutes\}"):
        audio.clips("hold.progress", {"position": 3})
    with pytest.raises(ValueError, match=r"outside the spoken range 0\.\.120"):
        audio.clips("hold.progress", {"position": 121, "minutes": 1})
    with pytest.raises(ValueError, match="digits"):
        audio.clips("transfer.to_seat", {"staff_id": "A12"})


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "零"),
        (7, "七"),
        (10, "十"),
        (11, "十一"),
        (19, "十九"),
        (20, "二十"),
        (35, "三十五"),
        (100, "一百"),
        (101, "一百零一"),
        (110, "一百一十"),
        (115, "一百一十五"),
        (120, "一百二十"),
        (1005, "一千零五"),
    ],
)
def test_chinese_numbers(n: int, words: str) -> None:
    assert chinese_number(n) == words


def test_digit_words() -> None:
    assert digit_words("1024") == ["一", "零", "二", "四"]
    with pytest.raises(ValueError):
        digit_words("12a")
