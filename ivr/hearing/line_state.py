"""What the line sounds like in one 20 ms frame, after smoothing."""

from __future__ import annotations

from enum import Enum


class LineState(Enum):
    SILENCE = "silence"  # nothing, or comfort noise
    SPEECH = "speech"  # a caller talking at a normal level (speech in mild noise included)
    NOISE = "noise"  # a line too noisy to hear the caller: hiss, hum, crackle, babble
    QUIET = "quiet"  # speech, but too quiet to understand (speakerphone, handset held away)
