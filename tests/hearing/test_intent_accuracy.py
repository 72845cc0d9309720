"""Intent matching on the hotel-booking menu, as callers put the handbook's situations.

The cases (``intent_cases.yaml``) are what recognition returned: clean text, homophones,
dropped and extra characters, other languages, and sentences nothing may match. The
matcher is built from the flow file itself, so these tests follow the flow's phrases.
The held-out split was written before the matcher and is never tuned on.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from ivr.flows.loader import load_flow
from ivr.flows.schema import Flow, Listen, Step, as_say
from ivr.hearing.intent_matcher import IntentMatcher
from ivr.prompts.catalog import catalog_path, load_catalog

CASES = Path(__file__).with_name("intent_cases.yaml")
FAQ_ID = re.compile(r"^faq\.(\d+)([a-z]?)(\.|$)")


@dataclass(frozen=True, slots=True)
class Case:
    text: str
    intent: str | None
    split: str
    kind: str


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    heard: str | None


@pytest.fixture(scope="module")
def flow(repo: Path) -> Flow:
    return load_flow(repo / "flows" / "hotel-booking.yaml").flow


@pytest.fixture(scope="module")
def menu(flow: Flow) -> Listen:
    listen = flow.steps["menu"].listen
    assert listen is not None
    return listen


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    tree: Any = YAML(typ="safe").load(CASES.read_text(encoding="utf-8"))
    return [Case(str(c["text"]), c["intent"], str(c["split"]), str(c["kind"])) for c in tree["cases"]]


@pytest.fixture(scope="module")
def results(menu: Listen, cases: list[Case]) -> list[Result]:
    matcher = IntentMatcher({name: intent.phrases for name, intent in menu.intents.items()})
    out = []
    for case in cases:
        found = matcher.match(case.text)
        out.append(Result(case, found.intent if found else None))
    return out


def _report(results: list[Result]) -> str:
    right = sum(r.heard == r.case.intent for r in results)
    misses = [
        f"{r.case.text}: want {r.case.intent}, heard {r.heard}" for r in results if r.heard != r.case.intent
    ]
    return f"{right}/{len(results)} = {right / len(results):.1%}; misses: " + "; ".join(misses)


def test_the_cases_cover_the_menu_and_keep_a_held_out_share(cases: list[Case], menu: Listen) -> None:
    assert len(cases) >= 220
    unknown = {c.intent for c in cases if c.intent is not None} - set(menu.intents)
    assert not unknown, f"cases name intents the menu does not have: {sorted(unknown)}"
    splits = Counter(c.split for c in cases)
    assert set(splits) == {"tune", "held_out"}
    assert splits["held_out"] / len(cases) >= 0.25, splits
    for split in splits:
        kinds = {c.kind for c in cases if c.split == split}
        assert {"clean", "homophone", "dropped", "out_of_scope"} <= kinds, (split, kinds)
    faq_intents = {name for name in menu.intents if name.startswith("faq_")}
    held_out_faq = {c.intent for c in cases if c.split == "held_out" and c.intent in faq_intents}
    assert len(held_out_faq) >= 0.8 * len(faq_intents), sorted(faq_intents - held_out_faq)
    texts = Counter(c.text for c in cases)
    assert not [t for t, n in texts.items() if n > 1], "a case appears twice"


@pytest.mark.parametrize(("split", "floor"), [("tune", 0.95), ("held_out", 0.85)])
def test_accuracy(results: list[Result], split: str, floor: float) -> None:
    chosen = [r for r in results if r.case.split == split]
    accuracy = sum(r.heard == r.case.intent for r in chosen) / len(chosen)
    assert accuracy >= floor, f"{split} accuracy under {floor:.0%}: {_report(chosen)}"


def test_recognition_errors_are_mostly_understood(results: list[Result]) -> None:
    errors = [r for r in results if r.case.kind in ("homophone", "substituted", "dropped") and r.case.intent]
    accuracy = sum(r.heard == r.case.intent for r in errors) / len(errors)
    assert accuracy >= 0.85, f"recognition-error accuracy: {_report(errors)}"


def test_few_false_accepts(results: list[Result]) -> None:
    no_match = [r for r in results if r.case.intent is None]
    accepted = [r for r in no_match if r.heard is not None]
    assert len(no_match) >= 30
    assert len(accepted) / len(no_match) <= 0.05, f"false accepts: {_report(no_match)}"


# --- the FAQ ---------------------------------------------------------------------------


def _said(step: Step) -> list[str]:
    refs: list[Any] = []
    if step.say is not None:
        refs += step.say if isinstance(step.say, list) else [step.say]
    if step.listen is not None and step.listen.prompt is not None:
        refs.append(step.listen.prompt)
    if step.transfer is not None:
        refs.append(step.transfer.say)
    if step.hangup is not None:
        refs.append(step.hangup)
    return [as_say(r).prompt for r in refs]


def _reaches_finish(flow: Flow, name: str) -> bool:
    """Going on from ``name`` without the caller's say-so (next, give_up), the business finishes."""
    seen: set[str] = set()
    while name not in seen:
        seen.add(name)
        step = flow.steps[name]
        if step.finish:
            return True
        following = step.next or (step.listen.give_up if step.listen else None)
        if following is None:
            return False
        name = following
    return False


def test_every_faq_answer_is_reached_by_its_question_and_followed_by_anything_else(
    flow: Flow, menu: Listen, repo: Path
) -> None:
    catalog = load_catalog(catalog_path(repo, flow.locale))
    numbers = {
        m.group(1) + m.group(2)
        for p in catalog.prompts
        if (m := FAQ_ID.match(p.id)) and 22 <= int(m.group(1)) <= 78
    }
    assert len(numbers) == 58  # 22–78 and the handbook's second 23

    said_after: dict[str, set[str]] = {}  # FAQ number → the steps that answer it, reached from menu intents
    todo = deque(intent.next for intent in menu.intents.values())
    seen: set[str] = set()
    while todo:
        name = todo.popleft()
        if name in seen or name == "menu":
            continue
        seen.add(name)
        step = flow.steps[name]
        for prompt in _said(step):
            if m := FAQ_ID.match(prompt):
                said_after.setdefault(m.group(1) + m.group(2), set()).add(name)
        todo += step.targets()

    assert sorted(numbers - set(said_after)) == [], "FAQ answers no menu intent reaches"
    unfinished = {n: s for n, steps in said_after.items() for s in steps if not _reaches_finish(flow, s)}
    assert not unfinished, f"FAQ answers not followed by anything_else: {unfinished}"
    assert flow.line.linger[0].say == "anything_else"
