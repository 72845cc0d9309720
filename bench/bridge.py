"""What the hand-off to a seat costs, over real SIP on loopback (direct mode, the shipped desk flow).

1. Delay added by the bridge: after being put through, the caller sends 100 ms
   tone bursts every 0.5 s; each burst's onset at the seat is timed against
   its onset at the caller (both phones stamp frames on their own 20 ms
   clocks, from their answer times). Baseline: the same phones with the
   caller dialing the seat directly (RTP phone to phone, no line between).
2. CPU per bridged call-minute: ``--calls`` callers bridged to as many seats at
   once; the line's media-clock work (tick cost) and this process's CPU time
   over a bridged window, per call-minute.
3. ``--waiting`` callers waiting at once with nobody answering: when each
   caller hears its progress updates, against the 15 s marks from the start
   of ``transfer.to_seat`` (as heard by the caller).

Reports numbers only; gates on nothing.

    python bench/bridge.py [--calls 5] [--waiting 50]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from ivr.call.events import EventKind
from ivr.config import IvrConfig, LineSettings, RecordsSettings, SipSettings
from ivr.demo.phone import PhoneCall, SipPhone
from ivr.demo.phone_script import Action, Press, Silent, Tone, WaitForBot
from ivr.demo.seat_phone import SeatPhone
from ivr.line.open_line import OpenLine

ROOT = Path(__file__).resolve().parents[1]
BURSTS = 20
BURST: tuple[Action, ...] = (Tone(0.1, 1000.0, -16.0), Silent(0.4))
DESK_OPEN = datetime(2026, 3, 2, 10, 0)  # a Monday morning
WHISPER_MARGIN_S = 18.0  # the caller starts its bursts this long after pressing 0 (ring + whisper done)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: Sequence[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def onsets(frames: list[bytes], start: float, threshold_dbfs: float = -35.0) -> list[float]:
    """Times (s, on the phone's clock) where sound starts after at least 100 ms of quiet."""
    out: list[float] = []
    quiet = 5
    limit = 32768 * 10 ** (threshold_dbfs / 20)
    for i, frame in enumerate(frames):
        x = np.frombuffer(frame, "<i2").astype(np.float64)
        loud = float(np.sqrt(np.mean(x * x))) > limit
        if loud and quiet >= 5:
            out.append(start + i * 0.02)
        quiet = 0 if loud else quiet + 1
    return out


def delays(sent: list[float], heard: list[float]) -> list[float]:
    out = []
    for t in sent:
        later = [h - t for h in heard if 0 <= h - t < 0.4]
        if later:
            out.append(later[0])
    return out


def open_line(directory: Path, seats: list[SeatPhone], rtp: str, *, music: bool = True) -> OpenLine:
    """The shipped desk flow on loopback; without ``music``, a copy whose hold is quiet between updates
    (the caller then hears where each update starts)."""
    flow = ROOT / "flows" / "desk.yaml"
    if not music:
        text = flow.read_text(encoding="utf-8")
        flow = directory / "desk-quiet-hold.yaml"
        flow.write_text(
            "\n".join(ln for ln in text.splitlines() if "music:" not in ln) + "\n", encoding="utf-8"
        )
    lines = ["seats:"]
    for seat in seats:
        lines += [
            f'  - id: "{seat.user}"',
            "    name: 座席",
            f'    uri: "{seat.uri}"',
            "    skills: [reception]",
        ]
    seats_file = directory / "seats.yaml"
    seats_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = IvrConfig(
        sip=SipSettings(mode="direct", bind=f"127.0.0.1:{free_port()}", rtp_ports=rtp, grace=1),
        line=LineSettings(flow=str(flow), seats=str(seats_file)),
        records=RecordsSettings(path=str(directory / "calls.db")),
    )
    line = OpenLine(config, ROOT, hours_clock=lambda: DESK_OPEN)  # the desk open, whenever the bench runs
    line.start()
    return line


def burst_script(lead: tuple[Action, ...]) -> tuple[Action, ...]:
    return lead + BURST * BURSTS + (Silent(30),)


def measure_delay(phone: SipPhone, call: PhoneCall, seat: SeatPhone) -> list[float]:
    seat_call = seat.calls[-1]
    assert call.answered_at is not None and seat_call.answered_at is not None
    sent = onsets(call.sent_audio, call.answered_at)
    heard = onsets(seat_call.heard_audio, seat_call.answered_at)
    return delays(sent, heard)


def wait(seconds: float) -> None:
    time.sleep(seconds)


def bench_delay(directory: Path) -> tuple[list[float], list[float]]:
    # baseline: the caller's phone straight to the seat's phone
    seat = SeatPhone("2001", rtp_ports=range(43000, 43020), answer_after_s=0.0, script=(Silent(60),))
    phone = SipPhone(user="13900000000", rtp_ports=range(43100, 43200))
    seat.start()
    phone.start()
    try:
        call = phone.call(seat.transport.address, burst_script((Silent(1.0),)), uri=seat.uri)
        wait(1.0 + 0.5 * BURSTS + 2.0)
        direct = measure_delay(phone, call, seat)
        phone.hang_up(call)
    finally:
        phone.close()
        seat.close()
    # through the line: press 0, ring, whisper, then the same bursts across the bridge
    seat = SeatPhone("1001", rtp_ports=range(43200, 43220), answer_after_s=0.2, script=(Silent(90),))
    phone = SipPhone(user="13900000001", rtp_ports=range(43300, 43400))
    seat.start()
    phone.start()
    line = open_line(directory / "delay", [seat], "43500-43599")
    try:
        script = burst_script((WaitForBot(), Press("0"), Silent(WHISPER_MARGIN_S)))
        call = phone.call(line.line.transport.address, script)
        # the greeting's length is the flow's: wait (bounded) until every burst has gone out
        deadline = time.monotonic() + 90.0
        while time.monotonic() < deadline and len(onsets(list(call.sent_audio), 0.0)) < BURSTS:
            wait(0.5)
        wait(1.0)
        bridged = measure_delay(phone, call, seat)
        phone.hang_up(call)
        wait(0.5)
    finally:
        phone.close()
        line.stop(1.0)
        seat.close()
    return direct, bridged


def bench_cpu(directory: Path, calls: int) -> tuple[float, float, int]:
    seats = [
        SeatPhone(
            f"{3001 + n}",
            rtp_ports=range(44000 + 20 * n, 44020 + 20 * n),
            answer_after_s=0.2,
            script=(Tone(120, 1000.0),),
        )
        for n in range(calls)
    ]
    phone = SipPhone(user="13900000002", rtp_ports=range(45000, 45400))
    for seat in seats:
        seat.start()
    phone.start()
    line = open_line(directory / "cpu", seats, "45500-45899")
    try:
        placed = []
        for n in range(calls):
            phone.user = f"1390000{n:04d}"
            placed.append(
                phone.call(line.line.transport.address, (WaitForBot(), Press("0"), Tone(120, 600.0)))
            )
        floor = line.line.floor
        assert floor is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and floor.bridged_calls < calls:
            wait(0.2)
        bridged = floor.bridged_calls
        wait(1.0)
        stats = line.line.clock.stats
        cost0 = sum(stats.tick_cost_s)
        cpu0, t0 = time.process_time(), time.monotonic()
        wait(20.0)
        cost1 = sum(stats.tick_cost_s)
        cpu1, t1 = time.process_time(), time.monotonic()
        minutes = bridged * (t1 - t0) / 60
        for c in placed:
            phone.hang_up(c)
        wait(0.5)
        return (cost1 - cost0) / minutes, (cpu1 - cpu0) / minutes, bridged
    finally:
        phone.close()
        line.stop(1.0)
        for seat in seats:
            seat.close()


def bench_waiting(directory: Path, waiting: int) -> list[float]:
    seat = SeatPhone("4001", rtp_ports=range(46000, 46020), answer_after_s=None)
    phone = SipPhone(user="13900000003", rtp_ports=range(46100, 46100 + 2 * waiting + 20))
    seat.start()
    phone.start()
    line = open_line(directory / "waiting", [seat], "46300-46499", music=False)
    try:
        placed = []
        for n in range(waiting):
            phone.user = f"1380000{n:04d}"
            placed.append(
                (phone.user, phone.call(line.line.transport.address, (WaitForBot(), Press("0"), Silent(60))))
            )
        wait(8.0 + 40.0)
        for _, c in placed:
            phone.hang_up(c)
        wait(2.0)
        records = {r.caller: r for r in line.records}
        errors = []
        for number, c in placed:
            record = records.get(number)
            if record is None or c.answered_at is None:
                continue
            starts = {
                (e.detail.get("prompt"), e.seconds)
                for e in record.events
                if e.kind is EventKind.PROMPT_STARTED
                and e.detail.get("prompt") in ("transfer.to_seat", "hold.progress")
            }
            heard = [start for start, _ in c.bot_speech]

            def onset(at: float, heard: list[float] = heard) -> float | None:
                near = [h for h in heard if abs(h - at) < 0.3]
                return min(near, key=lambda h: abs(h - at)) if near else None

            to_seat = [sec for prompt, sec in starts if prompt == "transfer.to_seat"]
            if not to_seat:
                continue
            first = onset(to_seat[0])
            if first is None:
                continue
            for sec in sorted(sec for prompt, sec in starts if prompt == "hold.progress"):
                k = round((sec - to_seat[0]) / 15.0)
                at = onset(sec)
                if at is not None and k >= 1:
                    errors.append((at - first - 15.0 * k) * 1000)
        return errors
    finally:
        phone.close()
        line.stop(1.0)
        seat.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--waiting", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for sub in ("delay", "cpu", "waiting"):
            (directory / sub).mkdir()
        direct, bridged = bench_delay(directory)
        tick_s, cpu_s, bridged_calls = bench_cpu(directory, args.calls)
        spread = bench_waiting(directory, args.waiting)
    rows = [
        (
            "direct RTP, phone to seat: delay p50 / p99 (ms)",
            f"{1000 * percentile(direct, 50):.0f} / {1000 * percentile(direct, 99):.0f}  (n={len(direct)})",
        ),
        (
            "through the bridge: delay p50 / p99 (ms)",
            f"{1000 * percentile(bridged, 50):.0f} / {1000 * percentile(bridged, 99):.0f}  (n={len(bridged)})",
        ),
        ("added by the bridge, p50 (ms)", f"{1000 * (percentile(bridged, 50) - percentile(direct, 50)):.0f}"),
        (f"line media-clock work per bridged call-minute ({bridged_calls} calls)", f"{tick_s * 1000:.0f} ms"),
        ("process CPU per bridged call-minute (line + phones + seats)", f"{cpu_s * 1000:.0f} ms"),
        (
            f"progress updates vs 15 s marks, {args.waiting} waiting: p50 / p99 / max |error| (ms)",
            f"{percentile(spread, 50):.0f} / {percentile([abs(e) for e in spread], 99):.0f} / "
            f"{max(abs(e) for e in spread):.0f}  (n={len(spread)})"
            if spread
            else "no updates heard",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
