"""The console on a register in PostgreSQL (``[records] url``): users added with ``ivr console user add``
sign in, and a call that a line writes into the shared database is on the wallboard and in /metrics."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Page, expect

from ivr.call.events import CallRecord, Outcome
from ivr.records.live_calls import LiveCall, LiveCallBoard, LiveState
from ivr.records.register import CallRegister
from tests.console.conftest import add_users, free_port, make_root, running_console, sign_in
from tests.postgres_cluster import PostgresCluster


def test_a_call_a_line_writes_to_postgresql_is_on_the_wallboard(
    page: Page, tmp_path: Path, rendered_audio: Path, postgres_cluster: PostgresCluster
) -> None:
    url = postgres_cluster.empty_register()
    port = free_port()
    root = make_root(tmp_path, rendered_audio, port, url=url)
    add_users(root, [("li", "shift_leader", None), ("wang", "agent", "1001")])
    with CallRegister(url) as reg:
        reg.save(
            CallRecord("pg-done-1", "desk", "13800000007", datetime.now(UTC), 50, 500, Outcome.SERVED, [])
        )
    with running_console(root, port, url) as console:
        sign_in(page, console, "li")
        expect(page).to_have_url(console.url + "/wallboard")
        board = LiveCallBoard(CallRegister(url, synchronous="NORMAL"), lambda: datetime.now(UTC))
        board.start()  # a line starting: the live table is its own
        try:
            board.update(
                LiveCall(
                    "pg-live-1", "13812345670", "desk", LiveState.IN_FLOW, datetime.now(UTC), step="greet"
                )
            )
            board.flush(5)
            expect(page.locator("#calls tr")).to_have_count(1)
            expect(page.locator("#calls")).to_contain_text("13812345670")
        finally:
            board.close()
        with urllib.request.urlopen(console.url + "/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert 'ivr_calls_total{outcome="served"} 1.0' in metrics
        assert 'ivr_calls_in_progress{state="in_flow"} 1.0' in metrics
    assert not (root / "var").exists()  # no SQLite file beside it: everything was in PostgreSQL
