"""Hearing the line frame by frame: speech, silence, noise or too-quiet speech.

Per 20 ms frame the classifier measures four things, all cheap on 160 samples:

- **level**: RMS in dBFS (full-scale square wave = 0 dBFS, as pydub);
- **webrtcvad**'s decision;
- **click**: the crest factor (peak over RMS); a frame whose energy sits in a
  few samples is a click, not a voice;
- **low band**: the energy below ~100 Hz, the projection on the first DCT
  components of the frame (mains hum and rumble live there, speech hardly).

The noise measure is an SNR estimate over the last two seconds. The energy
above the low band is sorted: the mean of its quietest fifth is the noise
floor, the mean of its loudest fifth less that floor is the speech. The
low band is counted whole as noise; its energy from brown noise or hum swings
from frame to frame, so a minimum would undercount it. Speech over a floor
by ``speech_snr_db`` (default 12 dB; a voice already heard keeps it down to
10.5 dB) is speech. The loudest fifth sits a few dB over a voice's active
level, so this puts the line between 10 and 5 dB mixing SNR: stationary
noise, hum and speech drowned at 5 dB SNR or worse are noise.

Smoothing, all counted in frames (media time, no clock):

- leaving SILENCE for a voice needs ``speech_onset_ms`` of sound within the last
  ``onset_window_ms`` with a syllable in it (a frame 6 dB over the quietest sound of
  the last half second: a cough only dies away, so it has none); leaving it for
  NOISE needs ``noise_onset_ms``, longer than a cough; crackle (``crackle_clicks``
  clicks within a second) is NOISE at once; a click is never sound;
- back to SILENCE after ``hangover_ms`` with no sound, so pauses between
  syllables and words keep the state;
- SPEECH, QUIET and NOISE hand over only after the new verdict has held for
  ``switch_ms``;
- a voice also needs a syllable within ``hangover_ms``; without one (steady noise
  after the caller stops, or noise starting on a silent line) the line is noise.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import webrtcvad

from ivr.hearing.line_state import LineState
from ivr.media import FRAME_BYTES, FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE

FULL_SCALE_POWER = 32768.0**2
_SYLLABLE_OVER_FLOOR = 4.0  # 6 dB, in power


@dataclass(frozen=True, slots=True)
class HearingThresholds:
    """What counts as silence, speech, noise and too quiet; times in media milliseconds."""

    vad_mode: int = 2  # webrtcvad aggressiveness 0-3; 3 misses half of quiet speech
    silence_dbfs: float = -55.0  # frames below are nothing (comfort noise is about -60)
    quiet_speech_dbfs: float = -35.0  # speech whose loud syllables stay below is too quiet
    speech_snr_db: float = 12.0  # estimated SNR at or above which a voice is heard over noise
    snr_hysteresis_db: float = 1.5  # a voice already heard stays heard down to this much less
    click_crest: float = 7.0  # peak/RMS of a frame at or above which it is a click
    crackle_clicks: int = 5  # clicks within a second that make the line crackle
    low_band_hz: float = 100.0  # hum and rumble below; counted as noise, never as speech
    history_ms: int = 2000  # window of the noise floor and SNR estimate
    voiced_ms: int = 120  # webrtcvad speech needed within the last second to hear a voice
    speech_onset_ms: int = 200  # syllables needed to hear a voice on a silent line (barge-in)
    noise_onset_ms: int = 360  # sound without syllables needed to leave silence (a cough is shorter)
    onset_window_ms: int = 500
    resume_ms: int = 1000  # within this long of going silent, sound resumes the line at once
    syllable_window_ms: int = 500  # a syllable stands 6 dB over the quietest frame this recent
    hangover_ms: int = 300  # silence needed to go back to SILENCE
    switch_ms: int = 200  # how long a new verdict holds before SPEECH/QUIET/NOISE change

    def __post_init__(self) -> None:
        if self.vad_mode not in (0, 1, 2, 3):
            raise ValueError(f"vad_mode must be 0-3, not {self.vad_mode}")
        if max(self.speech_onset_ms, self.noise_onset_ms) > self.onset_window_ms:
            raise ValueError("an onset cannot be longer than onset_window_ms")
        for name in (
            "history_ms",
            "voiced_ms",
            "speech_onset_ms",
            "noise_onset_ms",
            "onset_window_ms",
            "resume_ms",
            "syllable_window_ms",
            "hangover_ms",
            "switch_ms",
        ):
            if getattr(self, name) < FRAME_MS:
                raise ValueError(f"{name} must be at least one frame ({FRAME_MS} ms)")


def _frames(ms: int) -> int:
    return max(1, round(ms / FRAME_MS))


@functools.cache  # one per setting, shared read-only by every call's classifier
def _low_band_basis(hz: float) -> npt.NDArray[np.float64]:
    """Orthonormal DCT-II rows of one frame up to ``hz`` (25 Hz apart at 8 kHz / 160)."""
    count = math.floor(hz * 2 * FRAME_SAMPLES / SAMPLE_RATE) + 1
    n = np.arange(FRAME_SAMPLES)
    rows = np.array([np.cos(np.pi * k * (n + 0.5) / FRAME_SAMPLES) for k in range(count)])
    basis: npt.NDArray[np.float64] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    basis.flags.writeable = False
    return basis


def _rank_weights(n: int) -> npt.NDArray[np.float64]:
    """Rows that average the quietest and the loudest fifth of ``n`` sorted values."""
    fifth = max(1, n // 5)
    weights = np.zeros((2, n))
    weights[0, :fifth] = 1.0 / fifth
    weights[1, n - fifth :] = 1.0 / fifth
    return weights


@functools.cache  # building these per call cost 0.26 ms: 60 calls answered at once stalled a tick
def _rank_weights_table(history: int) -> tuple[npt.NDArray[np.float64], ...]:
    table = tuple(_rank_weights(n) for n in range(history + 1))
    for weights in table:
        weights.flags.writeable = False
    return table


class _Counter:
    """How many of the last ``size`` frames were marked, in O(1) per frame."""

    __slots__ = ("_marks", "_pos", "count")

    def __init__(self, size: int) -> None:
        self._marks = [False] * size
        self._pos = 0
        self.count = 0

    def push(self, mark: bool) -> None:
        pos = self._pos
        self.count += mark - self._marks[pos]
        self._marks[pos] = mark
        self._pos = pos + 1 if pos + 1 < len(self._marks) else 0


class LineClassifier:
    """Classifies each 20 ms frame of caller audio; one per call, fed every frame in order.

    Deterministic: the same frames give the same states. No clock, no threads.
    After each frame, ``state`` is the line's state, ``level_dbfs`` the frame's
    level and ``snr_db`` the running estimate of voice over noise.
    """

    def __init__(self, thresholds: HearingThresholds | None = None) -> None:
        self.thresholds = t = thresholds or HearingThresholds()
        self._vad = webrtcvad.Vad(t.vad_mode)
        self._basis = _low_band_basis(t.low_band_hz)
        frame_power = FULL_SCALE_POWER * FRAME_SAMPLES
        self._silence_energy = frame_power * 10 ** (t.silence_dbfs / 10)
        self._quiet_energy = frame_power * 10 ** (t.quiet_speech_dbfs / 10)
        self._click_ratio = t.click_crest**2 / FRAME_SAMPLES  # peak² over energy
        self._snr = 10 ** (t.speech_snr_db / 10)
        self._snr_held = 10 ** ((t.speech_snr_db - t.snr_hysteresis_db) / 10)
        self._history = _frames(t.history_ms)
        self._weights = _rank_weights_table(self._history)
        self._speech_onset = _frames(t.speech_onset_ms)
        self._noise_onset = _frames(t.noise_onset_ms)
        self._onset_window = _frames(t.onset_window_ms)
        self._resume = _frames(t.resume_ms)
        self._hangover = _frames(t.hangover_ms)
        self._switch = _frames(t.switch_ms)
        self._min_voiced = _frames(t.voiced_ms)
        self._second = _frames(1000)
        self._syllable_window = _frames(t.syllable_window_ms)
        self.reset()

    def reset(self) -> None:
        """Forget the line: the next frame is heard as the first of a call."""
        self.state = LineState.SILENCE
        self.level_dbfs = -math.inf
        self._snr_db = -math.inf
        self._stale = False  # the rank estimates wait for someone to need them
        self._high = np.zeros(self._history)  # energy above the low band, per frame
        self._low = np.zeros(self._history)  # energy in the low band, per frame
        self._low_sum = 0.0
        self._recent = np.full(self._syllable_window, math.inf)  # ``_high`` of recent sound
        self._filled = 0
        self._remembered = 0
        self._sound = _Counter(self._onset_window)
        self._clicks = _Counter(self._second)
        self._voiced = _Counter(self._second)
        self._since_sound = self._hangover
        self._since_syllable = self._hangover
        self._silent_for = self._resume  # frames in SILENCE, counted up to resume
        self._floor = 0.0  # mean energy of the quietest fifth of frames, above the low band
        self._top = 0.0  # the same of the loudest fifth
        self._pending = LineState.SILENCE
        self._pending_frames = 0

    def hear(self, frame: bytes) -> LineState:
        """Take the next frame (320 bytes of 16-bit PCM) and return the line's state now."""
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"a frame is {FRAME_BYTES} bytes of PCM, not {len(frame)}")
        x = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        energy = float(x @ x)
        if energy < self._silence_energy:  # nothing on the line, or comfort noise
            self.level_dbfs = (
                10 * math.log10(energy / (FULL_SCALE_POWER * FRAME_SAMPLES)) if energy else -math.inf
            )
            self._remember(energy, 0.0, sound=False)
            return self._step(energy, sound=False, click=False, voiced=False)
        self.level_dbfs = 10 * math.log10(energy / (FULL_SCALE_POWER * FRAME_SAMPLES))
        peak = float(np.abs(x).max())
        if peak * peak >= self._click_ratio * energy:  # a click: kept out of the estimates
            return self._step(0.0, sound=False, click=True, voiced=False)
        projected = self._basis @ x
        low = float(projected @ projected)
        self._remember(energy - low, low, sound=True)
        voiced = bool(self._vad.is_speech(frame, SAMPLE_RATE))
        return self._step(energy - low, sound=True, click=False, voiced=voiced)

    def _remember(self, high: float, low: float, *, sound: bool) -> None:
        """Add one frame's band energies to the history window and re-estimate the SNR."""
        count = self._remembered
        pos = count % self._history
        self._low_sum += low - self._low[pos]
        self._high[pos] = high
        self._low[pos] = low
        self._recent[count % self._syllable_window] = high if sound else math.inf
        if pos == self._history - 1:  # once per window, drop the running sum's rounding error
            self._low_sum = float(self._low.sum())
        self._remembered = count + 1
        self._filled = min(count + 1, self._history)
        self._stale = True

    def _estimate(self) -> None:
        """The quietest and loudest fifths of the window and the SNR, when something reads them.

        Sorting the window is most of a frame's cost; a silent line never asks for it.
        """
        if not self._stale:
            return
        self._stale = False
        n = self._filled
        ranked = np.sort(self._high if n == self._history else self._high[:n])
        self._floor, self._top = (self._weights[n] @ ranked).tolist()
        noise = self._floor + self._low_sum / n
        voice = self._top - self._floor
        if voice <= 0.0:
            self._snr_db = -math.inf
        else:
            self._snr_db = 10 * math.log10(voice / noise) if noise > 0.0 else math.inf

    @property
    def snr_db(self) -> float:
        """The running estimate of voice over noise, in dB."""
        self._estimate()
        return self._snr_db

    def _step(self, high: float, *, sound: bool, click: bool, voiced: bool) -> LineState:
        self._sound.push(sound)
        self._clicks.push(click)
        self._voiced.push(voiced)
        self._since_sound = 0 if sound else self._since_sound + 1
        syllable = sound and high >= _SYLLABLE_OVER_FLOOR * float(self._recent.min())
        self._since_syllable = 0 if syllable else self._since_syllable + 1
        self._settle(self._verdict())
        if self.state is LineState.SILENCE:
            self._silent_for = min(self._silent_for + 1, self._resume)
        else:
            self._silent_for = 0
        return self.state

    def _verdict(self) -> LineState:
        """What the line is now by the last frames' measures, before smoothing."""
        if self._clicks.count >= self.thresholds.crackle_clicks:
            return LineState.NOISE
        if self.state is LineState.SILENCE:
            resuming = self._silent_for < self._resume and self._since_sound == 0
            if self._sound.count < self._speech_onset and not resuming:
                return LineState.SILENCE
            heard = self._heard()
            if heard is LineState.NOISE and self._sound.count < self._noise_onset:
                return LineState.SILENCE
            return heard
        if self._since_sound >= self._hangover:
            return LineState.SILENCE
        return self._heard()

    def _heard(self) -> LineState:
        """Voice (SPEECH or QUIET) or NOISE, once something is on the line."""
        heard = self.state is LineState.SPEECH or self.state is LineState.QUIET
        self._estimate()
        noise = self._floor + self._low_sum / self._filled
        if (
            self._top - self._floor < (self._snr_held if heard else self._snr) * noise
            or self._voiced.count < self._min_voiced
            or self._since_syllable >= self._hangover
        ):
            return LineState.NOISE
        return LineState.QUIET if self._top < self._quiet_energy else LineState.SPEECH

    def _settle(self, verdict: LineState) -> None:
        """Take the verdict as the state once it has held long enough."""
        if verdict is self.state:
            self._pending_frames = 0
            return
        if verdict is not self._pending:
            self._pending = verdict
            self._pending_frames = 0
        self._pending_frames += 1
        if LineState.SILENCE in (verdict, self.state) or self._pending_frames >= self._switch:
            self.state = verdict
            self._pending_frames = 0
