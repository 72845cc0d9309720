"""Synthetic line sounds: the noises a phone line makes, at a chosen level.

Everything here is 8 kHz mono float64 in int16 units (full scale is 32768) and
deterministic: each generator takes a seeded ``numpy.random.Generator``.
Levels are dBFS relative to a full-scale square wave (the convention pydub's
``AudioSegment.dBFS`` uses, so a full-scale sine is -3 dBFS).

Used to build the hearing evaluation set and by simulated callers that are
"noisy for" a while; ``to_pcm`` turns a signal into frames' bytes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ivr.media import FRAME_SAMPLES, SAMPLE_RATE

Signal = npt.NDArray[np.float64]

FULL_SCALE = 32768.0


def level_dbfs(x: Signal) -> float:
    """RMS level of ``x`` in dBFS (-inf for digital silence)."""
    power = float(np.mean(np.square(x))) if len(x) else 0.0
    if power <= 0.0:
        return float("-inf")
    return 10.0 * float(np.log10(power / FULL_SCALE**2))


def active_level_dbfs(x: Signal, dynamic_range_db: float = 30.0) -> float:
    """Level of ``x`` over its active frames only (a simple stand-in for ITU-T P.56).

    A frame is active when its level is within ``dynamic_range_db`` of the
    loudest frame; pauses between words and sentences do not dilute the level.
    """
    n = len(x) // FRAME_SAMPLES * FRAME_SAMPLES
    if n == 0:
        return level_dbfs(x)
    powers = np.mean(np.square(x[:n].reshape(-1, FRAME_SAMPLES)), axis=1)
    active = powers[powers >= powers.max() * 10.0 ** (-dynamic_range_db / 10.0)]
    return 10.0 * float(np.log10(float(np.mean(active)) / FULL_SCALE**2))


def scaled(x: Signal, dbfs: float, *, active: bool = False) -> Signal:
    """``x`` scaled so that its level (active level if ``active``) is ``dbfs``."""
    now = active_level_dbfs(x) if active else level_dbfs(x)
    if not np.isfinite(now):
        return x.copy()
    gain = 10.0 ** ((dbfs - now) / 20.0)
    out: Signal = x * gain
    return out


def seconds(n: float) -> int:
    """Number of samples in ``n`` seconds."""
    return round(n * SAMPLE_RATE)


def silence(duration_s: float) -> Signal:
    return np.zeros(seconds(duration_s))


def white(rng: np.random.Generator, duration_s: float, dbfs: float) -> Signal:
    return scaled(rng.standard_normal(seconds(duration_s)), dbfs)


def _coloured(rng: np.random.Generator, duration_s: float, dbfs: float, exponent: float) -> Signal:
    """Noise whose power falls as 1/f**exponent above 20 Hz (flat below)."""
    n = seconds(duration_s)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE), 20.0)
    return scaled(np.fft.irfft(spectrum / f ** (exponent / 2.0), n), dbfs)


def pink(rng: np.random.Generator, duration_s: float, dbfs: float) -> Signal:
    return _coloured(rng, duration_s, dbfs, 1.0)


def brown(rng: np.random.Generator, duration_s: float, dbfs: float) -> Signal:
    return _coloured(rng, duration_s, dbfs, 2.0)


def comfort_noise(rng: np.random.Generator, duration_s: float, dbfs: float = -60.0) -> Signal:
    """The faint hiss a gateway plays in pauses (RFC 3389 comfort noise): mildly pink."""
    return _coloured(rng, duration_s, dbfs, 0.5)


def hum(rng: np.random.Generator, duration_s: float, dbfs: float, mains_hz: float = 50.0) -> Signal:
    """Mains hum: the fundamental with weaker odd harmonics, random phases."""
    t = np.arange(seconds(duration_s)) / SAMPLE_RATE
    x = np.zeros_like(t)
    for k, gain in ((1, 1.0), (3, 0.35), (5, 0.2), (7, 0.1)):
        x += gain * np.sin(2 * np.pi * k * mains_hz * t + rng.uniform(0, 2 * np.pi))
    return scaled(x, dbfs)


def clicks(
    rng: np.random.Generator,
    duration_s: float,
    per_second: float,
    peak_dbfs: float,
    spread_db: float = 20.0,
) -> Signal:
    """Crackle: impulsive clicks at random (Poisson) times, each a decaying burst of 1-3 ms.

    Click peaks are spread log-uniformly over ``spread_db`` below ``peak_dbfs``.
    """
    n = seconds(duration_s)
    x = np.zeros(n)
    count = rng.poisson(per_second * duration_s)
    for start in rng.integers(0, n, size=count):
        length = int(rng.integers(8, 25))
        decay = np.exp(-np.arange(length) / (length / 4.0))
        burst = rng.standard_normal(length) * decay
        burst /= np.max(np.abs(burst))
        burst *= 10.0 ** ((peak_dbfs - rng.uniform(0.0, spread_db)) / 20.0) * FULL_SCALE
        end = min(n, start + length)
        x[start:end] += burst[: end - start]
    return x


def click(peak_dbfs: float = -6.0) -> Signal:
    """One sharp click (a handset knock, a line glitch): 2 ms, alternating sign, decaying."""
    length = seconds(0.002)
    decay = np.exp(-np.arange(length) / 3.0)
    sign = np.where(np.arange(length) % 2 == 0, 1.0, -1.0)
    out: Signal = sign * decay * (10.0 ** (peak_dbfs / 20.0) * FULL_SCALE)
    return out


def cough(rng: np.random.Generator, dbfs: float = -15.0, duration_s: float = 0.3) -> Signal:
    """A cough: a sharp broadband burst (low-passed noise) that dies away in ``duration_s``."""
    n = seconds(duration_s)
    noise = np.fft.irfft(
        np.fft.rfft(rng.standard_normal(n)) / np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 300) ** 0.5,
        n,
    )
    t = np.arange(n) / SAMPLE_RATE
    envelope = (1 - np.exp(-t / 0.01)) * np.exp(-t / (duration_s / 4))
    return scaled(noise * envelope, dbfs, active=True)


def mix(speech: Signal, noise: Signal, snr_db: float) -> Signal:
    """``speech`` plus ``noise`` rescaled so that speech's active level is ``snr_db`` above it."""
    if len(noise) < len(speech):
        raise ValueError(f"noise is {len(noise)} samples, shorter than the speech ({len(speech)})")
    noise = noise[: len(speech)]
    return speech + scaled(noise, active_level_dbfs(speech) - snr_db)


def overlay(base: Signal, sound: Signal, at_s: float) -> Signal:
    """``base`` with ``sound`` added starting ``at_s`` seconds in (cut at the end of ``base``)."""
    out = base.copy()
    start = seconds(at_s)
    end = min(len(out), start + len(sound))
    out[start:end] += sound[: end - start]
    return out


def to_pcm(x: Signal) -> bytes:
    """16-bit little-endian PCM, saturating like a real codec path, padded to whole frames."""
    pcm = np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()
    pad = -len(pcm) % (FRAME_SAMPLES * 2)
    return pcm + bytes(pad)
