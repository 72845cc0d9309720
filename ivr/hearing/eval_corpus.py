"""The labelled evaluation set for line hearing, built from real sources at run time.

Speech is Mandarin front-desk sentences spoken by espeak-ng (voice ``cmn`` with
male and female variants, three speeds), resampled to 8 kHz. Around it:
digital silence, comfort noise, white/pink/brown noise, mains hum, crackle,
and speech mixed with noise at 20, 10, 5 and 0 dB SNR. Every clip carries the
state a listener would give it; speech in noise at 10 dB SNR or better is
``SPEECH``, at 5 dB or worse ``NOISE`` (a line too noisy to follow).

Generation is deterministic (seeded numpy, fixed espeak-ng arguments) and
renders are cached per process, so a test session or a bench run pays for
espeak-ng once.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import cache

import numpy as np

from ivr.hearing import sounds
from ivr.hearing.line_state import LineState
from ivr.hearing.sounds import Signal
from ivr.media import SAMPLE_RATE

SENTENCES = (
    "您好，我想预订明天的房间。",
    "请问你们几点退房？",
    "我的订单号是三五七二六。",
    "可以帮我转接前台吗？",
    "我需要一辆出租车去机场。",
    "房间里的空调坏了，请派人来修一下。",
    "早餐是几点到几点？",
    "我想取消后天的预订，谢谢。",
)
VOICES = ("cmn", "cmn+f3", "cmn+m3")
SPEEDS = (130, 175, 220)

NORMAL_SPEECH_DBFS = -20.0
QUIET_SPEECH_DBFS = -45.0
BACKGROUND_DBFS = -66.0  # the faint hiss under every recorded voice
GAP_S = 0.3  # pause between sentences in a clip
CLIP_S = 6.0  # length of a non-speech clip


@dataclass(frozen=True, slots=True)
class Clip:
    """One labelled piece of line audio: ``category`` names how it was made."""

    category: str
    label: LineState
    pcm: bytes


class SpeechEngineMissing(RuntimeError):
    """espeak-ng is not installed or has no Mandarin voice."""


def _resample(x: Signal, rate: int) -> Signal:
    """Band-limited resampling to 8 kHz by cutting the spectrum (exact for whole clips)."""
    n_out = round(len(x) * SAMPLE_RATE / rate)
    spectrum = np.fft.rfft(x)[: n_out // 2 + 1]
    return np.fft.irfft(spectrum, n_out) * (n_out / len(x))


@cache
def _render(text: str, voice: str, speed: int) -> Signal:
    try:
        out = subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SpeechEngineMissing(f"espeak-ng could not speak with voice {voice}: {exc}") from exc
    if out[:4] != b"RIFF" or out.find(b"data") < 0:
        raise SpeechEngineMissing(f"espeak-ng gave no WAV for voice {voice}")
    rate = int.from_bytes(out[24:28], "little")
    data = out[out.find(b"data") + 8 :]
    data = data[: len(data) // 2 * 2]
    return _trimmed(_resample(np.frombuffer(data, dtype="<i2").astype(np.float64), rate))


def _trimmed(x: Signal, below_peak_db: float = 40.0) -> Signal:
    """``x`` without the silence espeak-ng puts before and after a sentence."""
    loud = np.flatnonzero(np.abs(x) >= np.max(np.abs(x)) * 10 ** (-below_peak_db / 20))
    return x[loud[0] : loud[-1] + 1] if len(loud) else x


def speech(voice: str, speed: int, sentences: tuple[str, ...]) -> Signal:
    """Sentences spoken one after the other with short pauses, at espeak-ng's own level."""
    parts: list[Signal] = []
    for text in sentences:
        parts.append(_render(text, voice, speed))
        parts.append(sounds.silence(GAP_S))
    return np.concatenate(parts)


def _speakers() -> list[tuple[str, int, tuple[str, ...]]]:
    """Every voice at every speed, each with its own three sentences."""
    out = []
    for i, (voice, speed) in enumerate((v, s) for v in VOICES for s in SPEEDS):
        picked = tuple(SENTENCES[(i + k) % len(SENTENCES)] for k in range(3))
        out.append((voice, speed, picked))
    return out


def _voice(rng: np.random.Generator, voice: str, speed: int, texts: tuple[str, ...], dbfs: float) -> Signal:
    x = sounds.scaled(speech(voice, speed, texts), dbfs, active=True)
    return x + sounds.comfort_noise(rng, len(x) / SAMPLE_RATE, BACKGROUND_DBFS)


NOISES = {"white": sounds.white, "pink": sounds.pink, "brown": sounds.brown}
SNRS = {20: LineState.SPEECH, 10: LineState.SPEECH, 5: LineState.NOISE, 0: LineState.NOISE}


@cache
def evaluation_set(seed: int = 20240611) -> tuple[Clip, ...]:
    """The whole labelled set (about six minutes of line audio)."""
    rng = np.random.default_rng(seed)
    clips: list[Clip] = []

    def add(category: str, label: LineState, x: Signal) -> None:
        clips.append(Clip(category, label, sounds.to_pcm(x)))

    speakers = _speakers()
    for voice, speed, texts in speakers:
        add("speech", LineState.SPEECH, _voice(rng, voice, speed, texts, NORMAL_SPEECH_DBFS))
    for voice, speed, texts in speakers:
        add("quiet speech", LineState.QUIET, _voice(rng, voice, speed, texts, QUIET_SPEECH_DBFS))

    add("digital silence", LineState.SILENCE, sounds.silence(CLIP_S))
    for _ in range(2):
        add("comfort noise", LineState.SILENCE, sounds.comfort_noise(rng, CLIP_S, -60.0))

    for name, make in NOISES.items():
        for dbfs in (-30.0, -20.0, -10.0):
            add(f"{name} noise", LineState.NOISE, make(rng, CLIP_S, dbfs))
    for dbfs in (-30.0, -20.0):
        add("mains hum", LineState.NOISE, sounds.hum(rng, CLIP_S, dbfs))
    for rate, peak in ((30.0, -6.0), (80.0, -12.0)):
        crackle = sounds.clicks(rng, CLIP_S, rate, peak)
        add("crackle", LineState.NOISE, crackle + sounds.comfort_noise(rng, CLIP_S, BACKGROUND_DBFS))

    k = 0
    for snr, label in SNRS.items():
        for name, make in NOISES.items():
            for _ in range(2):
                voice, speed, texts = speakers[k % len(speakers)]
                k += 1
                x = _voice(rng, voice, speed, texts, NORMAL_SPEECH_DBFS)
                noisy = sounds.mix(x, make(rng, len(x) / SAMPLE_RATE, -30.0), snr)
                add(f"speech in {name} noise {snr} dB", label, noisy)
    return tuple(clips)
