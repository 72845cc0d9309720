"""The line-condition ladders of a listening step, counted in frames.

Each frame the watch is asked, *before* the frame is counted, whether a rung is
due; so a rung with ``after: 10s`` fires on the 501st frame after the last
prompt ended, and its prompt starts exactly 10.00 s after that prompt's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ivr.flows.schema import LineHandling, Rung
from ivr.hearing.line_state import LineState
from ivr.media import frames_in

Ladder = Literal["silence", "spoken_silence", "noise", "quiet"]
CLEAR_FRAMES = frames_in(1.0)  # a line clear this long restarts the noise ladder


@dataclass(slots=True)
class LineWatch:
    line: LineHandling
    silent: int = 0
    noisy: int = 0
    clear: int = 0
    quiet: int = 0
    silence_rung: int = 0
    noise_rung: int = 0
    quiet_rung: int = 0
    noise_heard: int = 0  # noise frames since the last prompt, continuous or not
    spoken: bool = False  # the caller has spoken or keyed in this call: silence is not a silent call

    def due(self, state: LineState) -> tuple[Ladder, Rung] | None:
        """The rung to run now, if any, given this frame's state (not yet counted)."""
        line = self.line
        silence: Ladder = "spoken_silence" if self.spoken else "silence"
        rungs = line.spoken_silence if self.spoken else line.silence
        if self.silence_rung < len(rungs) and self.silent >= frames_in(rungs[self.silence_rung].after):
            self.silence_rung += 1
            return silence, rungs[self.silence_rung - 1]
        if self.noise_rung < len(line.noise) and self.noisy >= frames_in(line.noise[self.noise_rung].after):
            self.noise_rung += 1
            return "noise", line.noise[self.noise_rung - 1]
        if (
            self.quiet_rung < len(line.quiet)
            and self.quiet >= frames_in(line.quiet[self.quiet_rung].after)
            and state is not LineState.QUIET
        ):
            self.quiet_rung += 1
            return "quiet", line.quiet[self.quiet_rung - 1]
        return None

    def count(self, state: LineState) -> None:
        """Count one listening frame."""
        if state is LineState.NOISE:
            self.noisy += 1
            self.noise_heard += 1
            self.silent = 0
            self.clear = 0
            return
        self.noisy = 0
        self.clear += 1
        if self.clear >= CLEAR_FRAMES:
            self.noise_rung = 0
        if state is LineState.SILENCE:
            self.silent += 1
            return
        self.silent = 0
        self.silence_rung = 0
        if state is LineState.QUIET:
            self.quiet += 1
        else:  # the caller speaks up: the too-quiet ladder starts over
            self.quiet = 0
            self.quiet_rung = 0

    def prompt_said(self) -> None:
        """A prompt just ended: the silence and noise clocks count from here."""
        self.silent = 0
        self.noisy = 0
        self.quiet = 0
        self.noise_heard = 0

    def next_noise_rung(self) -> Rung | None:
        """Speech that could not be made out on a noisy line counts as the line being noisy."""
        if self.noise_rung >= len(self.line.noise):
            return None
        self.noise_rung += 1
        return self.line.noise[self.noise_rung - 1]
