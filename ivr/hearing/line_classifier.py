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
by ``speech_snr_db`` (default 11.5 dB, which puts the line between 10 and
5 dB mixing SNR) is speech; stationary noise, hum and speech drowned at
5 dB SNR or worse are not.

Smoothing, all counted in frames (media time, no clock):

- leaving SILENCE needs ``onset_ms`` of sound within the last ``onset_window_ms``
  (a cough or a click is shorter), or crackle (``crackle_clicks`` clicks within a second);
- back to SILENCE after ``hangover_ms`` with no sound, so pauses between
  syllables and words keep the state;
- SPEECH, QUIET and NOISE hand over only after the new verdict has held for
  ``switch_ms``;
- SPEECH in noise also needs a syllable (a frame 6 dB over the floor) within
  ``hangover_ms``; without one, the line is back to noise.
"""

from __future__ import annotations

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
    speech_snr_db: float = 11.5  # estimated SNR at or above which a voice is heard over noise
    click_crest: float = 7.0  # peak/RMS of a frame at or above which it is a click
    crackle_clicks: int = 5  # clicks within a second that make the line crackle
    low_band_hz: float = 100.0  # hum and rumble below; counted as noise, never as speech
    history_ms: int = 2000  # window of the noise floor and SNR estimate
    voiced_ms: int = 200  # webrtcvad speech needed within the last second to hear a voice
    onset_ms: int = 360  # sound needed to leave silence (a cough is shorter)
    onset_window_ms: int = 500
    hangover_ms: int = 300  # silence needed to go back to SILENCE
    switch_ms: int = 200  # how long a new verdict holds before SPEECH/QUIET/NOISE change

    def __post_init__(self) -> None:
        if self.vad_mode not in (0, 1, 2, 3):
            raise ValueError(f"vad_mode must be 0-3, not {self.vad_mode}")
        if self.onset_ms > self.onset_window_ms:
            raise ValueError("onset_ms cannot be longer than onset_window_ms")
        for name in ("history_ms", "onset_ms", "hangover_ms", "switch_ms"):
            if getattr(self, name) < FRAME_MS:
                raise ValueError(f"{name} must be at least one frame ({FRAME_MS} ms)")


def _frames(ms: int) -> int:
    return max(1, round(ms / FRAME_MS))


def _low_band_basis(hz: float) -> npt.NDArray[np.float64]:
    """Orthonormal DCT-II rows of one frame up to ``hz`` (25 Hz apart at 8 kHz / 160)."""
    count = math.floor(hz * 2 * FRAME_SAMPLES / SAMPLE_RATE) + 1
    n = np.arange(FRAME_SAMPLES)
    rows = np.array([np.cos(np.pi * k * (n + 0.5) / FRAME_SAMPLES) for k in range(count)])
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


class _Counter:
    """How many of the last ``size`` frames were marked, in O(1) per frame."""

    __slots__ = ("_marks", "_pos", "count")

    def __init__(self, size: int) -> None:
        self._marks = [False] * size
        self._pos = 0
        self.count = 0

    def push(self, mark: bool) -> None:
        self.count += mark - self._marks[self._pos]
        self._marks[self._pos] = mark
        self._pos = (self._pos + 1) % len(self._marks)


class LineClassifier:
    """Classifies each 20 ms frame of caller audio; one per call, fed every frame in order.

    Deterministic: the same frames give the same states. No clock, no threads.
    """

    def __init__(self, thresholds: HearingThresholds | None = None) -> None:
        self.thresholds = t = thresholds or HearingThresholds()
        self._vad = webrtcvad.Vad(t.vad_mode)
        self._basis = _low_band_basis(t.low_band_hz)
        self._silence_energy = FULL_SCALE_POWER * FRAME_SAMPLES * 10 ** (t.silence_dbfs / 10)
        self._quiet_energy = FULL_SCALE_POWER * FRAME_SAMPLES * 10 ** (t.quiet_speech_dbfs / 10)
        self._snr = 10 ** (t.speech_snr_db / 10)
        self._history = _frames(t.history_ms)
        self._onset = _frames(t.onset_ms)
        self._onset_window = _frames(t.onset_window_ms)
        self._hangover = _frames(t.hangover_ms)
        self._switch = _frames(t.switch_ms)
        self._min_voiced = _frames(t.voiced_ms)
        self.reset()

    def reset(self) -> None:
        """Forget the line: the next frame is heard as the first of a call."""
        self.state = LineState.SILENCE
        self.level_dbfs = -math.inf  # of the last frame
        self.snr_db = -math.inf  # the last estimate of voice over noise
        self._high = np.zeros(self._history)  # energy above the low band, per frame
        self._low = np.zeros(self._history)  # energy in the low band, per frame
        self._filled = 0
        self._pos = 0
        self._sound = _Counter(self._onset_window)
        self._clicks = _Counter(_frames(1000))
        self._voiced = _Counter(_frames(1000))
        self._since_sound = self._hangover
        self._since_syllable = self._hangover
        self._floor = 0.0  # noise energy per frame above the low band
        self._top = 0.0  # energy of the loudest frames above the low band
        self._noise = 0.0  # noise energy per frame, low band included
        self._voice = 0.0  # loud frames' energy over the floor
        self._pending = LineState.SILENCE
        self._pending_frames = 0

    def hear(self, frame: bytes) -> LineState:
        """Take the next frame (320 bytes of 16-bit PCM) and return the line's state now."""
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"a frame is {FRAME_BYTES} bytes of PCM, not {len(frame)}")
        x = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        energy = float(x @ x)
        if energy <= 0.0:  # digital silence
            self.level_dbfs = -math.inf
            return self._observe(0.0, 0.0, sound=False, click=False, voiced=False)
        self.level_dbfs = 10 * math.log10(energy / (FULL_SCALE_POWER * FRAME_SAMPLES))
        projected = self._basis @ x
        low = float(projected @ projected)
        peak = max(float(x.max()), -float(x.min()))
        loud = energy >= self._silence_energy
        click = loud and peak * peak * FRAME_SAMPLES >= self.thresholds.click_crest**2 * energy
        voiced = loud and not click and self._vad.is_speech(frame, SAMPLE_RATE)
        return self._observe(energy - low, low, sound=loud and not click, click=click, voiced=voiced)

    def _observe(self, high: float, low: float, *, sound: bool, click: bool, voiced: bool) -> LineState:
        if not click:  # a click would stand in for a syllable in the loud fifth
            self._high[self._pos] = high
            self._low[self._pos] = low
            self._pos = (self._pos + 1) % self._history
            self._filled = min(self._filled + 1, self._history)
        self._sound.push(sound)
        self._clicks.push(click)
        self._voiced.push(voiced)
        self._since_sound = 0 if sound else self._since_sound + 1
        self._estimate()
        syllable = sound and high >= _SYLLABLE_OVER_FLOOR * self._floor
        self._since_syllable = 0 if syllable else self._since_syllable + 1
        self._settle(self._verdict())
        return self.state

    def _verdict(self) -> LineState:
        """What the line is now by the last frames' measures, before smoothing."""
        crackle = self._clicks.count >= self.thresholds.crackle_clicks
        if crackle:
            return LineState.NOISE
        if self.state is LineState.SILENCE:
            if self._sound.count < self._onset:
                return LineState.SILENCE
        elif self._since_sound >= self._hangover:
            return LineState.SILENCE
        if (
            self._voice < self._snr * self._noise
            or self._voiced.count < self._min_voiced
            or self._since_syllable >= self._hangover
        ):
            return LineState.NOISE
        return LineState.QUIET if self._top < self._quiet_energy else LineState.SPEECH

    def _estimate(self) -> None:
        """Noise floor, loud syllables and their SNR over the history window."""
        n = self._filled
        if n == 0:
            return
        fifth = max(1, n // 5)
        ranked = np.partition(self._high[:n], (fifth - 1, n - fifth))
        self._floor = float(ranked[:fifth].mean())
        self._top = float(ranked[n - fifth :].mean())
        self._noise = self._floor + float(self._low[:n].mean())
        self._voice = self._top - self._floor
        if self._voice <= 0.0:
            self.snr_db = -math.inf
        elif self._noise <= 0.0:
            self.snr_db = math.inf
        else:
            self.snr_db = 10 * math.log10(self._voice / self._noise)

    def _settle(self, verdict: LineState) -> None:
        """Take the verdict as the state once it has held long enough."""
        if verdict is self.state:
            self._pending_frames = 0
            return
        if verdict is not self._pending:
            self._pending = verdict
            self._pending_frames = 0
        self._pending_frames += 1
        entering_or_leaving_silence = LineState.SILENCE in (verdict, self.state)
        if entering_or_leaving_silence or self._pending_frames >= self._switch:
            self.state = verdict
            self._pending_frames = 0
