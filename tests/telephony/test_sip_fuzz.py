"""10,000 mangled SIP datagrams at a desk line while a caller is on it: the caller hears no gap.

Hypothesis (derandomized, no example database: the same datagrams every run)
draws how to mangle six seed requests (INVITE, a re-INVITE, ACK, BYE,
OPTIONS, CANCEL, none of them in the caller's dialog): bytes flipped,
inserted and deleted, header lines doubled or cut short, values blown up to
60 kB. A child process (``fuzz_sender``) sends them in batches of 50 from a
peer of its own while a real call is up, and after each batch the line must
answer its OPTIONS (the line never stops answering). Meanwhile the test reads
the caller's RTP with the kernel's arrival time of each packet
(``SO_TIMESTAMPNS``), so the gaps measured are the gaps the phone saw. At the
end the caller hangs up and a new call is answered.

The seed INVITE offers G.729 only (the line answers 488) and the re-INVITE
names a dialog that does not exist (481): a mangled datagram that starts a
call is possible but rare, and its media stays on loopback.

The line runs in this process, so this process does little while the
datagrams go out: the recipes are drawn before the call, and the test's heap
is frozen (``gc.freeze``): a full collection of a heap holding pytest's and
hypothesis's objects stops every thread, the media clock's too, for 30-330 ms
(measured here), which is the test's garbage, not the line's. What the line
itself allocates is still collected as usual. The sender is a process of its
own for the same reason (see ``fuzz_sender``).
"""

from __future__ import annotations

import gc
import itertools
import json
import select
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ivr.line.open_line import OpenLine
from tests.telephony.conftest import REPO, CallerNumbers, LineMaker
from tests.telephony.harness.ports import allocate_rtp_range, release_rtp_range
from tests.telephony.key_flows import key_flow
from tests.telephony.line_probe import place_call
from tests.telephony.raw_sip import RawCaller

BATCH = 50
BATCHES = 200  # 10,000 datagrams
MAX_GAP_S = 0.060
SENDER_TIMEOUT_S = 120.0  # the sender takes 5-10 s; a bound, not an expectation
SO_TIMESTAMPNS = 35  # Linux: <asm-generic/socket.h>; the kernel's receive time on every datagram
RTP_READ_MAX = 10_000  # packets read in one drain, at most (50 a second arrive)


Recipe = tuple[int, bytes]  # which seed; what to do to it (``fuzz_sender.mangle``)

# One draw a recipe: hypothesis spends its time per draw, and 10,000 recipes of twenty draws each
# took 15 s to draw; packed into bytes they take a second or two.
RECIPES = st.tuples(st.integers(0, 5), st.binary(min_size=6, max_size=24))


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
    flow = key_flow(
        tmp_path / "hold.yaml", "fuzz_hold", silence=[("120s", "silent.goodbye", True)], goodbye_wait="1s"
    )
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
    line: OpenLine, caller: RawCaller, caller_number: CallerNumbers, tmp_path: Path
) -> None:
    target = line.line.transport.address
    recipes = tmp_path / "recipes.json"
    batches = [[[seed, program.hex()] for seed, program in batch] for batch in drawn_recipes()]
    recipes.write_text(json.dumps(batches), encoding="utf-8")
    del batches
    command = [sys.executable, "-m", "tests.telephony.fuzz_sender", target[0], str(target[1]), str(recipes)]
    caller.media.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    times: list[float] = []
    gc.collect()
    gc.freeze()  # the test's own objects (hypothesis's among them) out of the collector's way: see above
    try:
        dialog = caller.invite(target)
        caller.answered(dialog)
        caller.send(caller.in_dialog(dialog, "ACK"), target)
        started = time.monotonic()
        with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as sender:
            try:
                deadline = started + SENDER_TIMEOUT_S
                while sender.poll() is None and time.monotonic() < deadline:
                    select.select([caller.media], [], [], 0.5)  # RTP comes every 20 ms; the 0.5 s is a bound
                    arrivals(caller.media, times)
            finally:
                if sender.poll() is None:
                    sender.kill()
                report = sender.communicate(timeout=5)[0].strip()
        took = time.monotonic() - started
    finally:
        gc.unfreeze()
    arrivals(caller.media, times)
    assert sender.returncode == 0, f"sender: {report or sender.returncode}"
    assert report == f"sent {BATCH * BATCHES}", report
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= took / 0.020 * 0.9, f"the caller heard {len(times)} RTP packets in {took:.1f} s"
    assert max(gaps) <= MAX_GAP_S, f"the caller's audio paused {max(gaps) * 1000:.0f} ms"
    print(
        f"\n{BATCH * BATCHES} datagrams in {took:.1f} s; {len(times)} RTP packets, "
        f"longest gap {max(gaps) * 1000:.1f} ms; the line refused {line.line.stats.malformed} as malformed"
    )
    caller.send(caller.in_dialog(dialog, "BYE"), target)
    caller.expect(200, "BYE")
    caller.user = caller_number()
    place_call(caller, target)
