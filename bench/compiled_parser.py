"""What compiling the SIP edge's plain modules with mypyc would give the INVITE handler, in the same run.

    python bench/compiled_parser.py              # 3 pairs of 60 rounds of 60-INVITE bursts
    python bench/compiled_parser.py --pairs 5 --rounds 100

The line is Python, and an INVITE costs its SIP thread about 0.17 ms of plain interpreter work
(``bench/invite_burst.py``). mypyc (mypy's compiler; it needs gcc and the Python headers) turns
type-annotated modules into C extensions without changing them. This script copies ``ivr/`` into a
temporary folder, compiles ``MODULES`` there, puts this tree's flows, prompts, audio, tests and
bench beside the copy, and runs ``bench/invite_burst.py --only handler`` on the copy and on this
tree in turn, ``--pairs`` times. Nothing is written into this tree and nothing here is shipped:
it measures an option (a compiled release wheel) for whoever decides on it.

Per tree: the lowest and the median burst CPU (60 INVITEs handed to the SIP handler in-process),
and the ratio compiled / plain of each. Numbers depend on the machine; compare within one run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULES = [  # the modules an INVITE's 180 runs through that are plain functions and data (no threads)
    "ivr/telephony/sip_message.py",
    "ivr/telephony/sdp.py",
    "ivr/telephony/arrival.py",
    "ivr/telephony/answering_dialog.py",
    "ivr/telephony/transactions.py",
    "ivr/telephony/session_timer.py",
    "ivr/telephony/uas_refusals.py",
]
BESIDE = ("flows", "prompts", "audio", "tests")  # what the handler bench reads next to ivr/, linked
# bench/ is copied: invite_burst.py puts the folder above its own (resolved) file first on sys.path
BURST_CPU = re.compile(r"burst CPU ms\s+min\s+([\d.]+)\s+p50\s+([\d.]+)")


def compiled_copy(into: Path) -> Path:
    """``ivr/`` copied into ``into`` with ``MODULES`` compiled there; this tree's other folders linked."""
    shutil.copytree(REPO / "ivr", into / "ivr", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "bench", into / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    for name in BESIDE:
        (into / name).symlink_to(REPO / name, target_is_directory=True)
    done = subprocess.run(
        ["mypyc", *MODULES], cwd=into, capture_output=True, text=True, check=False, timeout=600
    )
    if done.returncode != 0:
        raise SystemExit(f"mypyc failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    built = sorted(p.relative_to(into) for p in (into / "ivr").rglob("*.so"))
    if len(built) != len(MODULES):
        raise SystemExit(f"mypyc built {len(built)} extensions for {len(MODULES)} modules: {built}")
    probe = "import sys; sys.path.insert(0, sys.argv[1]); import ivr.telephony.sip_message as m; print(m.__file__)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe, str(into)], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    if not loaded.endswith(".so") or not loaded.startswith(str(into)):
        raise SystemExit(f"the copy imports {loaded}, not its compiled module")
    return into


def burst_cpu(tree: Path, rounds: int) -> tuple[float, float]:
    """(lowest, median) burst CPU in ms of ``bench/invite_burst.py --only handler`` run in ``tree``."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [
            sys.executable,
            str(tree / "bench" / "invite_burst.py"),
            "--only",
            "handler",
            "--rounds",
            str(rounds),
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=600,
    )
    found = BURST_CPU.search(done.stdout)
    if found is None:
        raise SystemExit(f"no burst CPU line in:\n{done.stdout}")
    return float(found.group(1)), float(found.group(2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=3, help="plain and compiled runs, alternately")
    parser.add_argument("--rounds", type=int, default=60, help="bursts per run")
    args = parser.parse_args(argv)
    if shutil.which("mypyc") is None:
        raise SystemExit("mypyc is not installed (it comes with mypy: pip install -e '.[test]')")
    with tempfile.TemporaryDirectory(prefix="ivr-compiled-") as tmp:
        print(f"compiling {len(MODULES)} modules with mypyc …", flush=True)
        copy = compiled_copy(Path(tmp))
        plain: list[tuple[float, float]] = []
        compiled: list[tuple[float, float]] = []
        for n in range(args.pairs):
            plain.append(burst_cpu(REPO, args.rounds))
            compiled.append(burst_cpu(copy, args.rounds))
            print(
                f"pair {n + 1}: plain {plain[-1][0]:.2f} / {plain[-1][1]:.2f} ms, "
                f"compiled {compiled[-1][0]:.2f} / {compiled[-1][1]:.2f} ms (lowest / median burst CPU)"
            )
    low_p, low_c = min(p[0] for p in plain), min(c[0] for c in compiled)
    med_p = statistics.median(p[1] for p in plain)
    med_c = statistics.median(c[1] for c in compiled)
    print(
        f"60-INVITE burst CPU, lowest: plain {low_p:.2f} ms, compiled {low_c:.2f} ms, ratio {low_c / low_p:.2f}"
    )
    print(
        f"60-INVITE burst CPU, median: plain {med_p:.2f} ms, compiled {med_c:.2f} ms, ratio {med_c / med_p:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
