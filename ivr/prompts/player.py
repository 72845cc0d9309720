"""Prompt audio as the engine plays it: whole 20 ms frames, cut once and kept."""

from __future__ import annotations

from ivr.flows.schema import Say
from ivr.media import split_frames
from ivr.prompts.audio_store import PromptAudio


class PromptPlayer:
    """Implements the engine's ``PromptSource`` port over a locale's audio files."""

    def __init__(self, store: PromptAudio) -> None:
        self.store = store
        self._frames: dict[tuple[str, tuple[tuple[str, str | int], ...]], list[bytes]] = {}

    def frames(self, say: Say) -> list[bytes]:
        key = (say.prompt, tuple(sorted(say.vars.items())))
        if key not in self._frames:
            self._frames[key] = split_frames(self.store.pcm(say.prompt, say.vars))
        return self._frames[key]
