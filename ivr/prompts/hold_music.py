"""Music for a caller waiting for a seat, between the progress updates.

``hold.music`` in a flow is either ``built-in`` (a soft, slow chime loop made
here, so a fresh install has music without shipping a recording) or a WAV
file (8 kHz, mono, 16-bit) relative to the project root, e.g.
``audio/hold/our-music.wav``. Both are quieter than the prompts (−20 dBFS) so
an update stands out of the music.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ivr.media import SAMPLE_RATE

BUILT_IN = "built-in"
LEVEL_DBFS = -30.0  # RMS of the built-in loop: well under the prompts' −20 dBFS
# a pentatonic walk (C major pentatonic, Hz), one note a second, bell-like decay
_NOTES = (523.25, 659.25, 783.99, 880.0, 783.99, 659.25, 587.33, 523.25, 440.0, 523.25, 587.33, 659.25)
_NOTE_S = 1.0


def built_in_music() -> bytes:
    """The built-in loop: 12 s of soft chimes, 8 kHz mono 16-bit PCM, seamless when repeated."""
    n = int(_NOTE_S * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    fade = np.minimum(1.0, (_NOTE_S - t) / 0.03)  # the last 30 ms fade out: no click between notes
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / 0.35) * fade  # a 10 ms attack, a bell's decay
    notes = [
        envelope
        * (
            np.sin(2 * np.pi * f * t)
            + 0.3 * np.sin(2 * np.pi * 2 * f * t)
            + 0.1 * np.sin(2 * np.pi * 3 * f * t)
        )
        for f in _NOTES
    ]
    loop = np.concatenate(notes)
    rms = float(np.sqrt(np.mean(loop**2)))
    scaled = loop * (32768 * 10 ** (LEVEL_DBFS / 20) / rms)
    pcm: bytes = np.clip(np.round(scaled), -32768, 32767).astype("<i2").tobytes()
    return pcm


def music_path(spec: str, root: Path) -> Path | None:
    """The file a ``hold.music`` setting names (None for the built-in loop)."""
    return None if spec == BUILT_IN else root / spec
