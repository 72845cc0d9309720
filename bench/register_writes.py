"""How long the media tick waits to hand a finished call to the register.

Compares ``RegisterWriter.submit`` (what the tick calls) with saving the same
call synchronously (what the tick would wait for without the writer), on the
caller's side, and reports how many calls per second reach the disk.
Reports numbers only; it gates on nothing.

    python bench/register_writes.py [--calls 2000] [--events 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.call.events import CallEvent, CallRecord, EventKind, Outcome
from ivr.records import CallRegister, RegisterWriter


def make_call(n: int, events: int) -> CallRecord:
    return CallRecord(
        call_id=f"bench-{n:06d}",
        flow="front-desk",
        caller="13800138000",
        started_at=datetime(2024, 5, 6, 9, tzinfo=UTC) + timedelta(seconds=n),
        answered_frame=300,
        ended_frame=events * 50,
        outcome=Outcome.SERVED,
        path=["greet", "ask", "transfer", "goodbye"],
        events=[CallEvent(i * 50, EventKind.STEP, {"step": f"s{i}", "note": "说明"}) for i in range(events)],
    )


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


def bench_direct(path: Path, calls: list[CallRecord]) -> tuple[list[float], float]:
    latencies: list[float] = []
    with CallRegister(path) as reg:
        start = time.perf_counter()
        for record in calls:
            t0 = time.perf_counter()
            reg.save(record)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
    return latencies, len(calls) / elapsed


def bench_writer(path: Path, calls: list[CallRecord]) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    writer = RegisterWriter(CallRegister(path), maxsize=len(calls))
    writer.start()
    try:
        start = time.perf_counter()
        for record in calls:
            t0 = time.perf_counter()
            writer.submit(record)
            latencies.append(time.perf_counter() - t0)
        writer.flush()
        elapsed = time.perf_counter() - start
    finally:
        writer.close()
    return latencies, writer.written / elapsed, writer.dropped


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--events", type=int, default=60, help="events per call")
    args = parser.parse_args()
    calls = [make_call(n, args.events) for n in range(args.calls)]

    with tempfile.TemporaryDirectory() as tmp:
        direct, direct_rate = bench_direct(Path(tmp) / "direct.db", calls)
        queued, queued_rate, dropped = bench_writer(Path(tmp) / "writer.db", calls)

    def us(samples: list[float], q: int) -> float:
        return percentile(samples, q) * 1e6

    print(f"{args.calls} calls, {args.events} events each, synchronous=FULL, WAL")
    print(f"{'caller waits (µs)':<24}{'p50':>10}{'p99':>10}")
    print(f"{'direct save':<24}{us(direct, 50):>10.1f}{us(direct, 99):>10.1f}")
    print(f"{'writer.submit':<24}{us(queued, 50):>10.1f}{us(queued, 99):>10.1f}")
    print(
        f"submit / direct: p50 {us(queued, 50) / us(direct, 50):.4f}, p99 {us(queued, 99) / us(direct, 99):.4f}"
    )
    print(f"calls/s written: direct {direct_rate:.0f}, writer {queued_rate:.0f} (dropped {dropped})")


if __name__ == "__main__":
    main()
