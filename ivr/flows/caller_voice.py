"""The scripted caller's voice: espeak-ng Mandarin, or a WAV file, as 8 kHz 16-bit PCM at a level."""

from __future__ import annotations

import io
import shutil
import subprocess
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

with warnings.catch_warnings():
    # pydub imports the deprecated audioop and looks for ffmpeg at import; WAV needs neither
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)
    warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)
    from pydub import AudioSegment

from ivr.errors import MissingPartError
from ivr.hearing.sounds import scaled, to_pcm
from ivr.media import SAMPLE_RATE

CALLER_VOICE = "cmn+m3"  # a voice unlike the bot's own prompts
CALLER_SPEED = 165


def _to_pcm8k(segment: AudioSegment) -> bytes:
    segment = segment.set_channels(1).set_frame_rate(SAMPLE_RATE).set_sample_width(2)
    return bytes(segment.raw_data)


def _at_level(pcm: bytes, level_dbfs: float) -> bytes:
    """Bring the spoken (active) part of ``pcm`` to ``level_dbfs``."""
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    return to_pcm(scaled(x, level_dbfs, active=True))


@lru_cache(maxsize=256)
def spoken(text: str, level_dbfs: float = -20.0) -> bytes:
    """``text`` spoken by espeak-ng at ``level_dbfs`` (RMS of the voiced part)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingPartError("the scripted caller speaks with espeak-ng: apt-get install espeak-ng")
    wav = subprocess.run(
        [exe, "-v", CALLER_VOICE, "-s", str(CALLER_SPEED), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    return _at_level(_to_pcm8k(AudioSegment.from_wav(io.BytesIO(wav))), level_dbfs)


def recorded(path: Path, level_dbfs: float | None = None) -> bytes:
    """A WAV recording as 8 kHz 16-bit mono, optionally brought to ``level_dbfs``."""
    pcm = _to_pcm8k(AudioSegment.from_wav(path))
    return pcm if level_dbfs is None else _at_level(pcm, level_dbfs)
