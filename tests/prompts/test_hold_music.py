"""Hold music: the built-in loop, an admin's own WAV file, and a wrong file caught by ``ivr flow check``."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np

from ivr.flows.checks import check
from ivr.media import FRAME_BYTES
from ivr.prompts.audio_store import PromptAudio
from ivr.prompts.hold_music import built_in_music
from ivr.prompts.player import PromptPlayer

REPO = Path(__file__).resolve().parents[2]


def level_dbfs(pcm: bytes) -> float:
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    return float(20 * np.log10(np.sqrt(np.mean(x * x)) / 32768))


def write_wav(path: Path, rate: int, channels: int, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        t = np.arange(int(rate * seconds)) / rate
        tone = np.round(3000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
        w.writeframes(np.repeat(tone, channels).tobytes())


def test_the_built_in_loop_is_soft_and_loops_without_a_click() -> None:
    pcm = built_in_music()
    assert len(pcm) % FRAME_BYTES == 0 and len(pcm) // 16000 >= 10  # whole frames, 10 s or more
    assert -34 < level_dbfs(pcm) < -26  # under the prompts' -20 dBFS, so an update stands out
    x = np.frombuffer(pcm, "<i2").astype(np.int32)
    assert abs(int(x[-1]) - int(x[0])) < 200  # the end meets the start: no click at the loop


def test_an_admins_wav_file_is_played_as_it_is(tmp_path: Path) -> None:
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    write_wav(tmp_path / "audio" / "hold" / "music.wav", 8000, 1, 2.0)
    player = PromptPlayer(PromptAudio.open(tmp_path, "zh-CN"))
    frames = player.music("audio/hold/music.wav")
    assert len(frames) == 100 and all(len(f) == FRAME_BYTES for f in frames)


def test_a_cd_quality_file_is_refused_with_its_line(tmp_path: Path) -> None:
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    shutil.copytree(REPO / "audio", tmp_path / "audio")
    write_wav(tmp_path / "audio" / "hold" / "music.wav", 44100, 2, 0.5)
    flow = tmp_path / "flows" / "desk.yaml"
    flow.parent.mkdir()
    text = (REPO / "flows" / "desk.yaml").read_text(encoding="utf-8")
    flow.write_text(text.replace("music: built-in", "music: audio/hold/music.wav"), encoding="utf-8")
    line = next(i for i, s in enumerate(flow.read_text(encoding="utf-8").splitlines(), 1) if "music:" in s)
    problems = check([flow], tmp_path).problems
    assert [(p.line, p.message) for p in problems] == [
        (line, "hold music audio/hold/music.wav: 44100 Hz stereo 16-bit; it must be 8000 Hz mono 16-bit")
    ]
