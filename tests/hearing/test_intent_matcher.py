"""What a caller notices of intent matching: what they said is understood despite the
recogniser's slips, a garble is not taken for a request, and the more specific phrase wins."""

from __future__ import annotations

import logging

import pytest

from ivr.flows.schema import Listen
from ivr.hearing.intent_matcher import (
    DEFAULT_THRESHOLD,
    IntentMatch,
    IntentMatcher,
    match_listen,
    matcher_for,
)

MENU = {
    "rujia": ["如家"],
    "book": ["订房", "预订", "订一间"],
    "checkin_time": ["几点入住", "入住时间"],
    "deposit": ["押金"],
    "compare": ["如家和锦江", "哪个好"],
    "thanks": ["谢谢"],
    "done": ["没有了", "再见"],
}


@pytest.fixture(scope="module")
def matcher() -> IntentMatcher:
    return IntentMatcher(MENU)


def test_exact_words_match_with_full_confidence(matcher: IntentMatcher) -> None:
    assert matcher.match("我想订房") == IntentMatch("book", 1.0, "订房")


def test_words_around_the_phrase_do_not_matter(matcher: IntentMatcher) -> None:
    assert matcher.match("嗯，那个，请问一下押金！") == IntentMatch("deposit", 1.0, "押金")


@pytest.mark.parametrize(
    ("heard", "intent"),
    [
        ("我想定房", "book"),  # 定 for 订: the same sound
        ("要交压金吗", "deposit"),  # 压 for 押
        ("如加酒店", "rujia"),  # 加 for 家
        ("请问酒店几点入主", "checkin_time"),  # 主 for 住
    ],
)
def test_a_homophone_still_matches_with_a_little_less_confidence(
    matcher: IntentMatcher, heard: str, intent: str
) -> None:
    found = matcher.match(heard)
    assert found is not None and found.intent == intent
    assert DEFAULT_THRESHOLD <= found.score < 1.0


def test_a_near_sound_matches(matcher: IntentMatcher) -> None:
    found = matcher.match("入组时间")  # zu for zhu: a southern speaker's z/zh
    assert found is not None and found.intent == "checkin_time"


def test_a_wrong_or_dropped_character_in_a_long_phrase_is_tolerated(matcher: IntentMatcher) -> None:
    wrong = matcher.match("酒店入往时间是几点")
    dropped = matcher.match("入时间")
    assert wrong is not None and wrong.intent == "checkin_time" and wrong.score == pytest.approx(0.75)
    assert dropped is not None and dropped.intent == "checkin_time"


@pytest.mark.parametrize(
    "heard", ["押", "订床", "如果家里有事", "天地玄黄宇宙洪荒", "嗯嗯嗯", "", "，。！", "hello"]
)
def test_a_garble_or_a_part_of_a_short_phrase_matches_nothing(matcher: IntentMatcher, heard: str) -> None:
    assert matcher.match(heard) is None


def test_a_longer_phrase_over_the_same_words_wins(matcher: IntentMatcher) -> None:
    assert matcher.match("如家和锦江有什么区别") == IntentMatch("compare", 1.0, "如家和锦江")
    found = matcher.match("如家锦江哪个好")  # 和 dropped: still the longer phrase over 如家
    assert found is not None and found.intent == "compare"


def test_separate_mentions_go_by_the_flows_order(matcher: IntentMatcher) -> None:
    assert matcher.match("我想订一间如家酒店") == IntentMatch("rujia", 1.0, "如家")
    reordered = IntentMatcher({"book": MENU["book"], "rujia": MENU["rujia"]})
    assert reordered.match("我想订一间如家酒店") == IntentMatch("book", 1.0, "订一间")


def test_a_weak_match_loses_to_a_better_and_longer_one_elsewhere() -> None:
    matcher = IntentMatcher({"room_number": ["哪个房间"], "people": ["住几个人"]})
    found = matcher.match("一个房间能住几个人")  # 一个房间 is one character off 哪个房间
    assert found is not None and found.intent == "people"


def test_equal_matches_go_by_the_flows_order() -> None:
    assert IntentMatcher({"thanks": ["谢谢"], "done": ["再见"]}).match("谢谢再见") == IntentMatch(
        "thanks", 1.0, "谢谢"
    )
    assert IntentMatcher({"done": ["再见"], "thanks": ["谢谢"]}).match("谢谢再见") == IntentMatch(
        "done", 1.0, "再见"
    )


def test_numbers_match_however_they_are_written() -> None:
    matcher = IntentMatcher({"hotline": ["一一四"], "floor": ["十八楼"]})
    assert matcher.match("114是不是拿提成") == IntentMatch("hotline", 1.0, "一一四")
    assert matcher.match("１１４") == IntentMatch("hotline", 1.0, "一一四")  # full-width digits


def test_a_stricter_threshold_turns_a_slip_into_no_match() -> None:
    assert IntentMatcher(MENU, threshold=0.8).match("酒店入往时间是几点") is None
    assert IntentMatcher(MENU, threshold=1.0).match("我想定房") is None
    assert IntentMatcher(MENU, threshold=1.0).match("我想订房") is not None


@pytest.mark.parametrize("threshold", [0.0, -0.5, 1.5])
def test_a_threshold_outside_zero_to_one_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        IntentMatcher(MENU, threshold=threshold)


def test_a_low_threshold_still_finds_the_best_phrase() -> None:
    loose = IntentMatcher(MENU, threshold=0.2)
    found = loose.match("的房")  # 的 shares only its initial with 订
    assert found is not None and found.intent == "book" and 0.2 <= found.score < 0.7


def test_match_listen_follows_the_listening_step() -> None:
    listen = Listen.model_validate(
        {
            "intents": {
                "deposit": {"phrases": ["押金"], "next": "faq"},
                "done": {"phrases": ["再见"], "next": "bye"},
            }
        }
    )
    assert match_listen(listen, "要交压金吗") == IntentMatch("deposit", 0.95, "押金")
    assert match_listen(listen, "今天天气怎么样") is None
    assert matcher_for(listen) is matcher_for(listen)  # built once per step
    assert matcher_for(listen).intents == ("deposit", "done")


def test_what_the_caller_said_is_logged_at_debug_only(
    matcher: IntentMatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ivr.hearing.intent_matcher")
    matcher.match("我的手机号是一三八零零零零零零零零想订房")
    matcher.match("我的手机号是一三八零零零零零零零零")
    assert caplog.records, "matching leaves a debug trace"
    assert all(r.levelno == logging.DEBUG for r in caplog.records)
