"""What a seat hears before the caller is put through (the whisper; handbook lines 101, 120, 279).

The receiver is briefed before a transfer: who is calling (the number, read
digit by digit), what they asked for, how long they waited, and whether they
called before. For a complaint the reason comes first: the shift leader must
be told why the caller rang before taking the call (line 120).

The text is rendered with espeak-ng at call time and played to the seat's leg
only; the caller never hears it. Caller data is in the text, so the text is
never logged above debug.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.prompts.numerals import chinese_number

# A seat listens to the whisper while the caller waits: it is spoken briskly (espeak's default is 175).
WHISPER_WORDS_PER_MINUTE = 240

# What the caller asked for, as the seat hears it: a short Chinese label for each intent of the
# shipped flows. An intent with no label is left out of the whisper, never spoken as its id.
INTENT_LABELS: dict[str, str] = {
    # the company desk (flows/desk.yaml)
    "find_person": "找人",
    "appointment": "找人,已预约",
    "no_appointment": "找人,未预约",
    "home_decor": "家装咨询",
    "business": "业务联系",
    # the booking hotline (flows/hotel-booking.yaml)
    "book": "订房",
    "rujia": "订如家",
    "rujia_hold": "订如家,要求晚留房",
    "hantang": "订汉唐",
    "cancel": "变更订单",
    "complaint": "投诉",
    "reason": "投诉",
    "still_unhappy": "投诉",
    "criticism": "批评",
    "angry": "客人生气",
    "staff_id": "问工号",
    "name": "问姓名",
    "person": "找人",
    "issue": "反映问题",
    "wrong_number": "打错电话",
    "bad_hotel_number": "酒店号码有误",
    "slow": "嫌慢",
    "hard_to_reach": "电话难打",
    "human": "转人工",
    "faq_22": "问能否订上",
    "criticism_personal": "批评",
    "suggestion": "提建议",
    "suggestion_personal": "提建议",
    "abuse": "辱骂",
    "insist": "问姓名",
    "operator_business": "找话务员办业务",
    "hotel_unreachable": "酒店电话打不通",
    "praise": "表扬",
}
FAQ_LABEL = "订房咨询"  # the FAQ's questions (faq_*): what a seat needs to know is the topic


def intent_label(intent: str | None) -> str | None:
    """The seat's word for an intent; None for an intent without one (its id is never spoken)."""
    if not intent:
        return None
    if intent in INTENT_LABELS:
        return INTENT_LABELS[intent]
    return FAQ_LABEL if intent.startswith("faq_") else None


# Phone numbers are read the operators' way: 幺 for 1, so that 一 and 七 are not confused.
_PHONE_DIGITS = dict(zip("0123456789", "零幺二三四五六七八九", strict=True))


@dataclass(frozen=True, slots=True)
class CallerInfo:
    """What the queue knows about a waiting caller, for the whisper. Caller data: never logged."""

    number: str | None = None  # caller-ID number; None when withheld
    asked_for: str | None = None  # what they asked for, in Chinese words (e.g. 订房; see intent_label)
    repeat_caller: bool = False  # rang before (e.g. the dropped-call rule, line 141)
    complaint: str | None = (
        None  # a complaint's reason, the caller's words or key; the whisper starts with it
    )


def phone_words(number: str) -> str:
    """A phone number as words, digit by digit, in groups as people read them (3-4-4 for mobiles)."""
    digits = [c for c in number if c.isascii() and c.isdigit()]
    words = [_PHONE_DIGITS[c] for c in digits]
    if len(words) == 11:
        groups = [words[:3], words[3:7], words[7:]]
    else:
        groups = [words[i : i + 4] for i in range(0, len(words), 4)]
    return ",".join("".join(g) for g in groups)


def wait_words(seconds: float) -> str:
    """A wait in words: 四十五秒, 两分钟, 一分二十秒."""
    total = max(0, round(seconds))
    minutes, rest = divmod(total, 60)
    if minutes == 0:
        return f"{chinese_number(rest)}秒"
    head = "两" if minutes == 2 else chinese_number(min(minutes, 9999))
    return f"{head}分钟" if rest == 0 else f"{head}分{chinese_number(rest)}秒"


def whisper_text(caller: CallerInfo, waited_s: float) -> str:
    """The words the seat hears before being put through, in Chinese for espeak-ng (voice ``cmn``).

    Short, with commas between the parts (a full stop is a long pause in espeak-ng): the
    caller waits while the seat listens; about 7 s for a mobile number at the whisper's speed.
    """
    parts: list[str] = []
    if caller.complaint:
        parts.append(f"投诉来电,原因:{caller.complaint}")
    number = phone_words(caller.number).replace(",", " ") if caller.number else ""
    parts.append(f"来电 {number}" if number else "来电号码未显示")
    if caller.asked_for:
        parts.append(f"事由{caller.asked_for}")
    parts.append(f"等了{wait_words(waited_s)}")
    parts.append("重复来电" if caller.repeat_caller else "首次来电")
    return ",".join(parts)
