"""A running line learns of the calls other lines sharing its register ended, without a call waiting for it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.call.events import CallRecord, Outcome
from ivr.line.recent_feed import RecentCallersFeed
from ivr.records.recent_callers import RecentCallers
from ivr.records.register import CallRegister


def test_a_call_cut_off_on_another_line_is_known_here_within_the_next_look(store: Path | str) -> None:
    now = datetime.now(UTC)
    recent = RecentCallers()
    with CallRegister(store) as here, CallRegister(store) as other_line:
        recent.seed(here)
        feed = RecentCallersFeed(here, recent, look_s=0.05)
        feed.start()
        try:
            other_line.save(
                CallRecord(
                    "on-line-a", "desk", "13800000006", now - timedelta(seconds=30), 50, 500,
                    Outcome.ABANDONED, ["start", "menu"], [],
                )
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while recent.dropped_path("13800000006") == [] and time.monotonic() < deadline:
                time.sleep(0.02)
            assert recent.dropped_path("13800000006") == ["start", "menu"]
            assert feed.failures == 0 and feed.looks >= 1
        finally:
            feed.close()
    assert not [t for t in threading.enumerate() if t.name == "ivr-recent-callers"]
