"""The running line takes a flow saved in the console for new calls without a restart, and never a broken one;
calls in progress finish on the flow they began on.

The line looks for a request ten times a second (``POLL_S``); how soon it acts is a figure for
``bench/``, so the waits here are bounds on a loaded machine (``SETTLE_S``), not the promise itself.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.demo.phone_script import HangUp, Silent, WaitForBot
from ivr.line.console_feed import ReloadWatch
from ivr.line.open_line import OpenLine
from ivr.records.register import CallRegister
from ivr.records.reload_requests import SEAT_BREAKS, ReloadRequests
from tests.telephony.conftest import REPO, LineMaker, started_phone

pytestmark = pytest.mark.slow

SETTLE_S = 10.0  # a bound, not a latency: a loaded CI machine may be slow to schedule the reload thread


def within(seconds: float, what: Callable[[], bool]) -> float:
    """How long ``what`` took to come true (fails after ``seconds``)."""
    start = time.monotonic()
    while not what():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds:g} s")
        time.sleep(0.01)
    return time.monotonic() - start


def ask_reload(line: OpenLine) -> None:
    with CallRegister(line.register.path) as reg:
        ReloadRequests(reg).add("root", "flows/desk.yaml", datetime.now(UTC))


def test_a_saved_flow_is_taken_without_a_restart_and_a_broken_one_never(
    tmp_path: Path, rendered_audio: Path
) -> None:
    flow = tmp_path / "desk.yaml"
    text = (REPO / "flows" / "desk.yaml").read_text(encoding="utf-8")
    flow.write_text(text, encoding="utf-8")
    maker = LineMaker(tmp_path)
    try:
        line = maker(flow=flow)
        assert line.line.parts.flow.answer.rings == 1
        flow.write_text(text.replace("  rings: 1 ", "  rings: 2 "), encoding="utf-8")
        ask_reload(line)
        within(SETTLE_S, lambda: line.line.parts.flow.answer.rings == 2)

        working = line.line.parts.flow
        flow.write_text(text.replace("next:", "nxt:", 1), encoding="utf-8")  # broken on disk
        ask_reload(line)
        time.sleep(0.6)  # two polls: the request was read and refused
        assert line.line.parts.flow is working

        flow.write_text(text, encoding="utf-8")
        previous = signal.signal(signal.SIGHUP, lambda *_: line.reloads.wake())  # as `ivr serve` does
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            within(SETTLE_S, lambda: line.line.parts.flow.answer.rings == 1)
        finally:
            signal.signal(signal.SIGHUP, previous)
    finally:
        maker.close()


def test_a_call_in_progress_finishes_on_its_flow_and_the_next_call_takes_the_new_one(
    tmp_path: Path, rendered_audio: Path
) -> None:
    flow = tmp_path / "desk.yaml"
    text = (REPO / "flows" / "desk.yaml").read_text(encoding="utf-8")
    flow.write_text(text, encoding="utf-8")
    maker = LineMaker(tmp_path)
    try:
        with started_phone(40) as phone:
            line = maker(flow=flow)
            phone.user = "13500000001"
            phone.call(line.line.transport.address, (WaitForBot(), Silent(4.0), HangUp()))
            within(
                5.0, lambda: line.line.live_calls() == 1 and line.line.frame > 100
            )  # answered, in the flow
            flow.write_text(text.replace("flow: desk\n", "flow: desk-v2\n", 1), encoding="utf-8")
            ask_reload(line)
            within(SETTLE_S, lambda: line.line.parts.flow.flow == "desk-v2")
            assert line.records == [] and line.line.live_calls() == 1  # the first call goes on meanwhile
            phone.user = "13500000002"
            phone.call(line.line.transport.address, (WaitForBot(), HangUp()))
            within(15.0, lambda: len(line.records) == 2)
            by_caller = {r.caller: r.flow for r in line.records}
            assert by_caller == {"13500000001": "desk", "13500000002": "desk-v2"}
    finally:
        maker.close()


def test_a_pause_on_a_page_has_the_line_read_the_breaks_and_load_no_files(
    tmp_path: Path,
) -> None:
    reloads: list[str] = []
    breaks = threading.Event()
    with CallRegister(tmp_path / "calls.db") as reg:
        watch = ReloadWatch(CallRegister(reg.path), reloads.append, breaks=breaks.set)
        watch.start()
        try:
            ReloadRequests(reg).add("wang", SEAT_BREAKS, datetime.now(UTC))
            assert breaks.wait(SETTLE_S)
            ReloadRequests(reg).add("root", "flows/desk.yaml", datetime.now(UTC))
            within(SETTLE_S, lambda: reloads == ["flows/desk.yaml saved in the console by root"])
        finally:
            watch.close()


def test_one_save_in_the_console_reaches_every_line_sharing_the_register(store: Path | str) -> None:
    """A reload request is read by each line, not taken by the first (lines behind one dispatcher)."""
    heard = {name: threading.Event() for name in ("node1", "node2", "node3")}

    def taken_by(seen: threading.Event) -> Callable[[str], object]:
        return lambda why: seen.set()

    watches = [ReloadWatch(CallRegister(store), taken_by(seen), poll_s=0.05) for seen in heard.values()]
    for watch in watches:
        watch.start()
    try:
        with CallRegister(store) as reg:
            ReloadRequests(reg).add("root", "flows/desk.yaml", datetime.now(UTC))
        missed = [name for name, seen in heard.items() if not seen.wait(SETTLE_S)]
        assert not missed, f"lines that never took the save: {missed}"
    finally:
        for watch in watches:
            watch.close()
