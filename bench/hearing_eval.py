"""Line hearing on the labelled evaluation set: confusion matrix and per-frame cost.

    python bench/hearing_eval.py [--rounds 3]

Prints the confusion matrix of one-second windows (rows: labelled, columns:
heard), accuracy per category, and the cost of ``LineClassifier.hear`` per
20 ms frame (p50/p99 in microseconds) next to webrtcvad alone on the same
frames, measured in the same run. A benchmark, not a test: nothing here
gates on a wall-clock number.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import webrtcvad

from ivr.hearing.eval_corpus import evaluation_set
from ivr.hearing.evaluation import score
from ivr.hearing.line_classifier import LineClassifier
from ivr.media import FRAME_MS, SAMPLE_RATE, split_frames


def frame_costs(frames: list[bytes], hear: Callable[[bytes], object]) -> list[float]:
    """Microseconds spent on each frame."""
    clock = time.perf_counter_ns
    costs = []
    for frame in frames:
        start = clock()
        hear(frame)
        costs.append((clock() - start) / 1000.0)
    return costs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (median is shown)")
    args = parser.parse_args()

    started = time.perf_counter()
    clips = evaluation_set()
    frames = [frame for clip in clips for frame in split_frames(clip.pcm)]
    print(f"evaluation set: {len(clips)} clips, {len(frames) * FRAME_MS / 1000:.0f} s of audio,")
    print(f"  rendered in {time.perf_counter() - started:.1f} s\n")
    print(score(clips).table())

    vad = webrtcvad.Vad(LineClassifier().thresholds.vad_mode)
    classifier = LineClassifier()
    rounds: dict[str, list[tuple[float, float, float]]] = {"webrtcvad alone": [], "classifier": []}
    for _ in range(args.rounds):
        classifier.reset()
        for name, hear in (
            ("webrtcvad alone", lambda f: vad.is_speech(f, SAMPLE_RATE)),
            ("classifier", classifier.hear),
        ):
            costs = frame_costs(frames, hear)
            mean = sum(costs) / len(costs)
            rounds[name].append((percentile(costs, 50), percentile(costs, 99), mean))

    print(f"\nper-frame cost over {len(frames)} frames, median of {args.rounds} rounds (µs):")
    summary = {}
    for name, runs in rounds.items():
        p50, p99, mean = (statistics.median(r[i] for r in runs) for i in range(3))
        summary[name] = (p50, p99, mean)
        realtime = FRAME_MS * 1000 / mean
        print(f"  {name:<16} p50 {p50:6.1f}  p99 {p99:6.1f}  mean {mean:6.1f}  ({realtime:,.0f}x real time)")
    base, ours = summary["webrtcvad alone"], summary["classifier"]
    print(f"  classifier / webrtcvad: p50 {ours[0] / base[0]:.1f}x, p99 {ours[1] / base[1]:.1f}x")


if __name__ == "__main__":
    main()
