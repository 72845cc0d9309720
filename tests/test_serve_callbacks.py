"""Callback tickets over real SIP against ``ivr serve`` as a process: written before they are promised.

The line runs a copy of the shipped desk flow whose desk hours exclude today (so every call is after
hours), without hold music (the first sound after the caller confirms is the promise). The caller is
a real SIP phone on loopback; ``ivr calls callbacks`` reads the register file afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ruamel.yaml import YAML

from ivr.demo.phone import PhoneCall, SipPhone
from ivr.demo.phone_script import Action, HangUp, Press, Silent, WaitForBot
from ivr.records.callbacks import CallbackBook, CallbackSource
from ivr.records.register import CallRegister
from tests.telephony.harness.ports import allocate_rtp_range, free_udp_port, release_rtp_range

pytestmark = pytest.mark.slow

CALLER = "13912345678"
ZONE = "Asia/Shanghai"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def after_hours_flow(repo: Path, directory: Path) -> Path:
    """The desk flow, open only on a day three days away from today at the desk: now is after hours."""
    yaml = YAML(typ="rt")
    flow = yaml.load((repo / "flows" / "desk.yaml").read_text(encoding="utf-8"))
    today = datetime.now(ZoneInfo(ZONE)).weekday()
    flow["hours"]["desk"][0]["days"] = [DAYS[(today + 3) % 7]]  # never today, whatever the hour
    flow["hold"].pop("music")  # silence while the ticket is written: the next sound is the promise
    flow.pop("tests")
    path = directory / "after-hours.yaml"
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(flow, out)
    return path


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    db: Path


@pytest.fixture
def served(repo: Path, rendered_audio: Path, tmp_path: Path) -> Iterator[Served]:
    """``ivr serve`` on a free port with the after-hours flow and a register under tmp_path."""
    ports = allocate_rtp_range(100)
    port = free_udp_port()
    db = tmp_path / "calls.db"
    config = tmp_path / "ivr.toml"
    config.write_text(
        f'[sip]\nbind = "127.0.0.1:{port}"\nrtp_ports = "{ports.low}-{ports.high}"\ngrace = 2\n'
        f'[line]\nflow = "{after_hours_flow(repo, tmp_path)}"\ntimezone = "{ZONE}"\n'
        f'[records]\npath = "{db}"\n',
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "ivr.cli", "serve", "--config", str(config)],
        cwd=repo,
        env=dict(os.environ, PYTHONPATH=str(repo)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "serving" in process.stdout.readline(), "ivr serve did not start"
        yield Served(process, port, db)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        release_rtp_range(ports)


@pytest.fixture
def caller() -> Iterator[SipPhone]:
    ports = allocate_rtp_range(100)
    phone = SipPhone(user=CALLER, rtp_ports=range(ports.low, ports.high + 1))
    try:
        phone.start()
        yield phone
    finally:
        phone.close()
        release_rtp_range(ports)


PRESS_1_TWICE: list[Action] = [
    WaitForBot(quiet_s=1.0),  # closed.after_hours, then callback.ask
    Press("1"),  # yes, call me back
    WaitForBot(quiet_s=1.0),  # callback.confirm_number, the number read back digit by digit
    Press("1"),  # yes, that number
    Silent(60),
]


def callbacks_cli(repo: Path, db: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "calls", "callbacks", "--db", str(db)],
        cwd=repo,
        env=dict(os.environ, PYTHONPATH=str(repo), COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_answered(call: PhoneCall) -> None:
    for _ in range(100):  # bounded: the answer comes after one ring (1 s)
        if call.answered_at is not None:
            return
        call.done.wait(0.05)
    raise AssertionError("the call was not answered")


class SecondPress:
    """Notes, from the phone's clock thread, how much the bot had said when the caller confirmed."""

    def __init__(self) -> None:
        self.presses = 0
        self.spans_before: int | None = None
        self.confirmed = threading.Event()

    def __call__(self, call: PhoneCall, t: float, note: str) -> None:
        if note.startswith("presses"):
            self.presses += 1
            if self.presses == 2:
                self.spans_before = len(call.bot_speech)
                self.confirmed.set()


def promise_started(call: PhoneCall, press: SecondPress, limit_s: float = 10.0) -> None:
    """Until the bot starts speaking after the confirming key press: callback.taken begins."""
    assert press.confirmed.wait(60), "the caller never got to confirm the number"
    assert press.spans_before is not None
    for _ in range(int(limit_s / 0.005)):  # bounded
        if len(call.bot_speech) > press.spans_before:
            return
        call.done.wait(0.005)
    raise AssertionError("the bot said nothing after the number was confirmed")


def test_after_hours_caller_pressing_1_and_1_has_a_ticket_with_their_number(
    repo: Path, served: Served, caller: SipPhone
) -> None:
    press = SecondPress()
    call = caller.call(("127.0.0.1", served.port), PRESS_1_TWICE, on_note=press)
    wait_answered(call)
    promise_started(call, press)
    caller.hang_up(call)
    assert call.done.wait(5), "the hang-up was not answered"
    shown = callbacks_cli(repo, served.db)
    assert CALLER in shown and "caller ID" in shown and "after_hours" in shown, shown
    served.process.send_signal(signal.SIGTERM)  # the call's record is in the register once it stops
    assert served.process.wait(timeout=15) == 0
    with CallRegister(served.db, create=False) as register:
        (ticket,) = CallbackBook(register).tickets()
        record = register.get(ticket.call_id)  # the ticket names the call: ivr calls show ID
    assert record is not None and record.caller == CALLER


def test_after_hours_silent_caller_hears_the_nudge_and_has_no_ticket(
    repo: Path, served: Served, caller: SipPhone
) -> None:
    # closed.after_hours and callback.ask take 28 s, silent.nudge starts 10 s later and lasts 7 s
    call = caller.call(("127.0.0.1", served.port), [Silent(48), HangUp()])
    wait_answered(call)
    assert call.done.wait(60), "the silent caller's call did not end"
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=15) == 0
    with CallRegister(served.db, create=False) as register:
        calls = register.list_calls(limit=None)
        assert len(calls) == 1
        record = register.get(calls[0].call_id)
        assert record is not None
        said = [str(e.detail.get("prompt")) for e in record.events if e.kind.value == "prompt.started"]
        assert said[:3] == ["closed.after_hours", "callback.ask", "silent.nudge"], said
        assert "callback.taken" not in said and "callback.confirm_number" not in said
        assert CallbackBook(register).tickets(open_only=False) == []
    assert "no open callback tickets" in callbacks_cli(repo, served.db)


def test_kill_9_just_after_the_promise_starts_loses_no_ticket(
    repo: Path, served: Served, caller: SipPhone
) -> None:
    press = SecondPress()
    call = caller.call(("127.0.0.1", served.port), PRESS_1_TWICE, on_note=press)
    wait_answered(call)
    promise_started(call, press)
    os.kill(served.process.pid, signal.SIGKILL)  # no goodbye, no close(): the ticket is on disk already
    assert served.process.wait(timeout=10) == -signal.SIGKILL
    with CallRegister(served.db, create=False) as register:
        tickets = CallbackBook(register).tickets()
    assert [(t.number, t.source, t.reason) for t in tickets] == [
        (CALLER, CallbackSource.CALLER_ID, "after_hours")
    ]
    assert CALLER in callbacks_cli(repo, served.db)
