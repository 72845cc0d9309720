"""Media time: the one clock every call runs on.

A call is a stream of 20 ms frames of 8 kHz, mono, 16-bit little-endian PCM.
Every timer in the bot is a count of these frames; nothing below the
telephony edge reads the wall clock.
"""

from __future__ import annotations

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2  # bytes, signed 16-bit little-endian
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_WIDTH  # 320
SILENT_FRAME = bytes(FRAME_BYTES)


def frames_in(seconds: float) -> int:
    """Number of whole frames in ``seconds`` of media time (rounded to the nearest)."""
    return round(seconds * 1000 / FRAME_MS)


def seconds_of(frames: int) -> float:
    """Media time in seconds of ``frames`` frames."""
    return frames * FRAME_MS / 1000


def split_frames(pcm: bytes) -> list[bytes]:
    """Cut 16-bit PCM into whole frames, padding the last one with silence."""
    out = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    if out and len(out[-1]) < FRAME_BYTES:
        out[-1] = out[-1] + bytes(FRAME_BYTES - len(out[-1]))
    return out
