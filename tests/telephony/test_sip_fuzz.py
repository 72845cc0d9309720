"""10,000 mangled SIP datagrams at a desk line while a caller is on it: the caller hears no gap.

Hypothesis (derandomized, no example database: the same datagrams every run)
draws how to mangle six seed requests (INVITE, a re-INVITE, ACK, BYE,
OPTIONS, CANCEL, none of them in the caller's dialog): bytes flipped,
inserted and deleted, header lines doubled or cut short, values blown up to
60 kB. They are sent in batches of 50 from a peer of their own
(``line_probe.Peer``) while a real call is up. After each batch the peer's
OPTIONS must be answered (the line never stops answering), and the caller's
RTP is read with the kernel's arrival time of each packet
(``SO_TIMESTAMPNS``), so the gaps measured are the gaps the phone saw, not
when the test got round to reading them. At the end the caller hangs up and a
new call is answered.

The seed INVITE offers G.729 only (the line answers 488) and the re-INVITE
names a dialog that does not exist (481): a mangled datagram that starts a
call is possible but rare, and its media stays on loopback.

The recipes are drawn before the call and the test's heap is frozen
(``gc.freeze``) while the datagrams go out. The line runs in this process: a
full collection of a heap holding pytest's and hypothesis's objects stops
every thread, the media clock's too, for 30-330 ms (measured here), which is
the test's garbage, not the line's. What the line itself allocates is still
collected as usual.
"""

from __future__ import annotations

import gc
import itertools
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ivr.commands.serve import OpenLine
from ivr.telephony.sip_message import SipMessage, request
from tests.telephony.conftest import CallerNumbers, LineMaker
from tests.telephony.harness.ports import LOOPBACK, allocate_rtp_range, release_rtp_range
from tests.telephony.line_probe import Peer, place_call
from tests.telephony.raw_sip import RawCaller

BATCH = 50
BATCHES = 200  # 10,000 datagrams
MAX_GAP_S = 0.060
MAX_DATAGRAM = 65_000
SO_TIMESTAMPNS = 35  # Linux: <asm-generic/socket.h>; the kernel's receive time on every datagram
RTP_READ_MAX = 10_000  # packets read in one drain, at most (50 a second arrive)

HOLD_FLOW = """\
flow: fuzz_hold
description: answers at once, thanks the caller, then waits a long time for a key
locale: zh-CN
answer:
  rings: 0
line:
  silence:
    - {after: 120s, say: silent.goodbye, then: hangup}
  goodbye_wait: 1s
steps:
  start:
    say: polite.thanks
    next: menu
  menu:
    listen:
      keys:
        "0": bye
      give_up: bye
  bye:
    hangup: goodbye
"""


def seeds(peer: str, line: tuple[str, int]) -> list[bytes]:
    """Six well-formed requests from the peer, none in the caller's dialog."""
    uri = f"sip:desk@{line[0]}:{line[1]}"
    via = f"SIP/2.0/UDP {peer}:5060;branch=z9hG4bKfuzz0001;rport"
    g729 = (
        f"v=0\r\no=- 1 1 IN IP4 {LOOPBACK}\r\ns=-\r\nc=IN IP4 {LOOPBACK}\r\nt=0 0\r\n"
        "m=audio 9 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
    ).encode()
    pcmu = g729.replace(b"RTP/AVP 18", b"RTP/AVP 0").replace(b"18 G729", b"0 PCMU")

    def make(method: str, to_tag: str, call: int, cseq: int, body: bytes = b"") -> SipMessage:
        return request(
            method,
            uri,
            via=via,
            from_=f"<sip:13900000001@{peer}>;tag=fuzzfrom",
            to=f"<{uri}>;tag={to_tag}" if to_tag else f"<{uri}>",
            call_id=f"fuzz-{call}@{peer}",
            cseq=cseq,
            contact=f"<sip:fuzz@{peer}:5060>",
            body=body,
            content_type="application/sdp" if body else None,
        )

    out = [
        make("INVITE", "", 1, 1, g729),
        make("INVITE", "nodialog", 2, 2, pcmu),
        make("ACK", "nodialog", 2, 2),
        make("BYE", "nodialog", 3, 3),
        make("OPTIONS", "", 4, 4),
        make("CANCEL", "", 5, 1),
    ]
    return [m.serialize() for m in out]


Recipe = tuple[int, bytes]  # which seed; what to do to it, 6 bytes an operation (see ``mangle``)
KINDS = ("flip", "insert", "delete", "double", "cut", "huge")
HUGE = (1_000, 8_000, 30_000, 60_000)
FILLERS = b"x;,%\x00 "

# One draw a recipe: hypothesis spends its time per draw, and 10,000 recipes of twenty draws each
# took 15 s to draw; packed into bytes they take a second or two.
RECIPES = st.tuples(st.integers(0, 5), st.binary(min_size=6, max_size=24))


def mangle(seed: bytes, program: bytes) -> bytes:
    """Mangle ``seed`` by ``program``: each 6 bytes ``k a a l s t`` is one operation.

    ``k``: which of flip (byte at offset ``aa`` becomes ``t``), insert (``lst`` at ``aa``),
    delete (``s % 16 + 1`` bytes at ``aa``), double line ``l``, cut line ``l`` at ``aa``, huge
    (line ``l`` grows by 1 to 60 kB of ``t``'s filler). Offsets and lines wrap round; the result is
    cut to one datagram.
    """
    data = bytearray(seed)
    for i in range(0, len(program) - 5, 6):
        k, a1, a2, line_no, size, text = program[i : i + 6]
        kind = KINDS[k % len(KINDS)]
        at = (a1 << 8 | a2) % (len(data) + 1)
        lines = bytes(data).split(b"\r\n")
        line = line_no % len(lines)
        if kind == "flip" and at < len(data):
            data[at] = text
        elif kind == "insert":
            data[at:at] = bytes([line_no, size, text])
        elif kind == "delete":
            del data[at : at + size % 16 + 1]
        elif kind == "double":
            lines.insert(line, lines[line])
            data = bytearray(b"\r\n".join(lines))
        elif kind == "cut":
            lines[line] = lines[line][: at % (len(lines[line]) + 1)]
            data = bytearray(b"\r\n".join(lines))
        elif kind == "huge":
            lines[line] += FILLERS[text % len(FILLERS) :][:1] * HUGE[size % len(HUGE)]
            data = bytearray(b"\r\n".join(lines))
    return bytes(data[:MAX_DATAGRAM])


def drawn_recipes() -> list[list[Recipe]]:
    """BATCHES batches of BATCH recipes, the same every run (derandomized, no example database)."""
    batches: list[list[Recipe]] = []

    @settings(
        max_examples=BATCHES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(RECIPES, min_size=BATCH, max_size=BATCH))
    def collect(batch: list[Recipe]) -> None:
        batches.append(batch)

    collect()
    return batches


def arrivals(sock: socket.socket, times: list[float]) -> None:
    """Append the kernel's arrival time of every RTP packet waiting on ``sock``."""
    sock.setblocking(False)
    try:
        for _ in range(RTP_READ_MAX):
            try:
                _, ancillary, _, _ = sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except BlockingIOError:
                return
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanoseconds = struct.unpack("qq", value[:16])
                    times.append(seconds + nanoseconds / 1e9)
    finally:
        sock.setblocking(True)


@pytest.fixture
def line(tmp_path: Path, rendered_audio: Path) -> Iterator[OpenLine]:
    flow = tmp_path / "hold.yaml"
    flow.write_text(HOLD_FLOW, encoding="utf-8")
    maker = LineMaker(tmp_path)
    try:
        yield maker(flow=flow)
    finally:
        maker.close()


@pytest.fixture
def caller(caller_number: CallerNumbers) -> Iterator[RawCaller]:
    ports = allocate_rtp_range(4)
    try:
        with RawCaller(ports, user=caller_number()) as raw:
            yield raw
    finally:
        release_rtp_range(ports)


@pytest.mark.slow
def test_ten_thousand_mangled_datagrams_never_pause_a_callers_audio(
    line: OpenLine, caller: RawCaller, caller_number: CallerNumbers
) -> None:
    target = line.line.transport.address
    with Peer.open() as peer:
        requests = seeds(peer.host, target)
        batches = drawn_recipes()
        gc.collect()
        gc.freeze()  # the test's own objects (hypothesis's among them) out of the collector's way: see above
        try:
            caller.media.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            dialog = caller.invite(target)
            caller.answered(dialog)
            caller.send(caller.in_dialog(dialog, "ACK"), target)
            times: list[float] = []
            sent = 0
            started = time.monotonic()
            for batch in batches:
                for seed, program in batch:
                    peer.send(mangle(requests[seed], program), target)
                    sent += 1
                assert peer.still_answers(target), f"the line stopped answering after {sent} datagrams"
                arrivals(caller.media, times)
            took = time.monotonic() - started
        finally:
            gc.unfreeze()
    arrivals(caller.media, times)
    assert sent == BATCH * BATCHES
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= took / 0.020 * 0.9, f"the caller heard {len(times)} RTP packets in {took:.1f} s"
    assert max(gaps) <= MAX_GAP_S, f"the caller's audio paused {max(gaps) * 1000:.0f} ms"
    print(
        f"\n{sent} datagrams in {took:.1f} s; {len(times)} RTP packets, longest gap {max(gaps) * 1000:.1f} ms"
    )
    caller.send(caller.in_dialog(dialog, "BYE"), target)
    caller.expect(200, "BYE")
    caller.user = caller_number()
    place_call(caller, target)
