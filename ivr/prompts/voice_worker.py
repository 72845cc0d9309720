"""Words rendered to telephone frames on a worker, never on the media tick (the whisper to a seat).

``submit(key, text)`` puts a job on a bounded queue and returns at once;
``take()`` hands back whatever finished since the last call, as ``(key,
frames)`` pairs, where ``frames`` is empty if rendering failed (the caller of
``take`` decides what a missing voice means). One thread, owned and stopped by
whoever started it. The text may carry caller data: it is never logged.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable

from ivr.media import split_frames

log = logging.getLogger(__name__)
Render = Callable[[str], bytes]  # words → 8 kHz mono 16-bit PCM


def espeak_render(voice: str, words_per_minute: int | None = None) -> Render:
    """The prompt renderer's chain (espeak-ng, band limit, trim, loudness) for one voice and speed."""
    from ivr.prompts.render import Speaker

    speaker: Speaker | None = None

    def render(text: str) -> bytes:
        nonlocal speaker
        if speaker is None:
            speaker = Speaker(voice, words_per_minute=words_per_minute)
        data: bytes = speaker.words(text).raw_data
        return data

    return render


class VoiceWorker:
    def __init__(self, render: Render, maxsize: int = 64) -> None:
        self._render = render
        self._jobs: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize)
        self._done: list[tuple[str, list[bytes]]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.failures = 0
        self.dropped = 0

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the voice worker is already running")
        self._thread = threading.Thread(target=self._run, name="ivr-voice", daemon=True)
        self._thread.start()

    def submit(self, key: str, text: str) -> bool:
        """Queue ``text`` to be rendered; False (and nothing will come back) if the queue is full."""
        try:
            self._jobs.put_nowait((key, text))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def take(self) -> list[tuple[str, list[bytes]]]:
        with self._lock:
            out, self._done = self._done, []
        return out

    def close(self) -> None:
        thread = self._thread
        if thread is None:
            return
        while thread.is_alive():
            try:
                self._jobs.put(None, timeout=0.2)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):  # make room: the worker is stopping
                    self._jobs.get_nowait()
        thread.join(timeout=10)
        self._thread = None

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            key, text = job
            try:
                frames = split_frames(self._render(text))
            except Exception as exc:  # a voice that fails leaves the whisper silent; logged without the words
                self.failures += 1
                log.warning("rendering words for %s failed: %s", key[:8], type(exc).__name__)
                frames = []
            with self._lock:
                self._done.append((key, frames))
