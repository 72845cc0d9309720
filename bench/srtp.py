"""What SRTP costs a call, measured against plain RTP in the same run.

1. Crypto cost per 20 ms packet: protect (our side) and unprotect (the far
   end's, as the line does for each packet it hears) of a 172-byte PCMU packet,
   per suite; baseline: building and parsing the same packet in clear
   (``RtpSender.next_audio`` + ``RtpPacket.parse``). Percentiles of single
   calls (``perf_counter_ns``), and the mean as a share of the 20 ms frame.
2. Pacing: ``--calls`` scripted callers on a real line over loopback, first
   plain RTP/AVP, then RTP/SAVP (and again, ``--rounds``); each caller's SDP
   names a socket of this script, which reads the line's packets with the
   kernel's arrival time (``SO_TIMESTAMPNS``). Reported: the gaps between one
   call's consecutive packets (p50, p99, p99.9, max, in ms; 20 is exact) and
   how many packets came.

Reports numbers only; gates on nothing.

    python bench/srtp.py [--calls 10] [--seconds 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import itertools
import os
import select
import socket
import statistics
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from ivr.config import IvrConfig, LineSettings, RecordsSettings, SipSettings
from ivr.demo.phone import SipPhone
from ivr.demo.phone_script import HangUp, Silent
from ivr.line.open_line import OpenLine
from ivr.telephony import sdp
from ivr.telephony.rtp import RtpPacket, RtpSender
from ivr.telephony.srtp import Keys, SrtpStreams

ROOT = Path(__file__).resolve().parents[1]
DESK_OPEN = datetime(2026, 3, 2, 10, 0)  # a Monday morning
FRAME_NS = 20_000_000
_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Microseconds of each of ``n`` calls."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def crypto_cost(n: int) -> None:
    print(f"1. per 20 ms packet (172-byte PCMU RTP), {n} packets each, microseconds")
    print(f"   {'what':34} {'p50':>7} {'p99':>7} {'mean':>7} {'% of 20 ms':>10} {'x plain':>8}")
    sender = RtpSender(0)
    payload = bytes(range(160))
    plain = timed(lambda: RtpPacket.parse(sender.next_audio(payload)), n)
    base = statistics.fmean(plain)
    rows: list[tuple[str, list[float]]] = [("plain: build + parse", plain)]
    for suite in sdp.SRTP_SUITES:
        protect, unprotect = suite_cost(suite, sender, payload, n)
        both = [a + b for a, b in zip(protect, unprotect, strict=True)]
        short = suite.removeprefix("AES_CM_128_HMAC_")
        rows += [(f"{short}: protect", protect), (f"{short}: unprotect", unprotect)]
        rows.append((f"{short}: protect + unprotect", both))
    for what, values in rows:
        mean = statistics.fmean(values)
        print(
            f"   {what:34} {percentile(values, 50):7.2f} {percentile(values, 99):7.2f} {mean:7.2f} "
            f"{100 * mean / 20_000:9.3f}% {mean / base:8.2f}"
        )


def suite_cost(suite: str, sender: RtpSender, payload: bytes, n: int) -> tuple[list[float], list[float]]:
    line, far = sdp.fresh_crypto(1, suite), sdp.fresh_crypto(1, suite)
    ours, theirs = SrtpStreams(Keys(line, far)), SrtpStreams(Keys(far, line))
    clear = iter([sender.next_audio(payload) for _ in range(n)])
    wire = iter([ours.protect(sender.next_audio(payload)) for _ in range(n)])
    protect = timed(lambda: ours.protect(next(clear)), n)
    unprotect = timed(lambda: theirs.unprotect(next(wire)), n)
    assert theirs.rejected == 0
    return protect, unprotect


class Receiver:
    """Sockets that stand in for the callers' RTP ports: each packet's kernel arrival time, per socket."""

    def __init__(self, count: int) -> None:
        self.socks = []
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setsockopt(socket.SOL_SOCKET, _TIMESTAMPNS, 1)
            self.socks.append(sock)
        self.arrivals: dict[int, list[int]] = {s.fileno(): [] for s in self.socks}
        self.sizes: dict[int, int] = {}
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._read, name="bench-rtp-receiver")
        self._thread.start()

    def _read(self) -> None:
        by_fd = {s.fileno(): s for s in self.socks}
        while True:
            ready, _, _ = select.select([*by_fd, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            for fd in ready:
                data, ancillary, _, _ = by_fd[fd].recvmsg(2048, socket.CMSG_SPACE(16))
                for level, kind, raw in ancillary:
                    if level == socket.SOL_SOCKET and kind == _TIMESTAMPNS:
                        seconds, nanos = struct.unpack_from("@qq", raw)
                        self.arrivals[fd].append(seconds * 1_000_000_000 + nanos)
                self.sizes[len(data)] = self.sizes.get(len(data), 0) + 1

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join()
        for sock in self.socks:
            sock.close()
        os.close(self._stop_r)
        os.close(self._stop_w)


def pacing(
    directory: Path, calls: int, seconds: float, srtp: bool, port_base: int
) -> tuple[list[float], int, dict[int, int]]:
    config = IvrConfig(
        sip=SipSettings(
            mode="direct",
            bind=f"127.0.0.1:{free_port()}",
            rtp_ports=f"{port_base}-{port_base + 4 * calls + 10}",
            grace=1,
            max_calls=calls + 5,
        ),
        line=LineSettings(flow=str(ROOT / "flows" / "desk.yaml")),
        records=RecordsSettings(path=str(directory / f"calls-{port_base}.db")),
    )
    line = OpenLine(config, ROOT, hours_clock=lambda: DESK_OPEN)
    line.start()
    phone = SipPhone(
        user="13900000009", rtp_ports=range(port_base + 500, port_base + 500 + 4 * calls), srtp=srtp
    )
    phone.start()
    receiver = Receiver(calls)
    try:
        placed = [
            phone.call(
                line.line.transport.address, (Silent(seconds + 1), HangUp()), media_at=sock.getsockname()
            )
            for sock in receiver.socks
        ]
        for call in placed:
            call.done.wait(seconds + 15)
    finally:
        phone.close()
        line.stop(grace=0.5)
        receiver.close()
    gaps: list[float] = []
    packets = 0
    for times in receiver.arrivals.values():
        packets += len(times)
        steady = times[5:]  # from just after the answer
        gaps += [(b - a) / 1e6 for a, b in itertools.pairwise(steady)]
    return gaps, packets, receiver.sizes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    crypto_cost(args.packets)
    print(f"\n2. the line's packet gaps per call, {args.calls} calls x {args.seconds:g} s, ms (20 is exact)")
    print(f"   {'round':6} {'media':6} {'packets':>8} {'p50':>7} {'p99':>7} {'p99.9':>7} {'max':>7}  sizes")
    with tempfile.TemporaryDirectory() as tmp:
        port = 47000
        for n in range(args.rounds):
            for srtp in (False, True):
                gaps, packets, sizes = pacing(Path(tmp), args.calls, args.seconds, srtp, port)
                port += 600
                print(
                    f"   {n + 1:<6} {'SRTP' if srtp else 'RTP':6} {packets:8d} {percentile(gaps, 50):7.2f} "
                    f"{percentile(gaps, 99):7.2f} {percentile(gaps, 99.9):7.2f} {max(gaps):7.2f}  "
                    f"{dict(sorted(sizes.items()))}"
                )


if __name__ == "__main__":
    main()
