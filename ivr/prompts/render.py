"""Words to telephone audio: espeak-ng through pydub, trimmed and loudness-normalised.

Every spoken piece goes through the same chain, so every clip a caller hears
sits at one level and starts and stops on speech:

1. ``espeak-ng -v <voice> --stdout`` (the text goes on stdin, so words that
   start with ``-`` are never read as options); the WAV is loaded with pydub;
2. mono, 16-bit, a windowed-sinc low-pass below the 4 kHz telephone Nyquist
   (pydub's ``set_frame_rate`` interpolates without one, which would alias
   espeak's 4-11 kHz sibilants into the band), then ``set_frame_rate(8000)``;
3. leading and trailing silence trimmed: 1 ms chunks quieter than
   ``TRIM_BELOW_PEAK_DB`` under the piece's own peak (after resampling);
4. gain to an RMS of ``TARGET_DBFS``, with a soft peak limiter that keeps
   every sample under ``CEILING_DBFS`` (no clipping), re-measured until the
   RMS is within ``TARGET_TOLERANCE_DB``.

Pauses (``[停顿 1s]``) are exact digital silence inserted between pieces, so
the silence a caller hears is exactly what the catalog and the flow say.
Rendering is deterministic: the same words, voice and constants give the same
bytes (``RENDERER_VERSION`` is part of the build manifest's hash; bump it when
this chain changes).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ivr.errors import IvrError, MissingPartError
from ivr.media import SAMPLE_RATE, SAMPLE_WIDTH
from ivr.prompts.catalog import Pause, Words

with warnings.catch_warnings():
    # pydub warns at import when ffmpeg is absent; WAV in and out never needs it.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)
    warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)
    from pydub import AudioSegment

RENDERER_VERSION = 1
TARGET_DBFS = -20.0
"""RMS level of every rendered speech piece, in dB below full scale."""
TARGET_TOLERANCE_DB = 0.1
CEILING_DBFS = -1.0
"""No rendered sample is louder than this (peak limiter)."""
KNEE_DBFS = -4.0
"""The limiter leaves samples below this untouched and bends the rest towards the ceiling."""
TRIM_BELOW_PEAK_DB = 40.0
"""Leading/trailing audio this far under the piece's peak counts as silence and is cut."""
LOWPASS_HZ = 3600.0
_LOWPASS_TAPS = 101

INSTALL_ESPEAK = "install espeak-ng (apt-get install espeak-ng)"


def find_espeak() -> str:
    """The espeak-ng executable, or a MissingPartError saying how to install it."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingPartError(f"espeak-ng is not on PATH; {INSTALL_ESPEAK}")
    return exe


class Speaker:
    """Renders words with one espeak-ng voice into processed 8 kHz mono 16-bit clips."""

    def __init__(self, voice: str, espeak: str | None = None, words_per_minute: int | None = None) -> None:
        self.voice = voice
        self.espeak = espeak or find_espeak()
        self.speed = (
            [] if words_per_minute is None else ["-s", str(words_per_minute)]
        )  # espeak's default: 175

    def raw(self, text: str) -> AudioSegment:
        """espeak-ng's own output for ``text`` (22050 Hz), unprocessed."""
        try:
            proc = subprocess.run(
                [self.espeak, "-v", self.voice, *self.speed, "--stdout"],
                input=text.encode("utf-8"),
                capture_output=True,
                check=False,
            )
        except FileNotFoundError:
            raise MissingPartError(f"{self.espeak} not found; {INSTALL_ESPEAK}") from None
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip()
            if "voice does not exist" in err:
                raise MissingPartError(
                    f"espeak-ng has no voice '{self.voice}' (the catalog's 'voice'); "
                    f"pick one from `espeak-ng --voices` or {INSTALL_ESPEAK}"
                )
            raise IvrError(f"espeak-ng failed on {text!r} (exit {proc.returncode}): {err}")
        return AudioSegment.from_wav(io.BytesIO(proc.stdout))

    def words(self, text: str) -> AudioSegment:
        """``text`` spoken, trimmed and normalised (see the module docstring)."""
        seg = trim(to_telephone(self.raw(text)))
        if len(seg) == 0:
            raise IvrError(f"espeak-ng produced no audible speech for {text!r}")
        return normalise(seg)

    def pieces(self, pieces: Sequence[Words | Pause]) -> AudioSegment:
        """Words pieces rendered one by one and joined with exact silence for each pause."""
        out = AudioSegment.empty().set_frame_rate(SAMPLE_RATE)
        for piece in pieces:
            out += self.words(piece.text) if isinstance(piece, Words) else silence(piece.seconds)
        return out


def silence(seconds: float) -> AudioSegment:
    """Exact digital silence, rounded to whole samples at 8 kHz."""
    samples = round(seconds * SAMPLE_RATE)
    return AudioSegment(
        bytes(samples * SAMPLE_WIDTH), sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=1
    )


def _samples(seg: AudioSegment) -> npt.NDArray[np.float64]:
    return np.frombuffer(seg.raw_data, dtype="<i2").astype(np.float64) / 32768.0


def _segment(x: npt.NDArray[np.float64], frame_rate: int) -> AudioSegment:
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2").tobytes()
    return AudioSegment(pcm, sample_width=SAMPLE_WIDTH, frame_rate=frame_rate, channels=1)


def to_telephone(seg: AudioSegment) -> AudioSegment:
    """Mono, 16-bit, band-limited and resampled to 8 kHz."""
    seg = seg.set_channels(1).set_sample_width(SAMPLE_WIDTH)
    if seg.frame_rate > SAMPLE_RATE:
        cutoff = LOWPASS_HZ / seg.frame_rate
        n = np.arange(_LOWPASS_TAPS) - (_LOWPASS_TAPS - 1) / 2
        taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(_LOWPASS_TAPS)
        taps /= taps.sum()
        seg = _segment(np.convolve(_samples(seg), taps, mode="same"), seg.frame_rate)
    return seg.set_frame_rate(SAMPLE_RATE)


def trim(seg: AudioSegment) -> AudioSegment:
    """``seg`` without leading and trailing audio quieter than its peak minus TRIM_BELOW_PEAK_DB.

    Like ``pydub.silence.detect_leading_silence`` with ``chunk_size=1`` from both ends (1 ms
    chunks whose RMS is under the threshold are silence), computed at once with numpy.
    """
    x = _samples(seg)
    chunk = seg.frame_rate // 1000
    if x.size == 0 or not np.any(x):
        return seg[0:0]
    peak = float(np.max(np.abs(x)))
    threshold = peak * 10 ** (-TRIM_BELOW_PEAK_DB / 20)
    whole = x[: x.size - x.size % chunk].reshape(-1, chunk)
    loud = np.flatnonzero(np.sqrt(np.mean(np.square(whole), axis=1)) >= threshold)
    if loud.size == 0:
        return seg[0:0]
    start, end = int(loud[0]) * chunk, (int(loud[-1]) + 1) * chunk
    return seg._spawn(seg.raw_data[start * SAMPLE_WIDTH : end * SAMPLE_WIDTH])


def _limit(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    knee = 10 ** (KNEE_DBFS / 20)
    ceiling = 10 ** (CEILING_DBFS / 20)
    mag = np.abs(x)
    over = mag > knee
    bent = knee + (ceiling - knee) * np.tanh((mag - knee) / (ceiling - knee))
    return np.where(over, np.sign(x) * bent, x)


def rms_dbfs(x: npt.NDArray[np.float64]) -> float:
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    return 20 * float(np.log10(rms)) if rms > 0 else float("-inf")


def normalise(seg: AudioSegment) -> AudioSegment:
    """``seg`` at an RMS of TARGET_DBFS, every sample under CEILING_DBFS."""
    x = _samples(seg)
    level = rms_dbfs(x)
    if level == float("-inf"):
        return seg
    gain_db = TARGET_DBFS - level
    y = _limit(x * 10 ** (gain_db / 20))
    for _ in range(8):  # the limiter takes a little energy off the peaks: make it up
        miss = TARGET_DBFS - rms_dbfs(y)
        if abs(miss) <= TARGET_TOLERANCE_DB / 2:
            break
        gain_db += miss
        y = _limit(x * 10 ** (gain_db / 20))
    return _segment(y, seg.frame_rate)
