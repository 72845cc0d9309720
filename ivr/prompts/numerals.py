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


# Every way a digit is written in the words a caller may hear: ASCII and full-width digits, the
# digit words, 幺 (the operators' 1), 两 (2), 〇.
_DIGIT_FORMS: dict[str, str] = {
    **{str(d): str(d) for d in range(10)},
    **{chr(0xFF10 + d): str(d) for d in range(10)},
    **{w: str(d) for d, w in enumerate(DIGIT_WORDS)},
    "〇": "0",
    "幺": "1",
    "两": "2",
}
_UNIT_VALUES = {"十": 10, "百": 100, "千": 1000}


def numbers_in(text: str) -> set[str]:
    """Every number written in ``text``, as ASCII digits, in whatever numerals it is written.

    A run of digits in any form is read digit by digit (``幺零零三``, ``１００３``, ``1003`` → ``1003``);
    a run with 十/百/千 is read as a cardinal too (``一千零三`` → ``1003``). Runs of one digit are left
    out: they are everyday words (一下, 两位).
    """
    out: set[str] = set()
    run: list[str] = []
    for ch in [*text, ""]:
        if ch in _DIGIT_FORMS or ch in _UNIT_VALUES:
            run.append(ch)
            continue
        if len(run) >= 2:
            out |= _readings(run)
        run = []
    return out


def _readings(run: list[str]) -> set[str]:
    if not any(ch in _UNIT_VALUES for ch in run):
        return {"".join(_DIGIT_FORMS[ch] for ch in run)}
    total, digit = 0, None
    for ch in run:
        if ch in _UNIT_VALUES:
            total += (1 if digit is None else digit) * _UNIT_VALUES[ch]
            digit = None
        elif ch in _DIGIT_FORMS:
            digit = (
                int(_DIGIT_FORMS[ch]) if digit is None or digit == 0 else digit * 10 + int(_DIGIT_FORMS[ch])
            )
    total += digit or 0
    return {str(total)}
