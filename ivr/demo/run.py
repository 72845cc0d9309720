"""The demo: the desk line on loopback, five scripted callers dialing it at once over real SIP, and a seat.

The fifth caller presses 0 for a person: the line rings the demo's own seat
phone (direct mode, on loopback), whispers who is calling to the seat only,
then bridges the two; they talk a little and the caller hangs up.
"""

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
from ivr.config import IvrConfig, LineSettings, RecordsSettings, SipSettings
from ivr.demo.phone import PhoneCall, SipPhone
from ivr.demo.phone_script import Action, HangUp, Noise, Press, Say, Silent, WaitForBot
from ivr.demo.pictures import draw_timeline, write_stereo_wav
from ivr.demo.seat_phone import SeatPhone
from ivr.errors import MissingPartError
from ivr.flows.graph import draw
from ivr.hearing.caller_speech import ScriptedSpeech
from ivr.line.open_line import OpenLine
from ivr.prompts.catalog import PAUSE, Catalog, catalog_path, load_catalog
from ivr.seats.queue import Connected, Handled, QueueAction, Ring, SeatMissed, StopRinging, Whisper

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
    DemoCaller(
        "caller for a person",
        "13800000005",
        (
            WaitForBot(),
            Press("0"),
            Silent(11),  # transfer.to_seat and hold music (which a WaitForBot would take for a voice)
            WaitForBot(quiet_s=0.8, limit_s=15),  # the seat's hello
            Say("你好,我想订一个房间"),
            Silent(2),
            HangUp(),
        ),
    ),
)
SEAT_ID = "1002"
SEAT_SCRIPT: tuple[Action, ...] = (WaitForBot(quiet_s=1.0, limit_s=30), Say("您好,前台,请讲"), Silent(30))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_demo(root: Path, out_dir: Path | None, console: Console) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = out_dir or root / "var" / f"demo-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    notes: queue.Queue[tuple[str, float, str]] = queue.Queue(maxsize=10_000)
    began = time.monotonic()

    def seat_note(who: str, t: float, text: str) -> None:
        with contextlib.suppress(queue.Full):
            notes.put_nowait((f"seat {who}", time.monotonic() - began, text))

    seat = SeatPhone(
        SEAT_ID, rtp_ports=range(22000, 22100), answer_after_s=3.0, script=SEAT_SCRIPT, on_note=seat_note
    )
    seats_file = out / "seats.yaml"
    seats_file.write_text(
        f'seats:\n  - id: "{SEAT_ID}"\n    name: 前台\n    uri: "{seat.uri}"\n'
        "    skills: [reception, business, home_decor]\n",
        encoding="utf-8",
    )
    config = IvrConfig(
        sip=SipSettings(mode="direct", bind=f"127.0.0.1:{_free_port()}", rtp_ports="21000-21999", grace=5),
        line=LineSettings(flow="flows/desk.yaml", seats=str(seats_file)),
        records=RecordsSettings(path=str(out / "calls.db")),
    )
    catalog = load_catalog(catalog_path(root, config.line.locale))
    words = {c.number: [a.text for a in c.script if isinstance(a, Say)] for c in CALLERS}
    line = OpenLine(
        config,
        root,
        hours_clock=lambda: DEMO_DAY + timedelta(seconds=time.monotonic() - began),  # the desk is open
        speech=lambda caller: ScriptedSpeech(words.get(caller or "", [])),
    )
    phone = SipPhone(user="demo")

    def note(call: PhoneCall, t: float, text: str) -> None:
        # if the printer fell behind, a line of the timeline is lost, never the call
        with contextlib.suppress(queue.Full):
            notes.put_nowait((call.name, t, text))

    seat.start()
    line.start()
    phone.start()
    console.print(
        f"[bold]The desk line[/] answers on {config.sip.bind} ({config.line.flow}); "
        f"{len(CALLERS)} callers dial it at once over SIP. The line's clock reads "
        f"{DEMO_DAY:%A %H:%M}, in desk hours. Seat {SEAT_ID} (a phone the demo runs) takes callers who ask "
        "for a person. No Mandarin speech model can be installed here, so the\n"
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
        floor = line.line.floor
        seat_log = list(floor.log) if floor is not None else []
        line.stop(grace=5)
        seat.close()
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
    console.print("\n[bold]The seats[/] — what the desk did with seat " + SEAT_ID)
    for line_text in seat_timeline(seat_log, first_frame=seat_log[0][0] if seat_log else 0):
        console.print("  " + line_text)
    try:
        drawn = draw(line.line.parts.flow, catalog, out / "flow.svg").name
    except MissingPartError:  # Graphviz is not installed: the graph as text, and how to draw it
        drawn = (
            draw(line.line.parts.flow, catalog, out / "flow.dot").name
            + " (apt-get install graphviz to draw it)"
        )
    console.print(f"\nRecordings (left: caller, right: bot) and timelines are in [bold]{out}[/]")
    console.print(f"The flow the callers went through, step by step: {drawn}")
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
        elif e.kind is EventKind.TRANSFER:
            if e.detail.get("answered") is False:
                out.append(f"{t}  no seat took the call")
            else:
                out.append(f"{t}  puts the caller through to a seat ({e.detail['skill']})")
        elif e.kind is EventKind.SEAT and e.detail.get("state") == "talking":
            out.append(f"{t}  seat {e.detail['seat']} and the caller talk")
        elif e.kind is EventKind.SEAT:
            out.append(f"{t}  seat {e.detail['seat']} leaves the call ({e.detail.get('by')})")
        elif e.kind is EventKind.HANGUP:
            out.append(f"{t}  hang-up by the {e.detail['by']} — {e.detail['outcome']}")
    return out


def seat_timeline(log: list[tuple[int, QueueAction]], first_frame: int) -> list[str]:
    """The queue's actions as lines, seconds from the first ring (the whisper's words stay out)."""
    out = []
    for frame, action in log:
        t = f"{(frame - first_frame) * 0.02:6.2f} s"
        if isinstance(action, Ring):
            out.append(f"{t}  rings seat {action.seat_id}")
        elif isinstance(action, StopRinging):
            out.append(f"{t}  stops ringing seat {action.seat_id} ({action.reason})")
        elif isinstance(action, SeatMissed):
            out.append(f"{t}  seat {action.seat_id} missed the call ({action.miss.value})")
        elif isinstance(action, Whisper):
            out.append(f"{t}  seat {action.seat_id} answers; whisper to the seat only (who, why, waited)")
        elif isinstance(action, Connected):
            out.append(
                f"{t}  connected: caller and seat {action.seat_id} bridged after {action.waited_s:.1f} s"
            )
        elif isinstance(action, Handled):
            out.append(f"{t}  hung up: seat {action.seat_id} talked {action.talk_s:.1f} s")
    return out
