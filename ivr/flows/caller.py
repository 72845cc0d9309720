"""A scripted caller: silent for S, noise for S at L dBFS, says, presses, hangs up, waits for a prompt.

``ScriptedCaller.frames(engine)`` yields, tick by tick, the caller's frame and
whatever else they do in that frame (keys, hang-up, and the recognition result
at the end of each utterance, standing in for the recogniser).
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from ivr.call.engine import CallEngine
from ivr.call.events import EventKind
from ivr.call.inputs import CallerHangup, CallInput, Dtmf, Heard, RecognitionLost
from ivr.flows.caller_noise import noise
from ivr.flows.caller_voice import recorded, spoken
from ivr.flows.schema import CallerAction, Says
from ivr.media import SILENT_FRAME, frames_in, split_frames

Tick = tuple[bytes, list[CallInput]]
KEY_FRAMES = frames_in(0.1)  # a key press every 100 ms
RECOGNISABLE_DBFS = -35.0  # speech quieter than this yields no recognition result


class ScriptedCaller:
    def __init__(self, actions: list[CallerAction], base: Path, seed: int = 0) -> None:
        self.actions = actions
        self.base = base  # folder that 'wav' paths are relative to
        self.seed = seed
        self.unmet_wait: str | None = None  # a prompt the caller waited for and never heard

    def frames(self, engine: CallEngine) -> Generator[Tick, None, None]:
        for n, action in enumerate(self.actions):
            if action.silent is not None:
                for _ in range(frames_in(action.silent)):
                    yield SILENT_FRAME, []
            elif action.noise is not None:
                pcm = noise(action.noise.kind, action.noise.for_, action.noise.level, seed=self.seed + n)
                for frame in split_frames(pcm):
                    yield frame, []
            elif action.says is not None:
                says = action.says if isinstance(action.says, Says) else Says(text=action.says)
                yield from self._says(says)
            elif action.presses is not None:
                for digit in action.presses:
                    yield SILENT_FRAME, [Dtmf(digit)]
                    for _ in range(KEY_FRAMES - 1):
                        yield SILENT_FRAME, []
            elif action.hangs_up:
                yield SILENT_FRAME, [CallerHangup()]
                return
            elif action.recognition_fails:
                yield SILENT_FRAME, [RecognitionLost("the scripted recogniser failed")]
            elif action.waits_for is not None:
                start = len(engine.events)
                while not _finished(engine, action.waits_for, start):
                    if engine.ended:
                        self.unmet_wait = action.waits_for
                        return
                    yield SILENT_FRAME, []
        while True:  # the script is done: the caller stays on the line, silent
            yield SILENT_FRAME, []

    def _says(self, says: Says) -> Generator[Tick, None, None]:
        if says.wav is not None:
            pcm = recorded(self.base / says.wav, says.level)
        else:
            pcm = spoken(says.text, says.level)
        for frame in split_frames(pcm):
            yield frame, []
        if says.level >= RECOGNISABLE_DBFS:
            yield (
                SILENT_FRAME,
                [Heard(says.text if says.heard_as is None else says.heard_as, says.confidence)],
            )


def _finished(engine: CallEngine, prompt: str, start: int) -> bool:
    return any(
        e.kind is EventKind.PROMPT_FINISHED and e.detail.get("prompt") == prompt
        for e in engine.events[start:]
    )
