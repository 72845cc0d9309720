"""Intent matching on the hotel-booking menu: accuracy on the labelled cases, and the cost of a match.

    python bench/intent_accuracy.py [--split held_out|tune|all] [--rounds 5] [--misses]

Matches every case of ``tests/hearing/intent_cases.yaml`` against the ``menu`` step of
``flows/hotel-booking.yaml`` and prints accuracy per split and per kind of case, the
false accepts (a no-match case that matched something), and the time of one
``IntentMatcher.match`` (p50/p99 in microseconds, over all cases, median of the
rounds), with the text's pinyin worked out afresh and cached. The held-out split was written before the matcher and never tuned on: its
figure is the one to quote. A benchmark, not a test: nothing here gates on a number.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.flows.loader import load_flow  # noqa: E402
from ivr.hearing.intent_matcher import IntentMatcher  # noqa: E402
from ivr.hearing.pinyin_text import units  # noqa: E402

FLOW = REPO / "flows" / "hotel-booking.yaml"
CASES = REPO / "tests" / "hearing" / "intent_cases.yaml"


@dataclass(frozen=True, slots=True)
class Case:
    text: str
    intent: str | None
    split: str
    kind: str


def load_cases(path: Path = CASES) -> list[Case]:
    tree: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return [Case(str(c["text"]), c["intent"], str(c["split"]), str(c["kind"])) for c in tree["cases"]]


def menu_matcher(path: Path = FLOW) -> IntentMatcher:
    listen = load_flow(path).flow.steps["menu"].listen
    assert listen is not None
    return IntentMatcher({name: intent.phrases for name, intent in listen.intents.items()})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["all", "tune", "held_out"], default="all")
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds (median is shown)")
    parser.add_argument("--misses", action="store_true", help="list the cases matched wrongly")
    args = parser.parse_args()

    cases = [c for c in load_cases() if args.split in ("all", c.split)]
    started = time.perf_counter()
    matcher = menu_matcher()
    built_ms = (time.perf_counter() - started) * 1000
    print(f"menu: {len(matcher.intents)} intents, matcher built in {built_ms:.1f} ms; {len(cases)} cases\n")

    right: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    misses: list[str] = []
    false_accepts = no_match_cases = 0
    for case in cases:
        found = matcher.match(case.text)
        heard = found.intent if found else None
        for key in ((case.split, "all"), (case.split, case.kind), ("all", "all")):
            total[key] += 1
            right[key] += heard == case.intent
        if case.intent is None:
            no_match_cases += 1
            false_accepts += heard is not None
        if heard != case.intent:
            detail = f" ({found.score:.2f} via {found.phrase})" if found else ""
            misses.append(
                f"  [{case.split}/{case.kind}] {case.text}: want {case.intent}, got {heard}{detail}"
            )

    print(f"{'split':<10}{'kind':<14}{'right':>7}{'cases':>7}{'accuracy':>10}")
    for split, kind in sorted(total, key=lambda k: (k[0] == "all", k[0], k[1] != "all", k[1])):
        n = total[split, kind]
        print(f"{split:<10}{kind:<14}{right[split, kind]:>7}{n:>7}{right[split, kind] / n:>10.1%}")
    rate = false_accepts / no_match_cases if no_match_cases else 0.0
    print(f"\nfalse accepts: {false_accepts} of {no_match_cases} no-match cases ({rate:.1%})")
    if args.misses and misses:
        print("\nmisses:\n" + "\n".join(misses))

    print()
    clock = time.perf_counter_ns
    for label, fresh in (("text's pinyin included", True), ("text's pinyin cached", False)):
        rounds: list[tuple[float, float]] = []
        for _ in range(args.rounds):
            if fresh:
                units.cache_clear()  # each text's pinyin worked out afresh, as for a new utterance
            costs = []
            for case in cases:
                start = clock()
                matcher.match(case.text)
                costs.append((clock() - start) / 1000.0)
            rounds.append((percentile(costs, 50), percentile(costs, 99)))
        p50 = statistics.median(r[0] for r in rounds)
        p99 = statistics.median(r[1] for r in rounds)
        print(f"match latency, {label}: p50 {p50:.0f} µs, p99 {p99:.0f} µs (median of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
