"""Full garbage collections against the media clock: the RTP gaps callers hear, heap frozen or not.

    python bench/gc_pause.py                          # 20 calls, 3 rounds of 6 s each way
    python bench/gc_pause.py --calls 30 --seconds 8 --rounds 2

The line is opened in this process as ``ivr serve`` opens it (the shipped desk
flow, its prompts, direct mode on loopback; ``OpenLine.start`` freezes what
start-up loaded). The callers of ``bench/sip_load.py`` (one thread, kernel
timestamps on each RTP socket) call it straight, without a registrar, and stay
silent. While they listen, a thread makes Python do a full collection once a
second: what the interpreter does by itself whenever the old generation has
grown by a quarter, here made to happen inside the window measured. Each round
runs twice, alternating: ``unfrozen`` (``gc.unfreeze()``: the start-up heap back
in the old generation, as before the line froze it) and ``frozen`` (as the line
runs).

Reported for each: the full collection's pause (p50, max) and the RTP
inter-packet interval at the callers (mean, p99 and max of |interval − 20 ms|).
Numbers depend on the machine and what else runs on it; a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sip_load import Bot, Caller, DirectLine, measure, pct  # noqa: E402  (bench/ is on sys.path: this script's folder)

from ivr.config import IvrConfig, RecordsSettings, SipSettings  # noqa: E402
from ivr.line.open_line import OpenLine  # noqa: E402
from tests.telephony.harness.ports import LOOPBACK, free_udp_port  # noqa: E402

COLLECT_EVERY_S = 1.0


class InProcess(Bot):
    name = "line"
    user = "ivr"

    @property
    def pid(self) -> int:
        return os.getpid()


class Collections:
    """Full collections once a second on its own thread, each timed; started and stopped by its owner."""

    def __init__(self) -> None:
        self.pauses_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gc-every-second")

    def _run(self) -> None:
        while not self._stop.wait(COLLECT_EVERY_S):
            began = time.perf_counter()
            gc.collect()
            self.pauses_ms.append((time.perf_counter() - began) * 1000)

    def __enter__(self) -> Collections:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def open_line(directory: Path) -> OpenLine:
    config = IvrConfig(
        sip=SipSettings.model_validate(
            {
                "mode": "direct",
                "bind": f"{LOOPBACK}:{free_udp_port()}",
                "rtp_ports": "28000-28499",
                "max_calls": 200,
                "grace": 1.0,
            }
        ),
        records=RecordsSettings(path=str(directory / "calls.db")),
    )
    return OpenLine(config, REPO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20, help="simultaneous calls")
    parser.add_argument("--seconds", type=float, default=6.0, help="each call's length after the answer")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each unfrozen then frozen")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, list[float]]] = {
        way: {"pause": [], "dev": [], "interval": []} for way in ("unfrozen", "frozen")
    }
    with tempfile.TemporaryDirectory(prefix="ivr-gc-pause-") as tmp:
        line = open_line(Path(tmp))
        line.start()
        caller = Caller(DirectLine(line.line.transport.address))
        try:
            frozen_at_start = gc.get_freeze_count()
            print(
                f"GC pauses against RTP: {args.calls} calls of {args.seconds:g} s, a full collection every "
                f"{COLLECT_EVERY_S:g} s; start-up froze {frozen_at_start} objects"
            )
            for _ in range(args.rounds):
                for way in ("unfrozen", "frozen"):
                    if way == "unfrozen":
                        gc.unfreeze()
                    else:
                        gc.collect()
                        gc.freeze()
                    with Collections() as collections:
                        level = measure(caller, InProcess(), args.calls, args.seconds)
                    dev = np.abs(level.intervals_ms - 20.0)
                    results[way]["pause"] += collections.pauses_ms
                    results[way]["dev"] += list(dev)
                    results[way]["interval"] += list(level.intervals_ms)
        finally:
            caller.close()
            gc.collect()
            gc.freeze()
            line.stop(grace=1.0)
    print(f"  {'':28} {'unfrozen':>10} {'frozen':>10} {'frozen/unfrozen':>16}")

    def figures(r: dict[str, list[float]]) -> dict[str, float]:
        nan = float("nan")
        return {
            "full collection p50 ms": pct(r["pause"], 50),
            "full collection max ms": max(r["pause"], default=nan),
            "RTP interval mean ms": float(np.mean(r["interval"])) if r["interval"] else nan,
            "RTP |dev 20 ms| p99 ms": pct(r["dev"], 99),
            "RTP |dev 20 ms| max ms": max(r["dev"], default=nan),
        }

    before, after = figures(results["unfrozen"]), figures(results["frozen"])
    for name, a in before.items():
        b = after[name]
        print(f"  {name:28} {a:10.2f} {b:10.2f} {b / a if a else float('nan'):16.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
