"""The zh-CN catalog keeps the handbook's words: every sourced prompt, word for word."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from ivr.errors import ConfigError
from ivr.prompts.catalog import PAUSE, PLACEHOLDER, REQUIRED_IDS, Catalog, Prompt, load_catalog
from ivr.prompts.fidelity import check_prompt, handbook_lines, normalise, spoken_segments

ROOT = Path(__file__).resolve().parents[2]
HANDBOOK = ROOT.parent / "shared" / "handbook" / "front-desk-service-handbook.zh.txt"
CATALOG = ROOT / "prompts" / "zh-CN.yaml"

# Ids the flows play by name (beyond catalog.REQUIRED_IDS, which tools look up).
FLOW_IDS = (
    "ask_repeat",
    "please_wait_checking",
    "system.upgrading",
    "system.fault_callback",
    "system.fault_notice",
    "thanks.reply",
    "suggestion.personal",
    "suggestion.company",
    "wrong_number",
    "angry.calm",
    "abuse.hello",
    "abuse.goodbye",
    "complaint.ask_reason",
    "complaint.apology",
    "complaint.recorded",
    "harassment.date",
    "harassment.off_topic",
    "harassment.chat",
    "person.ask_issue",
    "person.leave_contact",
    "person.private_call",
    "person.callback_later",
    "staff_id.tell",
    "staff_id.busy",
    "staff_id.insist",
    "slow_service",
    "hard_to_reach",
    "note_and_callback",
    "confirm_understood",
    "mandarin.please",
    "mandarin.find_someone",
    "dropped_call.apology",
    "praise.reply",
    "which_direction",
    "desk.greeting",
    "desk.consultant",
    "desk.decline_sales",
    "desk.find_person",
    "callback.offer",
    "callback.ask",
    "callback.confirm_number",
    "callback.key_in",
    "callback.taken",
    "callback.no_number",
    "transfer.no_seat",
    "silent.still_there",
    "polite.how_can_i_help",
    "closed.after_hours",
    "transfer.no_answer",
)

FAQ_LINES = range(148, 248)  # hotel-booking questions 22–78
FAQ_ITEM = re.compile(r"(?<![0-9])([0-9]{2})、")
MUTANT = "龘"  # a character the handbook never uses


@cache
def handbook() -> tuple[str, ...]:
    return tuple(handbook_lines(HANDBOOK))


@cache
def catalog() -> Catalog | None:
    try:
        return load_catalog(CATALOG)
    except ConfigError:
        return None  # test_catalog_loads shows why


def sourced_ids() -> list[str]:
    cat = catalog()
    return [p.id for p in cat if p.source is not None] if cat is not None else []


def loaded() -> Catalog:
    cat = catalog()
    if cat is None:
        pytest.fail(f"{CATALOG} does not load; see test_catalog_loads")
    return cat


def test_handbook_is_beside_the_repo() -> None:
    assert HANDBOOK.is_file(), f"handbook not found at {HANDBOOK}"


def test_catalog_loads() -> None:
    cat = load_catalog(CATALOG)
    assert cat.locale == "zh-CN"
    assert cat.voice == "cmn"


@pytest.mark.parametrize("prompt_id", [*REQUIRED_IDS, *FLOW_IDS])
def test_id_exists(prompt_id: str) -> None:
    assert prompt_id in loaded(), f"prompt '{prompt_id}' is missing from {CATALOG.name}"


@pytest.mark.parametrize("prompt_id", sourced_ids())
def test_prompt_is_verbatim(prompt_id: str) -> None:
    cat = loaded()
    problem = check_prompt(cat, cat.by_id[prompt_id], handbook())
    assert problem is None, problem


def test_every_faq_item_has_an_answer() -> None:
    """Each numbered booking question in lines 148–247 (23 appears twice) has a faq entry on its line."""
    items: list[tuple[int, int]] = []
    for n in FAQ_LINES:
        items += [(int(m[1]), n) for m in FAQ_ITEM.finditer(handbook()[n - 1])]
    numbers = [number for number, _ in items]
    assert sorted(set(numbers)) == list(range(22, 79)), f"handbook items found: {numbers}"
    faqs = [p for p in loaded() if p.is_faq]
    missing = []
    for number, line in items:
        ids = [p.id for p in faqs if re.match(rf"faq\.{number}(?![0-9])", p.id)]
        on_line = [p.id for p in faqs if p.id in ids and p.source is not None and line in p.source.lines]
        if not on_line:
            missing.append(f"item {number} (line {line}): faq ids {ids or 'none'}")
    assert not missing, "FAQ items without an answer:\n" + "\n".join(missing)


def test_faq_entries_have_a_handbook_question() -> None:
    bad = [p.id for p in loaded() if p.is_faq and (p.question is None or p.source is None)]
    assert not bad, f"FAQ entries need a verbatim handbook 'question' and a 'source': {bad}"


def test_only_faq_entries_have_a_question() -> None:
    bad = [p.id for p in loaded() if not p.is_faq and p.question is not None]
    assert not bad, f"'question' is for faq.* entries only: {bad}"


def _mutants(text: str) -> list[str]:
    """``text`` with each CJK character outside placeholders and pause marks changed, one at a time."""
    protected: set[int] = set()
    for m in [*PLACEHOLDER.finditer(text), *PAUSE.finditer(text)]:
        protected.update(range(m.start(), m.end()))
    return [
        text[:i] + MUTANT + text[i + 1 :]
        for i, c in enumerate(text)
        if i not in protected and "\u4e00" <= c <= "\u9fff"
    ]


def test_a_changed_character_is_caught_in_every_sourced_prompt() -> None:
    cat = loaded()
    escaped: list[str] = []
    checked = 0
    for prompt in cat:
        if prompt.source is None:
            continue
        mutants = _mutants(prompt.text)
        assert mutants, f"prompt '{prompt.id}' has no CJK character to change"
        for text in mutants:
            checked += 1
            if check_prompt(cat, prompt.model_copy(update={"text": text}), handbook()) is None:
                escaped.append(f"{prompt.id}: {text}")
        if prompt.question is not None:
            for question in _mutants(prompt.question)[:3]:
                checked += 1
                if check_prompt(cat, prompt.model_copy(update={"question": question}), handbook()) is None:
                    escaped.append(f"{prompt.id} question: {question}")
    assert checked > 1000
    assert not escaped, "changed text the check let through:\n" + "\n".join(escaped)


# ── the matcher itself ────────────────────────────────────────────────


def _catalog(*prompts: Prompt) -> Catalog:
    return Catalog.model_validate(
        {
            "locale": "zh-CN",
            "placeholders": {"brand": {"value": "星海百事通", "handbook": ["号码百事通"]}},
            "prompts": [p.model_dump(exclude_none=True) for p in prompts],
        }
    )


def _prompt(text: str, lines: list[int], omit: list[str] | None = None) -> Prompt:
    return Prompt.model_validate({"id": "t", "text": text, "source": {"lines": lines, "omit": omit or []}})


def test_normalise_drops_punctuation_of_both_widths() -> None:
    assert normalise("您好,这里是**国际前台。 “谢谢!” (ok) 18:00") == "您好这里是**国际前台谢谢ok1800"


def test_a_pause_repeated_segment_counts_once() -> None:
    assert [normalise(s) for s in spoken_segments("您好![停顿]您好![停顿 1.5s]请讲!")] == ["您好", "请讲"]


def test_an_omit_missing_from_the_lines_is_reported() -> None:
    p = _prompt("很抱歉,让您久等了。", [96], omit=["(先生/小姐)"])
    problem = check_prompt(_catalog(p), p, handbook())
    assert problem is not None and "does not occur" in problem


def test_alternatives_must_be_omitted_to_be_dropped() -> None:
    p = _prompt("很抱歉,电话杂音很大,请您再重复一遍好吗?", [104])
    problem = check_prompt(_catalog(p), p, handbook())
    assert problem is not None and "not verbatim" in problem and "'t'" in problem


def test_a_placeholder_matches_its_handbook_forms_only() -> None:
    good = _prompt("{brand}祝您愉快!再见!", [127])
    assert check_prompt(_catalog(good), good, handbook()) is None
    wrong_line = _prompt("{brand}祝您愉快!再见!", [32])
    assert check_prompt(_catalog(wrong_line), wrong_line, handbook()) is not None


def test_a_call_variable_without_a_stand_in_never_matches() -> None:
    p = _prompt("请稍后,正在帮您{position}查询", [95])
    problem = check_prompt(_catalog(p), p, handbook())
    assert problem is not None and "{position}" in problem
