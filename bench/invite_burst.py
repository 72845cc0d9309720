"""What a burst of INVITEs costs the desk line's SIP thread, in-process and on a real socket.

    python bench/invite_burst.py                  # 60 INVITEs, 20 rounds, both measurements
    python bench/invite_burst.py --calls 60 --rounds 30 --profile

Opens the shipped desk flow as ``ivr serve`` would (``OpenLine``, direct mode, loopback) and
sends it bursts of INVITEs built as ``bench/sip_load.py``'s caller builds them (one per caller,
an SDP offer of PCMU, new Call-ID, From tag and branch each):

1. **handler**: the line not started; each INVITE handed to the SIP handler (``_on_datagram``)
   on this thread, one after the other, as the reader thread hands a burst over. Per INVITE:
   CPU time of the handler (p50/p99) and the time from the first INVITE until the last 180
   has been written to the socket. The media clock does not run, so this is the SIP thread's
   own cost, independent of what else the machine does (as far as CPU time goes).
2. **wire**: the line started (reader thread, media clock), the burst sent back to back by a caller
   process of its own (its Python off the line's interpreter) from one
   UDP socket; each 180 timed by the kernel's receive stamp (SO_TIMESTAMPNS) against the
   wall-clock time its INVITE was sent, as ``bench/sip_load.py --direct`` does. Each round's
   calls are then CANCELled (200, 487, our ACK) and the next round waits for the line to be idle.

``--profile`` adds a cProfile of the handler rounds (top functions by own time).
Numbers depend on the machine and on what else runs; compare within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.config import IvrConfig, LineSettings, RecordsSettings, SipSettings  # noqa: E402
from ivr.line.open_line import OpenLine, freeze_start_up_heap  # noqa: E402
from ivr.telephony import sdp  # noqa: E402
from ivr.telephony.sip_message import (  # noqa: E402
    SipMessage,
    new_branch,
    new_call_id,
    new_tag,
    parse,
    request,
)
from ivr.telephony.transport import Source  # noqa: E402
from tests.telephony.harness.ports import LOOPBACK, free_udp_port  # noqa: E402

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("@qq")
RTP_PORTS = "28000-28499"  # beside bench/sip_load.py's 26000-27999; inside the tests' RTP window (23000-31999): not run beside them


def invites(line_address: tuple[str, int], caller_port: int, count: int, first: int) -> list[SipMessage]:
    """``count`` INVITEs as ``bench/sip_load.py``'s caller builds them, each a call of its own."""
    uri = f"sip:ivr@{line_address[0]}:{line_address[1]}"
    out = []
    for n in range(first, first + count):
        out.append(
            request(
                "INVITE",
                uri,
                via=f"SIP/2.0/UDP {LOOPBACK}:{caller_port};branch={new_branch()};rport",
                from_=f"<sip:1390000{n % 10000:04d}@{LOOPBACK}>;tag={new_tag()}",
                to=f"<{uri}>",
                call_id=new_call_id(LOOPBACK),
                cseq=1,
                contact=f"<sip:caller@{LOOPBACK}:{caller_port}>",
                body=sdp.offer(LOOPBACK, 40000 + 2 * (n % 1000), session_id=n + 1, codecs=("PCMU",)),
                content_type="application/sdp",
            )
        )
    return out


@contextlib.contextmanager
def desk_line(directory: Path) -> Iterator[OpenLine]:
    directory.mkdir(parents=True, exist_ok=True)
    config = IvrConfig(
        sip=SipSettings.model_validate(
            {
                "mode": "direct",
                "bind": f"{LOOPBACK}:{free_udp_port()}",
                "rtp_ports": RTP_PORTS,
                "max_calls": 1000,
                "grace": 1.0,
            }
        ),
        line=LineSettings(flow="flows/desk.yaml"),
        records=RecordsSettings(path=str(directory / "calls.db")),
    )
    line = OpenLine(config, REPO)
    try:
        yield line
    finally:
        line.stop(grace=0.5)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class Catcher:
    """The caller's one SIP socket: what the line sends back, with the kernel's receive stamps."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.port = self.sock.getsockname()[1]

    def read(self, timeout: float) -> tuple[SipMessage, float] | None:
        self.sock.settimeout(timeout)
        try:
            data, ancillary, _, _ = self.sock.recvmsg(65535, socket.CMSG_SPACE(TIMESPEC.size))
        except (TimeoutError, BlockingIOError):
            return None
        stamp = time.time()
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = TIMESPEC.unpack_from(raw)
                stamp = sec + nsec / 1e9
        return parse(data), stamp

    def drain(self) -> None:
        while self.read(0.0) is not None:
            pass


def handler_rounds(line: OpenLine, calls: int, rounds: int, profile: cProfile.Profile | None) -> None:
    """The SIP handler alone, on this thread: the line is not started."""
    desk = line.line
    freeze_start_up_heap()  # as a started line does: no full collection walks the start-up heap
    catcher = Catcher()
    source = Source((LOOPBACK, catcher.port))
    per_invite: list[float] = []
    per_invite_cpu: list[float] = []
    last_180: list[float] = []
    burst_cpu: list[float] = []
    for r in range(rounds + 1):  # round 0 warms up
        wires = [m.serialize() for m in invites((desk.host, desk.port), catcher.port, calls, r * calls)]
        costs = []
        cpu = []
        if profile is not None and r > rounds // 2:  # the later half profiled, the earlier half timed
            profile.enable()
        began, began_cpu = time.perf_counter(), time.thread_time()
        for wire in wires:
            t, c = time.perf_counter(), time.thread_time()
            desk._on_datagram(wire, source)
            costs.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
        done, done_cpu = time.perf_counter() - began, time.thread_time() - began_cpu
        if profile is not None:
            profile.disable()
        got = 0
        while (reply := catcher.read(0.5)) is not None:
            got += reply[0].status == 180
            if got == calls:
                break
        if got != calls:
            raise RuntimeError(f"round {r}: {got} of {calls} INVITEs got a 180")
        with desk._lock:
            desk._calls.clear()  # not started: nothing else holds them
        if r > 0 and (profile is None or r <= rounds // 2):
            per_invite += [c * 1000 for c in costs]
            per_invite_cpu += [c * 1000 for c in cpu]
            last_180.append(done * 1000)
            burst_cpu.append(done_cpu * 1000)
    catcher.sock.close()
    timed = rounds if profile is None else rounds // 2
    print(f"handler ({calls} INVITEs a burst, {timed} rounds timed, SIP handler on this thread)")
    print(f"  per INVITE ms        p50 {pct(per_invite, 50):7.3f}  p99 {pct(per_invite, 99):7.3f}  (wall)")
    print(f"  per INVITE CPU ms    p50 {pct(per_invite_cpu, 50):7.3f}  p99 {pct(per_invite_cpu, 99):7.3f}")
    print(f"  last 180 written ms  p50 {pct(last_180, 50):7.3f}  max {max(last_180):7.3f}  (wall)")
    print(
        f"  burst CPU ms         min {min(burst_cpu):7.3f}  p50 {pct(burst_cpu, 50):7.3f}  max {max(burst_cpu):7.3f}"
    )


def wire_rounds(address: tuple[str, int], calls: int, rounds: int) -> None:
    """The started line at ``address``, on a real socket: each 180 timed by the kernel against its INVITE's
    sending. Run in a process of its own (``--caller``): the caller's Python must not share the line's
    interpreter."""
    host, port = address
    catcher = Catcher()
    ring: list[float] = []
    last: list[float] = []
    for r in range(rounds):
        sent: dict[str, float] = {}
        messages = invites(address, catcher.port, calls, 100_000 + r * calls)
        wires = [m.serialize() for m in messages]
        for message, wire in zip(messages, wires, strict=True):
            sent[message.call_id] = time.time()
            catcher.sock.sendto(wire, address)
        got: list[float] = []
        while len(got) < calls and (reply := catcher.read(2.0)) is not None:
            msg, stamp = reply
            if msg.status == 180:
                got.append((stamp - sent[msg.call_id]) * 1000)
        if len(got) != calls:
            raise RuntimeError(f"round {r}: {len(got)} of {calls} INVITEs got a 180")
        ring += got
        last.append(max(got))
        for message in messages:  # the round's calls end: CANCEL, 200 and 487, ACK
            cancel = request(
                "CANCEL",
                message.uri,
                via=message.header("Via") or "",
                from_=message.header("From") or "",
                to=message.header("To") or "",
                call_id=message.call_id,
                cseq=1,
            )
            catcher.sock.sendto(cancel.serialize(), address)
        ended = 0
        while ended < calls and (reply := catcher.read(2.0)) is not None:
            msg, _ = reply
            if msg.status == 487:
                ended += 1
                ack = request(
                    "ACK",
                    f"sip:ivr@{host}:{port}",
                    via=msg.header("Via") or "",
                    from_=msg.header("From") or "",
                    to=msg.header("To") or "",
                    call_id=msg.call_id,
                    cseq=1,
                )
                catcher.sock.sendto(ack.serialize(), address)
        time.sleep(0.5)  # the calls' records and console rows are written; the line's clock goes idle
        catcher.drain()
    catcher.sock.close()
    print(f"wire ({calls} INVITEs back to back, {rounds} rounds, started line, kernel receive stamps)")
    print(
        f"  INVITE→180 ms        p50 {pct(ring, 50):7.3f}  p95 {pct(ring, 95):7.3f}  p99 {pct(ring, 99):7.3f}"
    )
    print(
        f"  last 180 of a burst  p50 {pct(last, 50):7.3f}  p90 {pct(last, 90):7.3f}  max {max(last):7.3f}"
        f"  (over 10 ms: {sum(x > 10 for x in last)} of {len(last)})"
    )
    # a fresh line's first burst (bench/sip_load.py sends one burst to a line just started)
    print(f"  first bursts' last 180 ms  {'  '.join(f'{x:.2f}' for x in last[:5])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=60, help="INVITEs in a burst")
    parser.add_argument("--rounds", type=int, default=20, help="bursts measured")
    parser.add_argument("--profile", action="store_true", help="cProfile the handler rounds")
    parser.add_argument("--only", choices=("handler", "wire"), help="one of the two measurements")
    parser.add_argument("--caller", metavar="HOST:PORT", help=argparse.SUPPRESS)  # the wire's caller process
    args = parser.parse_args(argv)
    if args.caller:
        host, _, port = args.caller.rpartition(":")
        wire_rounds((host, int(port)), args.calls, args.rounds)
        return 0
    print(f"INVITE burst: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="ivr-invite-burst-") as tmp:
        if args.only != "wire":
            with desk_line(Path(tmp) / "handler") as line:
                profile = cProfile.Profile() if args.profile else None
                handler_rounds(line, args.calls, args.rounds, profile)
                if profile is not None:
                    out = io.StringIO()
                    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
                    print(out.getvalue())
        if args.only != "handler":
            with desk_line(Path(tmp) / "wire") as line:
                line.start()
                desk = line.line
                caller = [sys.executable, __file__, "--caller", f"{desk.host}:{desk.port}"]
                caller += ["--calls", str(args.calls), "--rounds", str(args.rounds)]
                sys.stdout.flush()
                subprocess.run(caller, check=True, cwd=REPO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
