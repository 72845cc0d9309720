"""Matching what a caller said to a listening step's intents (phrase containment).

The first intent, in file order, with a phrase found in the recognised text wins;
the fuzzy pinyin matcher of the words issue replaces this behind the same call.
"""

from __future__ import annotations

import re

from ivr.flows.schema import Listen

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def _plain(text: str) -> str:
    return _PUNCT.sub("", text).lower()


def match_intent(listen: Listen, text: str) -> str | None:
    said = _plain(text)
    if not said:
        return None
    for name, intent in listen.intents.items():
        if any(_plain(p) and _plain(p) in said for p in intent.phrases):
            return name
    return None
