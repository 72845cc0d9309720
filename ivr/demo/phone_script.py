"""What a caller on a real phone line does, tick by tick: the demo's and the SIP tests' callers.

Like the scripted callers of conversation tests, but heard over RTP: a caller
here cannot know prompt ids, so ``WaitForBot`` waits until the bot has spoken
and then been quiet for a moment (the end of a prompt).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import numpy as np

from ivr.flows.caller_noise import noise
from ivr.flows.caller_voice import spoken
from ivr.media import SAMPLE_RATE, SILENT_FRAME, frames_in, split_frames


@dataclass(frozen=True, slots=True)
class Silent:
    seconds: float


@dataclass(frozen=True, slots=True)
class Noise:
    seconds: float
    level_dbfs: float = -15.0
    kind: str = "white"


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    level_dbfs: float = -20.0


@dataclass(frozen=True, slots=True)
class Press:
    digits: str


@dataclass(frozen=True, slots=True)
class WaitForBot:
    """Until the bot has spoken and then been quiet for ``quiet_s`` (or ``limit_s`` passed)."""

    quiet_s: float = 0.6
    limit_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Tone:
    """A steady sine (a test signal either side of a bridge can recognise)."""

    seconds: float
    hz: float = 1000.0
    level_dbfs: float = -16.0


@dataclass(frozen=True, slots=True)
class HangUp:
    pass


@dataclass(frozen=True, slots=True)
class LoseLine:
    """The phone is gone without a BYE (battery, Wi-Fi, a NAT that forgot it): no packets at all."""

    seconds: float


Action = Silent | Noise | Say | Press | WaitForBot | Tone | HangUp | LoseLine


@dataclass(frozen=True, slots=True)
class Tick:
    frame: bytes = SILENT_FRAME
    key: str | None = None
    hang_up: bool = False
    sends: bool = True  # False: nothing goes out this tick (a lost line)


def describe(action: Action) -> str:
    if isinstance(action, Silent):
        return f"stays silent for {action.seconds:g} s"
    if isinstance(action, Noise):
        return f"line noise ({action.kind}, {action.level_dbfs:g} dBFS) for {action.seconds:g} s"
    if isinstance(action, Say):
        quiet = " (too quietly)" if action.level_dbfs < -35 else ""
        return f"says “{action.text}”{quiet}"
    if isinstance(action, Press):
        return f"presses {action.digits}"
    if isinstance(action, WaitForBot):
        return "listens to the bot"
    if isinstance(action, Tone):
        return f"sends a {action.hz:g} Hz tone for {action.seconds:g} s"
    if isinstance(action, LoseLine):
        return f"loses the line for {action.seconds:g} s (no packets, no BYE)"
    return "hangs up"


def tone_frames(tone: Tone) -> list[bytes]:
    n = np.arange(frames_in(tone.seconds) * SAMPLE_RATE // 50)
    amplitude = 32768 * 10 ** (tone.level_dbfs / 20) * np.sqrt(2)
    pcm = np.round(amplitude * np.sin(2 * np.pi * tone.hz * n / SAMPLE_RATE)).astype("<i2").tobytes()
    return split_frames(pcm)


def run_script(
    actions: Sequence[Action],
    bot_speaking: Callable[[], bool],
    on_action: Callable[[Action], None] = lambda a: None,
) -> Generator[Tick, None, None]:
    """One ``Tick`` per 20 ms; after the last action the caller stays on the line, silent."""
    for n, action in enumerate(actions):
        on_action(action)
        if isinstance(action, Silent):
            for _ in range(frames_in(action.seconds)):
                yield Tick()
        elif isinstance(action, Noise):
            for frame in split_frames(noise(action.kind, action.seconds, action.level_dbfs, seed=n)):
                yield Tick(frame)
        elif isinstance(action, Say):
            for frame in split_frames(spoken(action.text, action.level_dbfs)):
                yield Tick(frame)
        elif isinstance(action, Press):
            for digit in action.digits:
                yield Tick(key=digit)
                for _ in range(frames_in(0.2) - 1):
                    yield Tick()
        elif isinstance(action, Tone):
            yield from (Tick(frame) for frame in tone_frames(action))
        elif isinstance(action, LoseLine):
            for _ in range(frames_in(action.seconds)):
                yield Tick(sends=False)
        elif isinstance(action, WaitForBot):
            heard, quiet = False, 0
            for _ in range(frames_in(action.limit_s)):
                speaking = bot_speaking()
                heard = heard or speaking
                quiet = 0 if speaking else quiet + 1
                if heard and quiet >= frames_in(action.quiet_s):
                    break
                yield Tick()
        else:
            yield Tick(hang_up=True)
            return
    while True:
        yield Tick()
