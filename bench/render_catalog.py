"""Render the whole real prompt catalog into a temporary directory and report how fast.

    python bench/render_catalog.py [--locale zh-CN] [--root .] [--jobs 2]

Prints the total wall time, per-file render time percentiles (p50/p95, ms),
and the seconds of audio produced per CPU second (this process and its
espeak-ng children). A report, not a test: nothing here gates on a number.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, uninstalled

from ivr.prompts.build import build
from ivr.prompts.catalog import catalog_path, load_catalog


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--locale", default="zh-CN")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)

    catalog = load_catalog(catalog_path(args.root, args.locale))
    out = Path(tempfile.mkdtemp(prefix="ivr-render-bench-"))
    try:
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        report = build(catalog, out / args.locale, workers=args.jobs)
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    finally:
        shutil.rmtree(out, ignore_errors=True)

    rendered = [o for o in report.outcomes if o.status == "rendered"]
    prompt_ms = [o.render_s * 1000 for o in rendered if "/" not in o.name]
    clip_ms = [o.render_s * 1000 for o in rendered if "/" in o.name]
    audio_s = sum(o.audio_s for o in rendered)
    print(f"catalog      {catalog_path(args.root, args.locale)} ({len(catalog.prompts)} prompts)")
    print(
        f"files        {len(rendered)} rendered ({len(prompt_ms)} prompt files, {len(clip_ms)} number/digit clips)"
    )
    print(f"total        {wall:.2f} s wall, {cpu:.2f} s CPU, {args.jobs} workers")
    for what, ms in (("prompt files", prompt_ms), ("number/digit", clip_ms)):
        if ms:
            print(
                f"{what:<12} p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, "
                f"max {max(ms):.0f} ms, mean {statistics.fmean(ms):.0f} ms"
            )
    print(f"audio        {audio_s:.1f} s produced; {audio_s / cpu:.1f} audio s per CPU s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
