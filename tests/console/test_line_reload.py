"""The running line takes a flow saved in the console for new calls within a second, and never a broken one."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.commands.serve import OpenLine
from ivr.records.register import CallRegister
from ivr.records.reload_requests import ReloadRequests
from tests.telephony.conftest import REPO, LineMaker

pytestmark = pytest.mark.slow


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


def test_a_saved_flow_is_taken_within_a_second_and_a_broken_one_never(
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
        assert within(1.0, lambda: line.line.parts.flow.answer.rings == 2) < 1.0

        working = line.line.parts.flow
        flow.write_text(text.replace("next:", "nxt:", 1), encoding="utf-8")  # broken on disk
        ask_reload(line)
        time.sleep(0.6)  # two polls: the request was read and refused
        assert line.line.parts.flow is working

        flow.write_text(text, encoding="utf-8")
        previous = signal.signal(signal.SIGHUP, lambda *_: line.reloads.wake())  # as `ivr serve` does
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            assert within(1.0, lambda: line.line.parts.flow.answer.rings == 1) < 1.0
        finally:
            signal.signal(signal.SIGHUP, previous)
    finally:
        maker.close()
