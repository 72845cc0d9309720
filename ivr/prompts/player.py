"""Prompt audio as the engine plays it: whole 20 ms frames, cut once and kept."""

from __future__ import annotations

from ivr.flows.schema import Say
from ivr.media import split_frames
from ivr.prompts.audio_store import PromptAudio
from ivr.prompts.hold_music import built_in_music, music_path


class PromptPlayer:
    """Implements the engine's ``PromptSource`` port over a locale's audio files."""

    def __init__(self, store: PromptAudio) -> None:
        self.store = store
        self._frames: dict[tuple[str, tuple[tuple[str, str | int], ...]], list[bytes]] = {}
        self._music: dict[str, list[bytes]] = {}

    def frames(self, say: Say) -> list[bytes]:
        if "number" in say.vars:  # a caller's number: one call's words, not kept (the clips are cached)
            return split_frames(self.store.pcm(say.prompt, say.vars))
        key = (say.prompt, tuple(sorted(say.vars.items())))
        if key not in self._frames:
            self._frames[key] = split_frames(self.store.pcm(say.prompt, say.vars))
        return self._frames[key]

    def music(self, spec: str) -> list[bytes]:
        if spec not in self._music:
            root = self.store.root if self.store.root is not None else self.store.directory.parents[1]
            path = music_path(spec, root)
            self._music[spec] = split_frames(built_in_music() if path is None else self.store.load(path))
        return self._music[spec]
