"""Calls per second and simultaneous calls: 1, 2 and 3 ``ivr serve`` nodes behind Kamailio's
dispatcher sharing one PostgreSQL register, and one node on SQLite dialed directly (the baseline),
in one run on this machine.

    python bench/cluster_load.py                              # rates 5,10,20,40/s; 10,30,60,90 at once
    python bench/cluster_load.py --rates 5,10 --calls 10,30 --hold 4 --setups direct,kamailio-3

Setups, each started afresh and stopped before the next:

- ``direct``: one node, the callers dial it (no proxy), its register an SQLite file: the baseline;
- ``kamailio-N``: Kamailio running the shipped ``deploy/kamailio/kamailio.cfg`` in front of N
  nodes (the dispatcher's round robin), all N sharing one PostgreSQL register (``[records] url``):
  a throwaway server started for the run (``tests/postgres_cluster.py``) with its durability as
  shipped (fsync on), emptied before each setup;
- ``kamailio-N-sqlite``: the same with each node's own SQLite register, to tell the proxy's cost
  from the shared store's (``kamailio-1`` against ``kamailio-1-sqlite``).

After each setup the register is counted: every answered call must be there once (a call the
bench hung up is a finished call), so a store that falls behind shows as calls missing.

Each node is ``ivr serve`` with the shipped desk flow (answers after one ring, 1 s). The caller
(``bench/sip_load.py``'s: one thread, one SIP socket, one RTP socket per call) sends no audio.

- **rate**: calls offered at R per second for ``--offer`` s, each held ``--hold`` s after its
  answer: answered %, INVITE→200 p50 and p99 (what a caller waits, one ring included);
- **simultaneous**: N calls at once, held ``--hold`` s: answered %, INVITE→200 p50/p99, the
  bots' RTP at the caller (|interval − 20 ms| p99: the media clock keeping time), the nodes' CPU
  seconds per call-minute.

Offered R calls per second, a node holds about R x (1 s ring + hold) calls at once: past its
``max_calls`` it answers 486 and Kamailio tries the next node, so the rate knee of few nodes may be
that cap rather than the CPUs (``--max-calls`` raises it).

A level is past the knee when a call goes unanswered, or its p99 INVITE→200 is more than twice
the setup's own at the lowest level, or (simultaneous) the RTP p99 deviation passes 10 ms. The
ratios are each setup's figure over the direct baseline's at the same level. On a small machine
the caller and Kamailio share the CPUs with the nodes, so the knee comes early and more nodes
cannot help past the CPUs there are: the figures say where this machine gives out, not the
design. A benchmark, not a test: nothing here gates anything.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sip_load import Caller, SipTarget, pct, proc_cpu_seconds  # noqa: E402  (this folder is on sys.path)

from ivr.records.register import CallRegister  # noqa: E402
from tests.conftest import REPO as TEST_REPO  # noqa: E402
from tests.postgres_cluster import PostgresCluster  # noqa: E402
from tests.telephony.harness.dispatcher import DispatcherSettings, KamailioDispatcher  # noqa: E402
from tests.telephony.harness.ports import PortRange, RtpPortAllocator  # noqa: E402
from tests.telephony.harness.serve_node import ServeNode  # noqa: E402

USER = "desk"
RTP_PORTS = RtpPortAllocator(block=1000)  # a node's range: RTP and RTCP of 500 calls
RTP_DEV_KNEE_MS = 10.0
ANSWER_KNEE_RATIO = 2.0


@dataclass(frozen=True, slots=True)
class DirectLine:
    """One node dialed straight, as a caller would without the proxy."""

    host: str
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def aor(self, user: str) -> str:
        return f"sip:{user}@{self.host}:{self.port}"


@dataclass
class Setup:
    name: str
    target: SipTarget
    nodes: list[ServeNode]
    registers: list[str]  # what the nodes write: one URL shared, or a file each

    def cpu_seconds(self) -> float:
        return sum(proc_cpu_seconds(node.pid) for node in self.nodes)

    def calls_recorded(self) -> int:
        total = 0
        for where in self.registers:
            with CallRegister(where, create=False) as register:
                total += len(register.list_calls(limit=None))
        return total


def shares_postgres(name: str) -> bool:
    return name.startswith("kamailio-") and not name.endswith("-sqlite")


def node_count(name: str) -> int:
    return 1 if name == "direct" else int(name.removeprefix("kamailio-").removesuffix("-sqlite"))


@contextlib.contextmanager
def started(
    name: str, directory: Path, max_calls: int, hold_s: float, postgres: str | None
) -> Iterator[Setup]:
    """``direct``, ``kamailio-N`` (``postgres``: the shared register's URL) or ``kamailio-N-sqlite``:
    the nodes (and Kamailio) started, all stopped on the way out."""
    count = node_count(name)
    ranges: list[PortRange] = []
    nodes: list[ServeNode] = []
    proxy: KamailioDispatcher | None = None
    registers = [postgres] if postgres is not None else []
    try:
        for n in range(1, count + 1):
            ranges.append(RTP_PORTS.allocate())
            if postgres is not None:
                records = f'url = "{postgres}"'
            else:
                registers.append(str(directory / f"{name}-node{n}.db"))
                records = f'path = "{registers[-1]}"'
            nodes.append(
                ServeNode(
                    f"{name}-node{n}",
                    directory,
                    records,
                    ranges[-1],
                    grace=2,
                    max_calls=max_calls,
                    # the caller sends no audio: a call whose BYE was lost in a burst ends at the media
                    # timeout soon after its hold, instead of loading the node through the next level
                    media_timeout=hold_s + 4,
                )
            )
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_ready()
        target: SipTarget
        if name == "direct":
            target = DirectLine(*nodes[0].address)
        else:
            proxy = KamailioDispatcher([n.address for n in nodes], settings=DispatcherSettings(children=4))
            proxy.start()
            target = proxy
        yield Setup(name, target, nodes, registers)
    finally:
        if proxy is not None:
            proxy.close()
        for node in nodes:
            node.stop()
        for ports in ranges:
            RTP_PORTS.release(ports)


def settle(setup: Setup, limit_s: float = 30.0) -> None:
    """Until the nodes are idle again (under a fifth of a CPU over half a second), at most ``limit_s``:
    a level starts on quiet nodes, not on the last level's leftovers."""
    for _ in range(int(limit_s / 0.5)):
        before = setup.cpu_seconds()
        time.sleep(0.5)  # the window measured
        if setup.cpu_seconds() - before < 0.1:
            return
    print(f"  {setup.name}: nodes still busy after {limit_s:g} s; measuring anyway", flush=True)


@dataclass(frozen=True, slots=True)
class Level:
    """One measured level of one setup."""

    setup: str
    kind: str  # "rate" (calls per second offered) or "calls" (simultaneous)
    level: float
    offered: int
    answered: int
    answer_p50_ms: float
    answer_p99_ms: float
    rtp_dev_p99_ms: float = float("nan")
    cpu_per_call_minute: float = float("nan")

    @property
    def answered_share(self) -> float:
        return self.answered / self.offered if self.offered else float("nan")


def answer_times(caller: Caller) -> tuple[int, list[float]]:
    answered = [c for c in caller.calls.values() if c.answered is not None]
    return len(answered), [(c.answered - c.sent) * 1000 for c in answered if c.answered is not None]


def at_rate(caller: Caller, setup: Setup, rate: float, offer_s: float, hold_s: float) -> Level:
    """Calls offered at ``rate`` per second for ``offer_s`` seconds, each held ``hold_s``."""
    caller.calls.clear()
    caller.sip.setblocking(False)
    total = max(1, round(rate * offer_s))
    start = time.time()  # the caller times replies by the kernel's wall-clock stamps
    placed = 0
    while True:
        now = time.time()
        while placed < total and start + placed / rate <= now:
            call = caller.place(USER, placed)
            caller.selector.unregister(call.rtp)  # the rate run counts answers, not audio
            placed += 1
        pending = caller.hang_up_due(now, hold_s)
        if placed == total and not pending:
            break
        next_call = start + placed / rate if placed < total else now + 0.05
        caller.pump(max(0.0, min(0.05, next_call - time.time())))
    caller.finish()
    answered, waits = answer_times(caller)
    return Level(setup.name, "rate", rate, total, answered, pct(waits, 50), pct(waits, 99))


def simultaneous(caller: Caller, setup: Setup, count: int, hold_s: float) -> Level:
    """``count`` calls at once, each held ``hold_s`` after its answer."""
    before = setup.cpu_seconds()
    caller.run(USER, count, hold_s, setup.nodes[0].pid)
    cpu = setup.cpu_seconds() - before
    answered, waits = answer_times(caller)
    deviations: list[float] = []
    for call in caller.calls.values():
        if call.answered is not None and len(call.arrivals) > 1:
            deviations += list(np.abs(np.diff(np.sort(np.asarray(call.arrivals))) * 1000 - 20.0))
    call_minutes = max(1e-9, answered * hold_s / 60)
    return Level(
        setup.name,
        "calls",
        count,
        count,
        answered,
        pct(waits, 50),
        pct(waits, 99),
        pct(deviations, 99),
        cpu / call_minutes,
    )


def past_knee(level: Level, first: Level) -> bool:
    if level.answered < level.offered:
        return True
    if level.answer_p99_ms > ANSWER_KNEE_RATIO * first.answer_p99_ms:
        return True
    return level.kind == "calls" and level.rtp_dev_p99_ms > RTP_DEV_KNEE_MS


def held(levels: list[Level]) -> float:
    """The highest level before the knee (0 if the first is past it already)."""
    best = 0.0
    for level in levels:
        if past_knee(level, levels[0]):
            break
        best = level.level
    return best


def closing_note(by_rate: dict[str, list[Level]], by_calls: dict[str, list[Level]]) -> None:
    print("\n== before the knee, and against one node on SQLite dialed directly (the baseline)")
    base_rate, base_calls = held(by_rate.get("direct", [])), held(by_calls.get("direct", []))
    for name in by_rate:
        rate, calls = held(by_rate[name]), held(by_calls[name])
        print(
            f"  {name:12} {rate:5g} calls/s ({ratio(rate, base_rate):.2f}x direct), "
            f"{calls:4g} at once ({ratio(calls, base_calls):.2f}x direct)"
        )
    print("  (a level not measured past is not a knee: raise --rates / --calls to find it)")


def knee_note(levels: list[Level]) -> str:
    """The last level before the knee, and the first past it."""
    if not levels:
        return "nothing measured"
    unit = "/s" if levels[0].kind == "rate" else " at once"
    for before, level in zip([None, *levels], levels, strict=False):
        if past_knee(level, levels[0]):
            held = f"holds up to {before.level:g}{unit}, " if before is not None else ""
            return f"{held}gives out at {level.level:g}{unit}"
    return f"holds at every level (up to {levels[-1].level:g}{unit})"


def ratio(a: float, b: float) -> float:
    return a / b if b and np.isfinite(a) and np.isfinite(b) else float("nan")


def print_table(kind: str, results: dict[str, list[Level]]) -> None:
    title = "calls per second offered" if kind == "rate" else "simultaneous calls"
    print(f"\n== {title}")
    head = f"  {'setup':12} {'level':>6} {'answered':>9} {'200 p50 ms':>11} {'200 p99 ms':>11}"
    if kind == "calls":
        head += f" {'RTP dev p99 ms':>15} {'node CPU s/call-min':>20}"
    head += f" {'p99 / direct':>13}"
    print(head)
    baseline = {level.level: level for level in results.get("direct", [])}
    for name, levels in results.items():
        for level in levels:
            row = (
                f"  {name:12} {level.level:6g} {level.answered:4d}/{level.offered:<4d}"
                f" {level.answer_p50_ms:11.0f} {level.answer_p99_ms:11.0f}"
            )
            if kind == "calls":
                row += f" {level.rtp_dev_p99_ms:15.2f} {level.cpu_per_call_minute:20.2f}"
            base = baseline.get(level.level)
            row += f" {ratio(level.answer_p99_ms, base.answer_p99_ms) if base else float('nan'):13.2f}"
            print(row)
    print("  knee:")
    for name, levels in results.items():
        print(f"    {name:12} {knee_note(levels)}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--setups", default="direct,kamailio-1,kamailio-2,kamailio-3")
    parser.add_argument("--rates", default="5,10,20,40", help="calls per second offered")
    parser.add_argument("--calls", default="10,30,60,90", help="numbers of simultaneous calls")
    parser.add_argument("--offer", type=float, default=6.0, help="seconds each rate is offered")
    parser.add_argument("--hold", type=float, default=4.0, help="each call's length after its answer")
    parser.add_argument(
        "--max-calls",
        type=int,
        default=100,
        help="each node's [sip] max_calls (the shipped node configs': 100)",
    )
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.setups.split(",") if s.strip()]
    for name in names:
        count = name.removeprefix("kamailio-").removesuffix("-sqlite")
        if name != "direct" and not (name.startswith("kamailio-") and count.isdigit() and int(count) > 0):
            parser.error(f"unknown setup {name!r}: direct, kamailio-N or kamailio-N-sqlite")
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    counts = [int(n) for n in args.calls.split(",") if n.strip()]
    print(
        f"cluster load: setups {', '.join(names)}; rates {args.rates}/s for {args.offer:g} s; "
        f"{args.calls} calls at once; each call held {args.hold:g} s after its answer (1 ring, 1 s); "
        f"max_calls {args.max_calls} a node (past it: 486, and Kamailio tries the next node); "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start"
    )
    from ivr.prompts.build import build_locale

    build_locale(TEST_REPO, "zh-CN")  # the nodes play the shipped prompts
    by_rate: dict[str, list[Level]] = {}
    by_calls: dict[str, list[Level]] = {}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ivr-cluster-load-"))
        postgres: PostgresCluster | None = None
        if any(shares_postgres(name) for name in names):
            postgres = stack.enter_context(PostgresCluster.running(fast=False))  # fsync on, as shipped
            postgres.prepare_register()
        for name in names:
            url = postgres.empty_register() if postgres is not None and shares_postgres(name) else None
            with started(name, Path(tmp), args.max_calls, args.hold, url) as setup:
                caller = Caller(setup.target)
                answered = 0
                try:
                    for r in rates:
                        settle(setup)
                        by_rate.setdefault(name, []).append(at_rate(caller, setup, r, args.offer, args.hold))
                        answered += by_rate[name][-1].answered
                    for n in counts:
                        settle(setup)
                        by_calls.setdefault(name, []).append(simultaneous(caller, setup, n, args.hold))
                        answered += by_calls[name][-1].answered
                    settle(setup)
                finally:
                    caller.close()
            recorded = setup.calls_recorded()  # the nodes stopped: every write they made is in
            store = "one PostgreSQL" if url is not None else "SQLite"
            print(
                f"  {name}: done (load average {os.getloadavg()[0]:.2f}); register ({store}): "
                f"{recorded} calls recorded, {answered} answered",
                flush=True,
            )
    print_table("rate", by_rate)
    print_table("calls", by_calls)
    closing_note(by_rate, by_calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
