"""Sounds a scripted caller makes besides words: line noise of several colours, mains hum, crackle.

Deterministic for a given seed, 8 kHz 16-bit PCM, scaled to a level in dBFS
(RMS relative to a full-scale sine, as telephony meters read it).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from ivr.media import SAMPLE_RATE

NoiseKind = Literal["white", "pink", "brown", "hum", "crackle"]
FULL_SCALE = 32767.0
Samples = npt.NDArray[np.float64]


def scale_to_dbfs(x: Samples, level_dbfs: float) -> Samples:
    """Scale so that the RMS is ``level_dbfs`` below a full-scale sine (0 dBFS = RMS 32767/√2)."""
    rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    if rms == 0.0:
        return x
    target = FULL_SCALE / np.sqrt(2) * 10 ** (level_dbfs / 20)
    return x * (target / rms)


def to_pcm(x: Samples) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def noise(kind: NoiseKind, seconds: float, level_dbfs: float, seed: int = 0) -> bytes:
    """``seconds`` of ``kind`` noise at ``level_dbfs``."""
    n = round(seconds * SAMPLE_RATE)
    rng = np.random.default_rng(seed)
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.arange(spectrum.size, dtype=np.float64)
        f[0] = 1.0
        x = np.fft.irfft(spectrum / np.sqrt(f), n)
    elif kind == "brown":
        x = np.cumsum(rng.standard_normal(n))
        x -= np.convolve(x, np.ones(801) / 801, mode="same")  # keep it from wandering off (DC)
    elif kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        x = np.sin(2 * np.pi * 50 * t) + 0.3 * np.sin(2 * np.pi * 150 * t) + 0.1 * np.sin(2 * np.pi * 250 * t)
    else:  # crackle: sparse clicks on a faint hiss
        x = rng.standard_normal(n) * 0.02
        clicks = rng.random(n) < 30 / SAMPLE_RATE
        x[clicks] += rng.choice([-1.0, 1.0], int(clicks.sum())) * (2 + 3 * rng.random(int(clicks.sum())))
        x = np.convolve(x, np.exp(-np.arange(12) / 3.0), mode="same")
    return to_pcm(scale_to_dbfs(x, level_dbfs))


def mix(a: bytes, b: bytes) -> bytes:
    """Sum two PCM streams (the shorter padded with silence), clipped to 16 bits."""
    xa = np.frombuffer(a, "<i2").astype(np.float64)
    xb = np.frombuffer(b, "<i2").astype(np.float64)
    n = max(xa.size, xb.size)
    out = np.zeros(n)
    out[: xa.size] += xa
    out[: xb.size] += xb
    return to_pcm(out)
