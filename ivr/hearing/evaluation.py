"""Scoring line hearing on a labelled set: one-second windows, majority state, confusion.

Each clip is heard from a fresh classifier. The first ``WARM_UP_FRAMES``
(half a second) are not scored: the state needs that much context, as a
listener does on picking up a line. The rest is cut into whole one-second
windows (50 frames); a window is heard as the state it held for the most
frames (ties go to the earlier state in ``LineState``'s order).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ivr.hearing.eval_corpus import Clip
from ivr.hearing.line_classifier import HearingThresholds, LineClassifier
from ivr.hearing.line_state import LineState
from ivr.media import frames_in, split_frames

WARM_UP_FRAMES = frames_in(0.5)
WINDOW_FRAMES = frames_in(1.0)
STATES = tuple(LineState)


def heard_states(pcm: bytes, classifier: LineClassifier) -> list[LineState]:
    """The state after each frame of ``pcm``, heard from the classifier's current state."""
    return [classifier.hear(frame) for frame in split_frames(pcm)]


def windows(states: list[LineState]) -> list[LineState]:
    """Majority state of each whole one-second window after the warm-up."""
    out = []
    for start in range(WARM_UP_FRAMES, len(states) - WINDOW_FRAMES + 1, WINDOW_FRAMES):
        counts = Counter(states[start : start + WINDOW_FRAMES])
        out.append(max(STATES, key=lambda s: (counts[s], -STATES.index(s))))
    return out


@dataclass
class Score:
    """Confusion counts of windows: ``confusion[labelled][heard]``, overall and per category."""

    confusion: dict[LineState, Counter[LineState]] = field(
        default_factory=lambda: {s: Counter() for s in STATES}
    )
    categories: dict[str, Counter[bool]] = field(default_factory=dict)

    @property
    def windows(self) -> int:
        return sum(sum(row.values()) for row in self.confusion.values())

    @property
    def accuracy(self) -> float:
        right = sum(self.confusion[s][s] for s in STATES)
        return right / self.windows if self.windows else 0.0

    def category_accuracy(self, category: str) -> float:
        c = self.categories[category]
        return c[True] / (c[True] + c[False]) if c else 0.0

    def table(self) -> str:
        """The confusion matrix and per-category accuracy, as plain text."""
        head = f"{'labelled / heard':>18}" + "".join(f"{s.value:>9}" for s in STATES)
        lines = [head]
        for s in STATES:
            row = self.confusion[s]
            lines.append(f"{s.value:>18}" + "".join(f"{row[h]:>9}" for h in STATES))
        lines.append(f"overall: {self.accuracy:.1%} of {self.windows} one-second windows")
        width = max(len(c) for c in self.categories)
        for category, c in self.categories.items():
            total = c[True] + c[False]
            lines.append(
                f"  {category:<{width}}  {c[True]:>3}/{total:<3} {self.category_accuracy(category):6.1%}"
            )
        return "\n".join(lines)


def score(clips: Iterable[Clip], thresholds: HearingThresholds | None = None) -> Score:
    """Hear every clip from a fresh classifier and count its windows."""
    result = Score()
    classifier = LineClassifier(thresholds)
    for clip in clips:
        classifier.reset()
        for heard in windows(heard_states(clip.pcm, classifier)):
            result.confusion[clip.label][heard] += 1
            result.categories.setdefault(clip.category, Counter())[heard is clip.label] += 1
    return result
