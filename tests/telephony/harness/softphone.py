"""What the softphone harnesses (baresip, linphonec) share: tone files, WAV reading, process groups.

Each softphone runs as a child process in its own process group with its
config in a directory the test owns; ``stop_group`` ends it (SIGTERM, a bounded
wait, then SIGKILL to the whole group). Audio is files only: a WAV tone as the
microphone, a WAV of what the phone heard as the speaker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000


@dataclass(frozen=True, slots=True)
class Registration:
    """Where a softphone registers: the registrar's ``host:port``, the transport, the password."""

    host: str
    port: int
    transport: str = "udp"
    password: str = "secret"


def write_tone(path: Path, hz: float, seconds: float, level: float = 0.3) -> Path:
    """A mono 16-bit 8 kHz WAV of a pure ``hz`` tone (``level`` of full scale)."""
    t = np.arange(int(seconds * RATE)) / RATE
    pcm = (np.sin(2 * np.pi * hz * t) * level * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    return path


def read_frames(path: Path) -> list[bytes]:
    """A WAV as 20 ms frames of 8 kHz mono 16-bit PCM (other rates are decimated, stereo's first channel)."""
    with wave.open(str(path), "rb") as src:
        rate, channels, width = src.getframerate(), src.getnchannels(), src.getsampwidth()
        raw = src.readframes(src.getnframes())
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples, expected 16-bit")
    x = np.frombuffer(raw, "<i2")[::channels]
    if rate != RATE:
        if rate % RATE:
            raise ValueError(f"{path}: {rate} Hz is no multiple of {RATE} Hz")
        x = x[:: rate // RATE]
    pcm = x.astype("<i2").tobytes()
    return [pcm[n : n + 320] for n in range(0, len(pcm) - 319, 320)]


def stop_group(process: subprocess.Popen[bytes], timeout: float = 5.0) -> int | None:
    """SIGTERM the process's group, wait up to ``timeout`` s, then SIGKILL the group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    return process.returncode
