"""Chinese numerals for spoken call variables: numbers (排队第十二位) and digit strings (工号 1024).

Numbers are read as cardinals (``chinese_number(101) == "一百零一"``); staff numbers and
other ids are read digit by digit with ``一`` for 1 (not the phone-style ``幺``).
"""

from __future__ import annotations

DIGIT_WORDS = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九")
_UNITS = ("千", "百", "十", "")


def chinese_number(n: int) -> str:
    """``n`` (0..9999) in Chinese numerals: 0 零, 10 十, 11 十一, 20 二十, 101 一百零一, 110 一百一十."""
    if not 0 <= n <= 9999:
        raise ValueError(f"chinese_number: {n} is outside 0..9999")
    if n < 10:
        return DIGIT_WORDS[n]
    if n < 20:  # 十, 十一 … 十九: no leading 一
        return "十" + (DIGIT_WORDS[n % 10] if n % 10 else "")
    out: list[str] = []
    zero_pending = False
    for digit, unit in zip(f"{n:04d}", _UNITS, strict=True):
        d = int(digit)
        if d == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append("零")
            zero_pending = False
        out.append(DIGIT_WORDS[d] + unit)
    return "".join(out)


def digit_words(value: str) -> list[str]:
    """The digits of ``value`` as words, one per digit (``"105"`` → 一, 零, 五)."""
    if not value or not value.isascii() or not value.isdigit():
        raise ValueError(f"expected a string of digits 0-9, got {value!r}")
    return [DIGIT_WORDS[int(c)] for c in value]
