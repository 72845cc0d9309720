"""Every reason a shipped flow files a callback under has words on the console's pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.console.words import REASON_WORDS, reason_word
from ivr.flows.loader import load_flow

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("flow_file", ["desk.yaml", "hotel-booking.yaml"])
def test_every_callback_reason_of_a_shipped_flow_is_shown_in_words(flow_file: str) -> None:
    flow = load_flow(REPO / "flows" / flow_file).flow
    reasons = {s.callback.reason for s in flow.steps.values() if s.callback is not None}
    assert reasons, "the flow files callbacks"
    assert reasons <= REASON_WORDS.keys(), f"no words for {sorted(reasons - REASON_WORDS.keys())}"
    assert all(reason_word(r, "zh") != r for r in reasons)
