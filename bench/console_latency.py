"""How fast the console is for the people looking at it: page loads and live updates, in a real browser.

Starts ``ivr console`` on a free loopback port over a fresh register (the
shipped flows; prompt audio must have been built: ``ivr prompts build``), and
headless Debian chromium (Playwright, ``/usr/bin/chromium``), then measures:

1. page load: from ``goto`` until the page shows its first live data, for the
   wallboard (shift leader), the agent page and the flows page (admin:
   checks every flow and draws its picture);
2. live update: from the moment a call's row is committed to the register (as
   the line's ``LiveCallBoard`` worker commits it) until the wallboard shows
   it, and until the rung seat's page pops it.

Reports percentiles only; gates on nothing.

    python bench/console_latency.py [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from ivr.records.console_users import ConsoleUser, ConsoleUsers
from ivr.records.live_calls import LiveCall, LiveCalls, LiveState
from ivr.records.register import CallRegister

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentiles(name: str, values_s: list[float]) -> None:
    ms = sorted(v * 1000 for v in values_s)

    def at(q: float) -> float:
        return ms[min(len(ms) - 1, round(q * (len(ms) - 1)))]

    print(
        f"{name:<34} n={len(ms):<4} p50 {at(0.5):7.1f} ms  p90 {at(0.9):7.1f} ms  "
        f"p99 {at(0.99):7.1f} ms  max {ms[-1]:7.1f} ms  mean {statistics.fmean(ms):7.1f} ms"
    )


def sign_in(page: Page, url: str, name: str) -> None:
    page.goto(url + "/sign-in")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: not u.endswith("/sign-in"))


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    audio = ROOT / "audio" / "zh-CN"
    if not audio.is_dir():
        sys.exit("no prompt audio: run 'ivr prompts build' first")
    with tempfile.TemporaryDirectory(prefix="ivr-console-bench-") as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "flows", root / "flows")
        shutil.copytree(ROOT / "prompts", root / "prompts")
        (root / "audio").mkdir()
        (root / "audio" / "zh-CN").symlink_to(audio)
        port = free_port()
        (root / "ivr.toml").write_text(
            '[line]\nflow = "flows/desk.yaml"\nseats = "flows/seats.yaml"\n'
            f'[records]\npath = "var/ivr.db"\n[console]\nbind = "127.0.0.1:{port}"\n',
            encoding="utf-8",
        )
        db = root / "var" / "ivr.db"
        with CallRegister(db) as reg:
            users = ConsoleUsers(reg)
            now = datetime.now(UTC)
            users.add(ConsoleUser("leader", "shift_leader"), PASSWORD, now)
            users.add(ConsoleUser("agent", "agent", "1001"), PASSWORD, now)
            users.add(ConsoleUser("admin", "admin"), PASSWORD, now)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        console = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "console", "--config", "ivr.toml"], cwd=root, env=env
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if console.poll() is not None or time.monotonic() > deadline:
                        sys.exit("ivr console did not start")
                    time.sleep(0.05)
            run(url, db, args.runs)
        finally:
            console.terminate()
            console.wait(timeout=10)


def run(url: str, db: Path, runs: int) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            leader = browser.new_context().new_page()
            sign_in(leader, url, "leader")
            agent = browser.new_context().new_page()
            sign_in(agent, url, "agent")
            admin = browser.new_context().new_page()
            sign_in(admin, url, "admin")

            def load(page: Page, path: str) -> None:
                page.goto(url + path)
                page.wait_for_selector("body[data-updated]")

            percentiles(
                "page load: wallboard", [timed(lambda: load(leader, "/wallboard")) for _ in range(runs)]
            )
            percentiles("page load: agent", [timed(lambda: load(agent, "/agent")) for _ in range(runs)])
            flows_runs = max(3, runs // 8)
            percentiles(
                "page load: flows (checks, pictures)",
                [timed(lambda: admin.goto(url + "/admin", wait_until="load")) for _ in range(flows_runs)],
            )
            load(leader, "/wallboard")
            load(agent, "/agent")
            wall: list[float] = []
            pop: list[float] = []
            with CallRegister(db, synchronous="NORMAL") as reg:
                live = LiveCalls(reg)
                for n in range(runs):
                    time.sleep(random.uniform(0, 0.5))  # not in step with the pages' half-second fetch
                    number = f"1380000{n:04d}"
                    call = LiveCall(
                        f"bench-{n}",
                        number,
                        "desk",
                        LiveState.WAITING,
                        datetime.now(UTC),
                        step="reception",
                        seat_id="1001",
                        waiting_since=datetime.now(UTC),
                    )
                    live.put(call, datetime.now(UTC))
                    committed = time.perf_counter()
                    leader.wait_for_function(
                        "n => document.getElementById('calls').textContent.includes(n)",
                        arg=number,
                        polling="raf",
                    )
                    wall.append(time.perf_counter() - committed)
                    agent.wait_for_function(
                        "n => document.getElementById('pop-caller').textContent === n",
                        arg=number,
                        polling="raf",
                    )
                    pop.append(time.perf_counter() - committed)
                    live.remove(call.call_id)
                    leader.wait_for_function(
                        "n => !document.getElementById('calls').textContent.includes(n)",
                        arg=number,
                        polling="raf",
                    )
            percentiles("live: a call on the wallboard", wall)
            percentiles("live: the screen pop on the seat", pop)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
