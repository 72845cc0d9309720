"""``ivr serve`` as a process: it answers, and on SIGTERM refuses new calls, ends live ones, closes the register."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.call.events import EventKind, Outcome
from ivr.demo.phone import SipPhone
from ivr.demo.phone_script import Silent
from ivr.records.register import CallRegister
from tests.telephony.harness.ports import allocate_rtp_range, free_port, release_rtp_range


def _free_port() -> int:
    return free_port()


@pytest.mark.slow
def test_sigterm_refuses_new_calls_ends_live_ones_and_keeps_their_records(
    repo: Path, rendered_audio: Path, tmp_path: Path
) -> None:
    port = _free_port()
    line_rtp, phone_rtp = allocate_rtp_range(100), allocate_rtp_range(100)
    config = tmp_path / "ivr.toml"
    config.write_text(
        f'[sip]\nbind = "127.0.0.1:{port}"\nrtp_ports = "{line_rtp}"\ngrace = 5\n'
        f'[records]\npath = "{tmp_path / "calls.db"}"\n',
        encoding="utf-8",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "ivr.cli", "serve", "--config", str(config)],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    phone = SipPhone(rtp_ports=range(phone_rtp.low, phone_rtp.high + 1))
    try:
        assert server.stdout is not None
        assert "serving" in server.stdout.readline()
        phone.start()
        live = phone.call(("127.0.0.1", port), [Silent(30)])
        assert live.done.wait(0.1) is False
        for _ in range(100):  # bounded: the answer comes after one ring (1 s)
            if live.answered_at is not None:
                break
            live.done.wait(0.05)
        assert live.answered_at is not None, "the live call was not answered"
        server.send_signal(signal.SIGTERM)
        server.stdout.readline()  # "stopping: ..." once the signal is handled
        late = phone.call(("127.0.0.1", port), [Silent(1)])
        assert late.done.wait(5), "the late call got no answer"
        assert late.final_status == 503
        assert live.done.wait(10) and live.ended_by == "bot", "the live call was not ended by the line"
        assert live.ended_at is not None and live.answered_at is not None
        last_words = live.bot_speech[-1]
        assert live.ended_at - live.answered_at > last_words[1], "the BYE came before the last words ended"
        assert server.wait(timeout=15) == 0
    finally:
        phone.close()
        if server.poll() is None:
            os.kill(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        if server.stdout:
            server.stdout.close()
        if server.stderr:
            server.stderr.close()
        release_rtp_range(line_rtp)
        release_rtp_range(phone_rtp)
    with CallRegister(tmp_path / "calls.db", create=False) as register:
        calls = register.list_calls(limit=None)
        assert len(calls) == 1 and calls[0].caller == phone.user
        record = register.get(calls[0].call_id)
    assert record is not None
    said = [e.detail.get("prompt") for e in record.events if e.kind is EventKind.PROMPT_FINISHED]
    assert said[-1] == "goodbye", said  # nobody is dropped without a goodbye
    assert record.outcome is Outcome.LINE_CLOSED


def test_a_missing_speech_model_stops_start_up_with_what_to_install(repo: Path, tmp_path: Path) -> None:
    from ivr.config import HearingSettings, IvrConfig, RecordsSettings, SipSettings
    from ivr.errors import MissingPartError
    from ivr.line.open_line import OpenLine

    missing = tmp_path / "models" / "vosk-model-small-cn-0.22"
    config = IvrConfig(
        sip=SipSettings(bind=f"127.0.0.1:{_free_port()}"),
        records=RecordsSettings(path=str(tmp_path / "calls.db")),
        hearing=HearingSettings(vosk_model=str(missing)),
    )
    with pytest.raises(MissingPartError) as caught:
        OpenLine(config, repo)
    assert str(missing) in str(caught.value)
    assert "vosk-model-small-cn-0.22" in str(caught.value)


def test_ivr_serve_without_a_model_reports_it_and_exits_1(repo: Path, tmp_path: Path) -> None:
    config = tmp_path / "ivr.toml"
    config.write_text(
        f'[sip]\nbind = "127.0.0.1:{_free_port()}"\n[records]\npath = "{tmp_path / "c.db"}"\n'
        f'[hearing]\nvosk_model = "{tmp_path / "nowhere"}"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "serve", "--config", str(config)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert str(tmp_path / "nowhere") in done.stderr
    assert "Traceback" not in done.stderr
