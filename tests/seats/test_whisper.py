"""What a seat hears before the caller is put through."""

from __future__ import annotations

from ivr.seats.whisper import CallerInfo, phone_words, wait_words, whisper_text


def test_the_seat_hears_number_request_wait_and_whether_the_caller_rang_before() -> None:
    text = whisper_text(CallerInfo(number="13800138000", asked_for="订房"), 45)
    assert text == "来电 幺三八 零零幺三 八零零零,事由订房,等了四十五秒,首次来电"
    again = whisper_text(CallerInfo(number="13800138000", repeat_caller=True), 80)
    assert again.endswith("等了一分二十秒,重复来电")


def test_a_complaint_is_announced_with_its_reason_first() -> None:
    text = whisper_text(CallerInfo(number="02112345678", asked_for="投诉", complaint="房间没有热水"), 120)
    assert text.startswith("投诉来电,原因:房间没有热水,来电 ")
    assert "等了两分钟" in text


def test_a_withheld_number_is_said_to_be_withheld() -> None:
    assert whisper_text(CallerInfo(), 3).startswith("来电号码未显示,等了三秒")


def test_numbers_and_waits_in_words() -> None:
    assert phone_words("+86 21 6888-1234") == "八六二幺,六八八八,幺二三四"
    assert wait_words(0.4) == "零秒" and wait_words(60) == "一分钟" and wait_words(615) == "十分十五秒"
