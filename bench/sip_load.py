"""Simultaneous calls over real SIP: our desk line against stock pyVoIP, in the same run.

    python bench/sip_load.py                       # 1, 10, 30, 60, 100 calls of 30 s
    python bench/sip_load.py --calls 1,10,30 --seconds 10
    python bench/sip_load.py --calls 60 --seconds 5 --direct   # ours called straight too

A Kamailio on loopback (tests/telephony/harness) registers both bots: ours is
``ivr serve`` in register mode (the shipped desk flow, user ``ivr``), the
baseline is ``bench/stock_pyvoip_bot.py`` (stock pyVoIP 1.6.8, user
``seat1002``, a tone for the call's length). For each number of calls, the
caller here (one thread, one SIP socket, one RTP socket per call) sends that
many INVITEs through Kamailio at once, ACKs the answers, listens for the
call's length and hangs up; first to ours, then to the baseline. The caller
sends no audio of its own: the bots hear silence (ours: a silent caller, whose
first nudge comes after 10 s of silence past the greeting).

When sipp is installed (Debian's sip-tester), each level also measures the registrar's own floor: the
same burst through the same Kamailio to sipp answering as ``seat1001`` (180 at once, C++), so
INVITE→180 reads "registrar floor X ms, ours Y ms, stock Z ms". ``--registrar-log quiet`` runs
Kamailio with warnings only instead of the test harness's line per request.

With ``--direct`` ours is also called straight, the registrar out of the way: through
Kamailio a burst's 180s wait in the registrar's one socket behind the INVITEs it has
not relayed yet, so INVITE→180 there measures the registrar as much as the bot. With sipp
installed, sipp is then called straight the same way: the floor of a straight burst on this
machine (the caller, the kernel, a UAS in C++).

Measured per bot and number of calls:

- INVITE→180 and INVITE→200 at the caller (p50/p95/p99 over calls): all INVITEs are built first and
  sent back to back, each reply timed by the kernel as it reaches the caller's socket (SO_TIMESTAMPNS,
  wall clock, as the sending is); "180 as read" is when this one-thread caller got round to reading
  it, which includes the caller's own lag;
- the bot's outbound RTP, timed by the kernel as each packet reaches the caller's
  socket (SO_TIMESTAMPNS): interval mean, p99 and maximum of |interval − 20 ms|,
  and packets per second per call;
- the bot process's CPU seconds (utime + stime, /proc) per call-minute, and its
  peak thread count (/proc, sampled every 0.25 s).

Then the ratio ours/stock for each. Numbers depend on the machine and on what
else runs; this is a benchmark, not a test, and nothing here gates anything.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stock_bot import StockBot  # noqa: E402  (bench/stock_bot.py: this script's folder is on sys.path)

from ivr.telephony import sdp  # noqa: E402
from ivr.telephony.sip_message import (  # noqa: E402
    SipMessage,
    SipParseError,
    new_branch,
    new_call_id,
    new_tag,
    parse,
    parse_name_addr,
    request,
    response,
)
from tests.telephony.harness.kamailio import Kamailio, KamailioSettings  # noqa: E402
from tests.telephony.harness.ports import LOOPBACK, PortRange, free_udp_port  # noqa: E402
from tests.telephony.harness.sipp import SippProcess, run_sipp, sipp_available, start_sipp  # noqa: E402

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux: SO_TIMESTAMPNS_OLD
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TIMESPEC = struct.Struct("@qq")
OURS_USER = "ivr"
STOCK_USER = "seat1002"
FLOOR_USER = "seat1001"
FLOOR_CALLS = 100_000  # sipp stops after this many calls: never, in one run of this bench
ANSWER_WAIT_S = 10.0  # a call not answered by then is counted as not answered


# --- the bots, as child processes -------------------------------------------------------------


class Bot:
    name: str
    user: str

    @property
    def pid(self) -> int:
        raise NotImplementedError


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def proc_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


class OurBot(Bot):
    """``ivr serve`` in register mode at the registrar, until SIGTERM."""

    name = "ours"
    user = OURS_USER

    def __init__(self, registrar: Kamailio, directory: Path, rtp: str) -> None:
        self.registrar = registrar
        self.address = (LOOPBACK, free_udp_port())
        config = directory / "ivr.toml"
        config.write_text(
            "[sip]\n"
            'mode = "register"\n'
            f'bind = "{LOOPBACK}:{self.address[1]}"\n'
            f'server = "{registrar.host}:{registrar.port}"\n'
            f'username = "{OURS_USER}"\n'
            f'password = "{registrar.users[OURS_USER]}"\n'
            f'rtp_ports = "{rtp}"\n'
            "max_calls = 200\n"
            "grace = 2\n"
            f'[records]\npath = "{directory / "calls.db"}"\n',
            encoding="utf-8",
        )
        self._log = open(directory / "ivr-serve.log", "wb")  # noqa: SIM115 (closed in stop)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "serve", "--config", str(config)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait_registered(self, timeout: float = 15.0) -> None:
        """Until an OPTIONS to sip:ivr@registrar is answered 200 (the line answers OPTIONS itself)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"ivr serve exited with {self._process.returncode}")
            if options_status(self.registrar, OURS_USER) == 200:
                return
            time.sleep(0.2)
        raise RuntimeError("ivr serve did not register in time")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._log.close()


class StockBaseline(Bot):
    name = "stock"
    user = STOCK_USER

    def __init__(self, bot: StockBot) -> None:
        self.bot = bot

    @property
    def pid(self) -> int:
        process = self.bot._process
        assert process is not None
        return process.pid


class RegistrarFloor(Bot):
    """What the registrar alone costs: sipp (C++) as the called phone, registered as ``seat1001``
    (``tests/telephony/sipp/uas_answer.xml``): 180 the moment an INVITE arrives, 200 after ``answer_ms``,
    no RTP. Its INVITE→180 is the registrar's relaying of the burst both ways and little else. sipp runs
    only while its own calls are measured (``answering``): idle, it still wakes every millisecond."""

    name = "floor"
    user = FLOOR_USER

    def __init__(self, registrar: Kamailio, answer_ms: int) -> None:
        self.registrar = registrar
        self.answer_ms = answer_ms
        self.port = free_udp_port()
        registered = run_sipp(
            "uac_register_auth",
            registrar.address,
            from_user=FLOOR_USER,
            password=registrar.users[FLOOR_USER],
            local_port=self.port,
            expires=3600,
            timeout_s=5,
        )
        if not registered.ok:
            raise RuntimeError(f"sipp did not register as {FLOOR_USER}: {registered.report()}")
        self._sipp: SippProcess | None = None

    @property
    def pid(self) -> int:
        assert self._sipp is not None, "sipp answers only inside answering()"
        return self._sipp.pid

    @contextlib.contextmanager
    def answering(self) -> Iterator[RegistrarFloor]:
        """sipp answering at the registered port, stopped on the way out."""
        self._sipp = start_sipp(
            "uas_answer",
            self.registrar.address,
            from_user=FLOOR_USER,
            local_port=self.port,
            calls=FLOOR_CALLS,
            pause_ms=self.answer_ms,
            timeout_s=3600,
            trace_messages=False,  # a message log per call would slow the floor itself
        )
        try:
            wait_bound(self.port)  # an INVITE before sipp has its socket would wait for a retransmission
            time.sleep(1.0)  # and its first calls would meet it still starting up
            yield self
        finally:
            self._sipp.stop()
            self._sipp = None


def wait_bound(port: int, timeout: float = 5.0) -> None:
    """Until a process has bound UDP ``port`` on loopback (binding it ourselves fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing bound UDP port {port} within {timeout:g} s")


def options_status(registrar: Kamailio, user: str, timeout: float = 0.5) -> int | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
        uri = registrar.aor(user)
        msg = request(
            "OPTIONS",
            uri,
            via=f"SIP/2.0/UDP {LOOPBACK}:{port};branch={new_branch()};rport",
            from_=f"<sip:probe@{LOOPBACK}>;tag={new_tag()}",
            to=f"<{uri}>",
            call_id=new_call_id(LOOPBACK),
            cseq=1,
        )
        sock.settimeout(timeout)
        sock.sendto(msg.serialize(), registrar.address)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                reply = parse(sock.recv(65535))
            except (TimeoutError, SipParseError):
                return None
            if reply.status >= 200:
                return reply.status
    return None


# --- the caller --------------------------------------------------------------------------------


class DirectLine:
    """What ``Caller`` needs of a registrar (``address``, ``aor``), for calling a line straight."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address

    def aor(self, user: str) -> str:
        return f"sip:{user}@{self.address[0]}:{self.address[1]}"


def _kernel_time(ancillary: list[tuple[int, int, bytes]], default: float) -> float:
    """The wall-clock time SO_TIMESTAMPNS says the kernel received a datagram (``default`` if none)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            sec, nsec = TIMESPEC.unpack_from(data)
            return float(sec + nsec / 1e9)
    return default


@dataclass
class Call:
    call_id: str
    tag: str
    uri: str
    rtp: socket.socket
    invite: SipMessage
    sent: float
    ringing: float | None = None  # when the kernel received the 180
    ringing_read: float | None = None  # when this one-thread caller got round to reading it
    answered: float | None = None
    to_tag: str | None = None
    remote_target: str = ""
    routes: list[str] = field(default_factory=list)
    cseq: int = 1
    bye_sent: float | None = None
    ended_by_bot: bool = False
    arrivals: list[float] = field(default_factory=list)  # kernel receive times of the bot's RTP


@dataclass
class LevelResult:
    bot: str
    calls: int
    answered: int
    ring_ms: list[float]
    ring_read_ms: list[float]
    answer_ms: list[float]
    intervals_ms: np.ndarray
    packets_per_s: float
    cpu_per_call_minute: float
    threads: int


class SipTarget(Protocol):
    """Where the caller sends its INVITEs: a registrar, Kamailio's dispatcher, or a line itself."""

    @property
    def address(self) -> tuple[str, int]: ...

    def aor(self, user: str) -> str: ...


class Caller:
    """N simultaneous calls through the registrar, on one thread (a selector over every socket)."""

    def __init__(self, registrar: SipTarget) -> None:
        self.registrar = registrar
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((LOOPBACK, 0))
        self.sip.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sip.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.last_read = 0.0  # wall time of the last SIP read (the loop's own view of arrivals)
        self.port = self.sip.getsockname()[1]
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sip, selectors.EVENT_READ, None)
        self.calls: dict[str, Call] = {}

    def close(self) -> None:
        for call in self.calls.values():
            self._close_rtp(call)
        self.selector.close()
        self.sip.close()

    def _close_rtp(self, call: Call) -> None:
        if call.rtp.fileno() >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(call.rtp)
            call.rtp.close()

    def _via(self) -> str:
        return f"SIP/2.0/UDP {LOOPBACK}:{self.port};branch={new_branch()};rport"

    def prepare(self, user: str, number: int) -> Call:
        """A call's INVITE built and its RTP socket bound, not yet sent (``send_invites`` sends them all)."""
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((LOOPBACK, 0))
        rtp.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        uri = self.registrar.aor(user)
        call_id, tag = new_call_id(LOOPBACK), new_tag()
        invite = request(
            "INVITE",
            uri,
            via=self._via(),
            from_=f"<sip:1390000{number:04d}@{LOOPBACK}>;tag={tag}",
            to=f"<{uri}>",
            call_id=call_id,
            cseq=1,
            contact=f"<sip:caller@{LOOPBACK}:{self.port}>",
            body=sdp.offer(LOOPBACK, rtp.getsockname()[1], session_id=number + 1, codecs=("PCMU",)),
            content_type="application/sdp",
        )
        call = Call(call_id, tag, uri, rtp, invite, 0.0)
        self.calls[call_id] = call
        self.selector.register(rtp, selectors.EVENT_READ, call)
        return call

    def place(self, user: str, number: int) -> Call:
        """One call built and sent now (a caller at a rate, not a burst)."""
        call = self.prepare(user, number)
        call.rtp.setblocking(False)
        self.send_invites([call])
        return call

    def send_invites(self, calls: list[Call]) -> None:
        """Every INVITE at once, back to back: each timed by the wall clock the kernel stamps replies with."""
        wires = [call.invite.serialize() for call in calls]
        for call, wire in zip(calls, wires, strict=True):
            call.sent = time.time()
            self.sip.sendto(wire, self.registrar.address)

    def _in_dialog(self, call: Call, method: str) -> bytes:
        if method != "ACK":
            call.cseq += 1
        return request(
            method,
            call.remote_target or call.uri,
            via=self._via(),
            from_=call.invite.header("From") or "",
            to=f"<{call.uri}>;tag={call.to_tag}",
            call_id=call.call_id,
            cseq=call.cseq,
            headers=[("Route", r) for r in call.routes],
        ).serialize()

    def _invite_transaction(self, call: Call, method: str, to: str) -> bytes:
        """A CANCEL of the call's INVITE, or the ACK of a refusal: the INVITE's own Via and CSeq."""
        return request(
            method,
            call.uri,
            via=call.invite.header("Via") or self._via(),
            from_=call.invite.header("From") or "",
            to=to,
            call_id=call.call_id,
            cseq=1,
        ).serialize()

    def _on_sip(self, data: bytes, source: tuple[str, int], now: float) -> None:
        try:
            msg = parse(data)
        except SipParseError:
            return
        call = self.calls.get(msg.call_id)
        if msg.is_request:
            if msg.method != "ACK":
                reply = response(msg, 200, "OK", source=source)
                self.sip.sendto(reply.serialize(), msg.top_via.response_address(source))
            if call is not None and msg.method == "BYE" and call.bye_sent is None:
                call.ended_by_bot = True
                call.bye_sent = now
            return
        if call is None or msg.cseq[1] != "INVITE":
            return
        if msg.status in (180, 183) and call.ringing is None:
            call.ringing = now
            call.ringing_read = self.last_read
        elif 200 <= msg.status < 300:
            if call.to_tag is None:
                call.to_tag = msg.to_tag
                contact = msg.header("Contact")
                call.remote_target = parse_name_addr(contact)[1] if contact else call.uri
                call.routes = list(reversed([v.strip() for v in msg.all("Record-Route")]))
                if call.bye_sent is not None:  # answered after the caller gave up: not counted, hung up
                    self.sip.sendto(self._in_dialog(call, "ACK"), self.registrar.address)
                    self.sip.sendto(self._in_dialog(call, "BYE"), self.registrar.address)
                    return
                call.answered = now
                offer = sdp.parse_offer(msg.body)
                call.rtp.connect((offer.address, offer.port))
            self.sip.sendto(self._in_dialog(call, "ACK"), self.registrar.address)  # every 200: ACK again
        elif msg.status >= 300:  # refused (486 busy, 487 after our CANCEL, ...): ACK it, it is over
            call.bye_sent = call.bye_sent or now
            self.sip.sendto(
                self._invite_transaction(call, "ACK", msg.header("To") or ""), self.registrar.address
            )

    def _read_sip(self) -> tuple[bytes, tuple[str, int], float]:
        """One datagram from the SIP socket, with the wall-clock time the kernel received it."""
        data, ancillary, _, source = self.sip.recvmsg(65535, socket.CMSG_SPACE(TIMESPEC.size))
        self.last_read = time.time()
        return data, source, _kernel_time(ancillary, self.last_read)

    def _on_rtp(self, call: Call) -> None:
        for _ in range(64):
            try:
                _, ancillary, _, _ = call.rtp.recvmsg(2048, socket.CMSG_SPACE(TIMESPEC.size))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            call.arrivals.append(_kernel_time(ancillary, time.time()))

    def run(self, user: str, count: int, seconds: float, bot_pid: int) -> tuple[float, int]:
        """Place ``count`` calls, hold each ``seconds`` after its answer, hang up; CPU seconds and peak threads."""
        self.calls.clear()
        cpu_before = proc_cpu_seconds(bot_pid)
        threads = proc_threads(bot_pid)
        placed = [self.prepare(user, n) for n in range(count)]
        for call in placed:
            call.rtp.setblocking(False)
        self.sip.setblocking(False)
        self.send_invites(placed)
        next_sample = time.time()
        while True:
            now = time.time()
            if now >= next_sample:
                threads = max(threads, proc_threads(bot_pid))
                next_sample = now + 0.25
            if not self.hang_up_due(now, seconds):
                break
            self.pump(0.05)
        self.finish()
        threads = max(threads, proc_threads(bot_pid))
        cpu = proc_cpu_seconds(bot_pid) - cpu_before
        return cpu, threads

    def hang_up_due(self, now: float, seconds: float) -> bool:
        """BYE to each call answered ``seconds`` ago, give up on one unanswered too long; any left?"""
        pending = False
        for call in self.calls.values():
            if call.bye_sent is not None:
                continue
            if call.answered is None and now - call.sent > ANSWER_WAIT_S:
                call.bye_sent = now  # never answered: given up, and the ringing stopped
                self.sip.sendto(
                    self._invite_transaction(call, "CANCEL", f"<{call.uri}>"), self.registrar.address
                )
            elif call.answered is not None and now - call.answered >= seconds:
                call.bye_sent = now
                self.sip.sendto(self._in_dialog(call, "BYE"), self.registrar.address)
            else:
                pending = True
        return pending

    def pump(self, timeout: float) -> None:
        """Read what arrived within ``timeout`` s: SIP answers and requests, the bots' RTP."""
        for key, _ in self.selector.select(timeout=timeout):
            if key.data is None:
                for _ in range(256):
                    try:
                        data, source, at = self._read_sip()
                    except (BlockingIOError, InterruptedError):
                        break
                    self._on_sip(data, source, at)
            else:
                self._on_rtp(key.data)

    def finish(self) -> None:
        """Let BYE answers and the last packets in flight arrive, then close every call's RTP."""
        end = time.time() + 1.0
        while time.time() < end:
            for key, _ in self.selector.select(timeout=0.05):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        data, source, at = self._read_sip()
                        self._on_sip(data, source, at)
                else:  # RTP after the BYE is not part of the call
                    with contextlib.suppress(OSError):
                        while True:
                            key.data.rtp.recv(2048)
        for call in self.calls.values():
            self._close_rtp(call)


def measure(caller: Caller, bot: Bot, count: int, seconds: float) -> LevelResult:
    cpu, threads = caller.run(bot.user, count, seconds, bot.pid)
    calls = list(caller.calls.values())
    answered = [c for c in calls if c.answered is not None]
    intervals: list[float] = []
    rates: list[float] = []
    for call in answered:
        times = np.sort(np.asarray(call.arrivals))
        if len(times) > 1:
            intervals += list(np.diff(times) * 1000)
            rates.append((len(times) - 1) / (times[-1] - times[0]))
    call_minutes = max(1e-9, sum(seconds for _ in answered) / 60)
    return LevelResult(
        bot=bot.name,
        calls=count,
        answered=len(answered),
        ring_ms=[(c.ringing - c.sent) * 1000 for c in calls if c.ringing is not None],
        ring_read_ms=[(c.ringing_read - c.sent) * 1000 for c in calls if c.ringing_read is not None],
        answer_ms=[(c.answered - c.sent) * 1000 for c in answered if c.answered is not None],
        intervals_ms=np.asarray(intervals),
        packets_per_s=float(np.mean(rates)) if rates else 0.0,
        cpu_per_call_minute=cpu / call_minutes,
        threads=threads,
    )


# --- the table ---------------------------------------------------------------------------------


def pct(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def rows(r: LevelResult) -> dict[str, float]:
    dev = np.abs(r.intervals_ms - 20.0) if len(r.intervals_ms) else np.asarray([np.nan])
    return {
        "answered": float(r.answered),
        "INVITE→180 p50 ms": pct(r.ring_ms, 50),
        "INVITE→180 p95 ms": pct(r.ring_ms, 95),
        "INVITE→180 p99 ms": pct(r.ring_ms, 99),
        "180 as read p99 ms": pct(r.ring_read_ms, 99),
        "INVITE→200 p50 ms": pct(r.answer_ms, 50),
        "INVITE→200 p99 ms": pct(r.answer_ms, 99),
        "RTP interval mean ms": float(np.mean(r.intervals_ms)) if len(r.intervals_ms) else float("nan"),
        "RTP |dev 20 ms| p99 ms": pct(dev, 99),
        "RTP |dev 20 ms| max ms": float(np.max(dev)),
        "packets/s per call": r.packets_per_s,
        "CPU s per call-minute": r.cpu_per_call_minute,
        "threads (peak)": float(r.threads),
    }


def print_level(count: int, seconds: float, ours: LevelResult, stock: LevelResult) -> None:
    a, b = rows(ours), rows(stock)
    print(f"\n{count} simultaneous call{'s' if count > 1 else ''} of {seconds:g} s")
    print(f"  {'':24} {'ours':>10} {'stock':>10} {'ours/stock':>11}")
    for name in a:
        ratio = a[name] / b[name] if b[name] not in (0.0,) and np.isfinite(b[name]) else float("nan")
        print(f"  {name:24} {a[name]:10.2f} {b[name]:10.2f} {ratio:11.2f}")
    sys.stdout.flush()


def print_rows(title: str, result: LevelResult, prefixes: tuple[str, ...] = ("INVITE→180",)) -> None:
    """One extra measurement of a level: ``title``, then its rows that start with ``prefixes``."""
    print(f"  {title}:")
    for name, value in rows(result).items():
        if name.startswith(prefixes):
            print(f"  {name:24} {value:10.2f}")


@contextlib.contextmanager
def bots(
    registrar: Kamailio, directory: Path, stock_seconds: float
) -> Iterator[tuple[OurBot, StockBaseline]]:
    ours = OurBot(registrar, directory, "26000-26499")
    try:
        ours.wait_registered()
        with StockBot(
            registrar, user=STOCK_USER, seconds=stock_seconds, rtp=PortRange(27000, 27999)
        ) as stock:
            yield ours, StockBaseline(stock)
    finally:
        ours.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--calls", default="1,10,30,60,100", help="numbers of simultaneous calls")
    parser.add_argument("--seconds", type=float, default=30.0, help="each call's length after the answer")
    parser.add_argument(
        "--direct",
        action="store_true",
        help="also call ours straight, without the registrar (stock pyVoIP cannot be: it answers its server)",
    )
    parser.add_argument(
        "--registrar-log",
        choices=("info", "quiet"),
        default="info",
        help="Kamailio's log: info (the harness's default, a line per request) or quiet (warnings only)",
    )
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.calls.split(",") if n.strip()]
    print(
        f"SIP load: {', '.join(map(str, levels))} simultaneous calls of {args.seconds:g} s through Kamailio; "
        f"ours = ivr serve (desk flow, answers after 1 ring = 1 s), stock = pyVoIP 1.6.8; "
        f"{os.cpu_count()} CPUs"
    )
    quiet = args.registrar_log == "quiet"
    settings = KamailioSettings(debug=0, log_requests=False) if quiet else KamailioSettings()
    print(
        f"registrar log: {'warnings only' if quiet else 'info, a line per request'}; "
        f"registrar floor: {'sipp as the called phone' if sipp_available() else 'none (sipp is not installed)'}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="ivr-sip-load-") as tmp,
        Kamailio(settings=settings) as registrar,
        bots(registrar, Path(tmp), args.seconds + 15) as (ours, stock),
    ):
        caller = Caller(registrar)
        straight = Caller(DirectLine(ours.address)) if args.direct else None
        floor = RegistrarFloor(registrar, answer_ms=1000) if sipp_available() else None
        # the same straight burst to sipp: what the caller, the kernel and a C++ UAS cost on this machine
        straight_floor = Caller(DirectLine((LOOPBACK, floor.port))) if args.direct and floor else None
        try:
            for count in levels:
                mine = measure(caller, ours, count, args.seconds)
                time.sleep(1.0)
                theirs = measure(caller, stock, count, args.seconds)
                print_level(count, args.seconds, mine, theirs)
                time.sleep(1.0)
                if floor is not None:
                    with floor.answering():
                        least = measure(caller, floor, count, args.seconds)
                    print_rows("registrar floor (sipp answering through the same Kamailio)", least)
                    time.sleep(1.0)
                if straight is not None:
                    alone = measure(straight, ours, count, args.seconds)
                    print_rows("ours called straight (no registrar in the way)", alone, ("INVITE→180", "RTP"))
                    time.sleep(1.0)
                if straight_floor is not None and floor is not None:
                    with floor.answering():
                        least = measure(straight_floor, floor, count, args.seconds)
                    print_rows(
                        "sipp called straight (this machine's floor for a burst answered in C++)", least
                    )
                    time.sleep(1.0)
        finally:
            caller.close()
            if straight is not None:
                straight.close()
            if straight_floor is not None:
                straight_floor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
