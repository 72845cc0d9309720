"""How long the media tick waits to hand a finished call to the register, on both back ends.

Compares ``RegisterWriter.submit`` (what the tick calls) with saving the same
call synchronously (what the tick would wait for without the writer), on the
caller's side, and reports how many calls per second reach the store; and
the write of one small record (a call-in-progress row, as the live board
writes on every change of a call). Each is run on an SQLite file
(synchronous=FULL, WAL) and on PostgreSQL (a throwaway server started here,
fsync and synchronous_commit as shipped; or ``--url`` for one of yours), in
the same run, with PostgreSQL's figures as ratios of SQLite's.
Reports numbers only; it gates on nothing.

    PYTHONPATH=. python bench/register_writes.py [--calls 2000] [--events 60] [--url postgresql://…]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.call.events import CallEvent, CallRecord, EventKind, Outcome
from ivr.records import CallRegister, RegisterWriter
from ivr.records.live_calls import LiveCall, LiveCalls, LiveState


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


def bench_direct(target: Path | str, calls: list[CallRecord]) -> tuple[list[float], float]:
    latencies: list[float] = []
    with CallRegister(target) as reg:
        start = time.perf_counter()
        for record in calls:
            t0 = time.perf_counter()
            reg.save(record)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
    return latencies, len(calls) / elapsed


def bench_writer(target: Path | str, calls: list[CallRecord]) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    writer = RegisterWriter(CallRegister(target), maxsize=len(calls))
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


def bench_live_rows(target: Path | str, count: int) -> tuple[list[float], float]:
    """One call-in-progress row written per change (an upsert), ten calls taking turns; durability as the
    line's live board asks (SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off)."""
    latencies: list[float] = []
    at = datetime(2024, 5, 6, 9, tzinfo=UTC)
    with CallRegister(target, synchronous="NORMAL") as reg:  # as the line's live board opens it
        live = LiveCalls(reg)
        start = time.perf_counter()
        for n in range(count):
            call = LiveCall(
                f"live-{n % 10}", "13800138000", "front-desk", LiveState.IN_FLOW, at, step=f"s{n}"
            )
            t0 = time.perf_counter()
            live.put(call, at + timedelta(milliseconds=n))
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
    return latencies, count / elapsed


@dataclass
class Figures:
    direct: list[float]
    direct_rate: float
    queued: list[float]
    queued_rate: float
    dropped: int
    live: list[float]
    live_rate: float


def run(target: Path | str, fresh: Path | str, calls: list[CallRecord], rows: int) -> Figures:
    direct, direct_rate = bench_direct(target, calls)
    queued, queued_rate, dropped = bench_writer(fresh, calls)
    live, live_rate = bench_live_rows(target, rows)
    return Figures(direct, direct_rate, queued, queued_rate, dropped, live, live_rate)


@contextlib.contextmanager
def postgres_targets(url: str | None) -> Iterator[tuple[str, str]]:
    """Two empty registers: in the given server, or in a throwaway one started here (durability as shipped)."""
    if url is not None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS events, calls, live_calls, ivr_schema CASCADE")
        yield url, url
        return
    from tests.postgres_cluster import PostgresCluster

    with PostgresCluster.running(fast=False) as cluster, cluster.database() as one, cluster.database() as two:
        yield one, two


def us(samples: list[float], q: int) -> float:
    return percentile(samples, q) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--events", type=int, default=60, help="events per call")
    parser.add_argument("--rows", type=int, default=2000, help="call-in-progress rows written")
    parser.add_argument("--url", help="a PostgreSQL database to use (its ivr tables are dropped first)")
    args = parser.parse_args()
    calls = [make_call(n, args.events) for n in range(args.calls)]

    with tempfile.TemporaryDirectory() as tmp:
        sqlite = run(Path(tmp) / "direct.db", Path(tmp) / "writer.db", calls, args.rows)
    with postgres_targets(args.url) as (one, two):
        postgres = run(one, two, calls, args.rows)

    print(f"{args.calls} calls of {args.events} events, {args.rows} live rows; SQLite synchronous=FULL, WAL")
    print(f"{'caller waits (µs)':<32}{'p50':>10}{'p99':>10}{'per s':>10}")
    for name, f in (("sqlite", sqlite), ("postgresql", postgres)):
        print(
            f"{name + ' call save':<32}{us(f.direct, 50):>10.1f}{us(f.direct, 99):>10.1f}{f.direct_rate:>10.0f}"
        )
        print(
            f"{name + ' writer.submit':<32}{us(f.queued, 50):>10.1f}{us(f.queued, 99):>10.1f}{f.queued_rate:>10.0f}"
        )
        print(f"{name + ' live row':<32}{us(f.live, 50):>10.1f}{us(f.live, 99):>10.1f}{f.live_rate:>10.0f}")
    for name, f in (("sqlite", sqlite), ("postgresql", postgres)):
        print(
            f"{name} submit / direct save: p50 {us(f.queued, 50) / us(f.direct, 50):.4f}, "
            f"p99 {us(f.queued, 99) / us(f.direct, 99):.4f}; dropped {f.dropped}"
        )
    print(
        "postgresql / sqlite: "
        f"call save p50 {us(postgres.direct, 50) / us(sqlite.direct, 50):.2f}, "
        f"p99 {us(postgres.direct, 99) / us(sqlite.direct, 99):.2f}, "
        f"calls/s {postgres.direct_rate / sqlite.direct_rate:.2f}; "
        f"live row p50 {us(postgres.live, 50) / us(sqlite.live, 50):.2f}, "
        f"p99 {us(postgres.live, 99) / us(sqlite.live, 99):.2f}"
    )


if __name__ == "__main__":
    main()
