"""``ivr demo``, the README's main job: five callers over real SIP, each with a recording and a timeline."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from ivr.call.events import EventKind, Outcome
from ivr.cli import main
from ivr.demo.run import CALLERS
from ivr.records.register import CallRegister

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OUTCOMES = {
    "silent caller": Outcome.SILENT_HANGUP,
    "noisy line": Outcome.NOISY_HANGUP,
    "too-quiet caller": Outcome.ABANDONED,
    "caller who finishes": Outcome.SERVED,
    "caller for a person": Outcome.TRANSFERRED,
}

pytestmark = pytest.mark.slow


def test_the_demo_serves_five_callers_and_leaves_their_recordings_timelines_and_the_flow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rendered_audio: Path
) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--root", str(REPO), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "seat 1002 answers; whisper to the seat only" in printed
    spoken = [line for line in printed.splitlines() if " says " in line]
    assert spoken, "the demo prints what the bot says"
    # the desk speaks in the company's name, never with the booking hotline's voice
    assert [line for line in spoken if "百事通" in line or "坐席" in line] == []
    assert set(OUTCOMES) == {c.name for c in CALLERS}

    with CallRegister(out / "calls.db", create=False) as register:
        calls = {c.caller: c for c in register.list_calls(limit=None)}
        records = {number: register.get(c.call_id) for number, c in calls.items()}
    for caller in CALLERS:
        record = records.get(caller.number)
        assert record is not None, f"{caller.name}: no record"
        assert record.outcome is OUTCOMES[caller.name], (caller.name, record.outcome)
        slug = caller.name.replace(" ", "-")
        with wave.open(str(out / f"{slug}.wav"), "rb") as wav:
            assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
            assert wav.getnframes() / 8000 > 5, f"{caller.name}: the recording is too short"
        assert (out / f"{slug}.png").read_bytes()[:8] == PNG_SIGNATURE

    person = records[next(c.number for c in CALLERS if c.name == "caller for a person")]
    assert person is not None
    seat = [e.detail for e in person.events if e.kind is EventKind.SEAT]
    assert seat == [{"seat": "1002", "state": "talking"}], "the record follows the call to the seat"
    assert person.events[-1].kind is EventKind.HANGUP and person.events[-1].detail["by"] == "caller"

    flow_picture = out / ("flow.svg" if shutil.which("dot") else "flow.dot")
    assert flow_picture.exists() and flow_picture.name in printed
