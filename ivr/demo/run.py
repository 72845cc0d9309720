"""The demo: the desk line on loopback and four scripted callers dialing it at once over real SIP."""

from __future__ import annotations

import contextlib
import queue
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console

from ivr.call.events import CallRecord, EventKind
from ivr.commands.serve import OpenLine
from ivr.config import IvrConfig, LineSettings, RecordsSettings, SipSettings
from ivr.demo.pictures import draw_timeline, write_stereo_wav
from ivr.prompts.catalog import PAUSE, Catalog, catalog_path, load_catalog
from ivr.telephony.caller_speech import ScriptedSpeech
from ivr.telephony.phone import PhoneCall, SipPhone
from ivr.telephony.phone_script import Action, HangUp, Noise, Say, Silent, WaitForBot

CALL_LIMIT_S = 90.0
DEMO_DAY = datetime(2026, 3, 2, 10, 0)  # a Monday morning: the desk is open whenever the demo runs


@dataclass(frozen=True)
class DemoCaller:
    name: str
    number: str
    script: tuple[Action, ...]


CALLERS = (
    DemoCaller("silent caller", "13800000001", (Silent(45),)),
    DemoCaller("noisy line", "13800000002", (WaitForBot(), Noise(40, -15, "pink"))),
    DemoCaller(
        "too-quiet caller",
        "13800000003",
        (
            WaitForBot(),
            Say("您好我想找一下王经理", -45),
            WaitForBot(),
            Say("我找人"),
            WaitForBot(),
            HangUp(),
        ),
    ),
    DemoCaller("caller who finishes", "13800000004", (WaitForBot(), Say("谢谢"), Silent(40))),
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_demo(root: Path, out_dir: Path | None, console: Console) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = out_dir or root / "var" / f"demo-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    config = IvrConfig(
        sip=SipSettings(mode="direct", bind=f"127.0.0.1:{_free_port()}", rtp_ports="21000-21999", grace=5),
        line=LineSettings(flow="flows/desk.yaml"),
        records=RecordsSettings(path=str(out / "calls.db")),
    )
    catalog = load_catalog(catalog_path(root, config.line.locale))
    began = time.monotonic()
    words = {c.number: [a.text for a in c.script if isinstance(a, Say)] for c in CALLERS}
    line = OpenLine(
        config,
        root,
        wall_clock=lambda: DEMO_DAY + timedelta(seconds=time.monotonic() - began),
        speech=lambda caller: ScriptedSpeech(words.get(caller or "", [])),
    )
    phone = SipPhone(user="demo")
    notes: queue.Queue[tuple[str, float, str]] = queue.Queue(maxsize=10_000)

    def note(call: PhoneCall, t: float, text: str) -> None:
        # if the printer fell behind, a line of the timeline is lost, never the call
        with contextlib.suppress(queue.Full):
            notes.put_nowait((call.name, t, text))

    line.start()
    phone.start()
    console.print(
        f"[bold]The desk line[/] answers on {config.sip.bind} ({config.line.flow}); "
        f"{len(CALLERS)} callers dial it at once over SIP. The line's clock reads "
        f"{DEMO_DAY:%A %H:%M}, in desk hours. No Mandarin speech model can be installed here, so the\n"
        "demo's recognition hands the bot the words each caller was scripted to say, for speech it heard clearly.\n"
    )
    calls: list[tuple[DemoCaller, PhoneCall]] = []
    try:
        target = config.sip.bind_address
        for caller in CALLERS:
            phone.user = caller.number
            calls.append((caller, phone.call(target, caller.script, name=caller.name, on_note=note)))
        deadline = time.monotonic() + CALL_LIMIT_S
        while time.monotonic() < deadline and not all(c.done.is_set() for _, c in calls):
            try:
                name, t, text = notes.get(timeout=0.5)
            except queue.Empty:
                continue
            console.print(f"[cyan]{name:>20}[/] {t:6.2f} s  {text}")
        for _, c in calls:
            if not c.done.is_set():
                phone.hang_up(c)
    finally:
        phone.close()
        line.stop(grace=5)
    while not notes.empty():
        name, t, text = notes.get_nowait()
        console.print(f"[cyan]{name:>20}[/] {t:6.2f} s  {text}")
    records = {r.caller: r for r in line.records}
    for caller, call in calls:
        record = records.get(caller.number)
        console.print(f"\n[bold]{caller.name}[/] — what the bot did")
        if record is None:
            console.print("  (no record: the call never reached the bot)")
            continue
        for line_text in bot_timeline(record, catalog):
            console.print("  " + line_text)
        slug = caller.name.replace(" ", "-")
        write_stereo_wav(out / f"{slug}.wav", call.sent_audio, call.heard_audio)
        draw_timeline(
            out / f"{slug}.png",
            f"{caller.name}: {record.outcome.value if record.outcome else ''}",
            record,
            call.sent_audio,
            call.heard_audio,
        )
    console.print(f"\nRecordings (left: caller, right: bot) and timelines are in [bold]{out}[/]")
    return out


def bot_timeline(record: CallRecord, catalog: Catalog) -> list[str]:
    out = []
    for e in record.events:
        t = f"{e.seconds:6.2f} s"
        if e.kind is EventKind.PROMPT_STARTED:
            prompt = str(e.detail["prompt"])
            words = PAUSE.sub("…", catalog.filled(catalog.by_id[prompt])) if prompt in catalog else ""
            out.append(f"{t}  says {prompt}: “{words}”")
        elif e.kind is EventKind.PROMPT_INTERRUPTED:
            out.append(f"{t}  stops talking ({e.detail['by']})")
        elif e.kind is EventKind.LINE:
            out.append(f"{t}  hears the line as {e.detail['state']}")
        elif e.kind is EventKind.INTENT:
            out.append(f"{t}  understands: {e.detail['intent']}")
        elif e.kind is EventKind.DTMF:
            out.append(f"{t}  key pressed")
        elif e.kind is EventKind.HANGUP:
            out.append(f"{t}  hang-up by the {e.detail['by']} — {e.detail['outcome']}")
    return out
