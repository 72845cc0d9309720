"""What one queue across lines costs: a seat claim, its release, and the word reaching another line.

On each back end (an SQLite file, synchronous=FULL, WAL; a throwaway PostgreSQL
server started here with durability as shipped, or ``--url``), in the same run:

- the baseline: a line's beat (one upserted row: the least a write costs);
- a claim then its release, one line alone (what ringing a seat adds before
  the INVITE, and after the seat is free), as a ratio of the beat;
- ``--lines`` lines (threads, each its own connections) racing for one seat
  ``--rounds`` times: the latency of a claim under contention, and a check that
  every round had exactly one winner;
- PostgreSQL only: from a release's commit to another line's ``ClaimSignals``
  waking (what the LISTEN/NOTIFY watch saves over waiting for the next look).

Reports numbers only; it gates on nothing.

    PYTHONPATH=. python bench/seat_claims.py [--rounds 500] [--lines 3] [--url postgresql://…]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.records.register import CallRegister
from ivr.records.seat_claims import SeatClaims

T0 = datetime(2026, 12, 6, 9, tzinfo=UTC)


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


def us(samples: list[float], q: int) -> float:
    return percentile(samples, q) * 1e6


@dataclass
class Figures:
    beat: list[float]
    claim: list[float]
    release: list[float]
    contended: list[float]
    bad_rounds: int  # rounds without exactly one winner (must be 0)
    wake: list[float]


def at(n: int) -> datetime:
    return T0 + timedelta(milliseconds=n)


def alone(target: Path | str, rounds: int) -> tuple[list[float], list[float], list[float]]:
    beat: list[float] = []
    claim: list[float] = []
    release: list[float] = []
    with CallRegister(target) as reg:
        line = SeatClaims(reg, "alone")
        for n in range(rounds):
            t0 = time.perf_counter()
            line.beat(at(n))
            t1 = time.perf_counter()
            assert line.claim("1001", f"call-{n}", at(n))
            t2 = time.perf_counter()
            assert line.release("1001", f"call-{n}")
            t3 = time.perf_counter()
            beat.append(t1 - t0)
            claim.append(t2 - t1)
            release.append(t3 - t2)
    return beat, claim, release


def race(target: Path | str, lines: int, rounds: int) -> tuple[list[float], int]:
    registers = [CallRegister(target) for _ in range(lines)]
    claims = [SeatClaims(r, f"line-{n}") for n, r in enumerate(registers)]
    latencies: list[list[float]] = [[] for _ in range(lines)]
    won: list[list[bool]] = [[] for _ in range(lines)]
    start = threading.Barrier(lines)

    def run(n: int) -> None:
        for r in range(rounds):
            start.wait()
            t0 = time.perf_counter()
            got = claims[n].claim(f"seat-{r}", f"call-{n}", at(r))
            latencies[n].append(time.perf_counter() - t0)
            won[n].append(got)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(lines)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for reg in registers:
            reg.close()
    bad = sum(1 for r in range(rounds) if sum(won[n][r] for n in range(lines)) != 1)
    return [x for per_line in latencies for x in per_line], bad


def wake(url: str, rounds: int) -> list[float]:
    from ivr.records.claim_signals import ClaimSignals

    out: list[float] = []
    with CallRegister(url) as reg:
        line = SeatClaims(reg, "releasing")
        signals = ClaimSignals(url)
        try:
            for n in range(rounds):
                line.claim("1001", f"call-{n}", at(n))
                signals.wait(5)  # the claim's own word
                t0 = time.perf_counter()
                line.release("1001", f"call-{n}")
                if not signals.wait(5):
                    raise RuntimeError("a release was not signalled within 5 s")
                out.append(time.perf_counter() - t0)
        finally:
            signals.close()
    return out


def run(target: Path | str, fresh: Path | str, rounds: int, lines: int, postgres: bool) -> Figures:
    beat, claim, release = alone(target, rounds)
    contended, bad = race(fresh, lines, rounds)
    woke = wake(str(target), rounds) if postgres else []
    return Figures(beat, claim, release, contended, bad, woke)


@contextlib.contextmanager
def postgres_targets(url: str | None) -> Iterator[tuple[str, str]]:
    if url is not None:
        yield url, url
        return
    from tests.postgres_cluster import PostgresCluster

    with PostgresCluster.running(fast=False) as cluster, cluster.database() as one, cluster.database() as two:
        yield one, two


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--lines", type=int, default=3, help="lines racing for one seat")
    parser.add_argument("--url", help="a PostgreSQL register to use (claims are written there)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        sqlite = run(Path(tmp) / "alone.db", Path(tmp) / "race.db", args.rounds, args.lines, postgres=False)
    with postgres_targets(args.url) as (one, two):
        postgres = run(one, two, args.rounds, args.lines, postgres=True)

    print(f"{args.rounds} rounds; {args.lines} lines racing for one seat per round")
    print(f"{'latency (µs)':<36}{'p50':>10}{'p99':>10}{'p50/beat':>10}")
    for name, f in (("sqlite", sqlite), ("postgresql", postgres)):
        base = us(f.beat, 50)
        rows = [("beat (baseline)", f.beat), ("claim, alone", f.claim), ("release, alone", f.release)]
        rows += [(f"claim, {args.lines} lines racing", f.contended)]
        rows += [("release → other line woken", f.wake)] if f.wake else []
        for label, samples in rows:
            print(
                f"{name + ' ' + label:<36}{us(samples, 50):>10.1f}{us(samples, 99):>10.1f}"
                f"{us(samples, 50) / base:>10.2f}"
            )
        print(f"{name}: rounds without exactly one winner: {f.bad_rounds}")
    print(
        "postgresql / sqlite: claim alone p50 "
        f"{us(postgres.claim, 50) / us(sqlite.claim, 50):.2f}, racing p99 "
        f"{us(postgres.contended, 99) / us(sqlite.contended, 99):.2f}"
    )


if __name__ == "__main__":
    main()
