"""A real console: ``ivr console`` in its own process on a free loopback port, a real register file, and
headless Debian chromium driven by Playwright (one browser per test module)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from ivr.config import load_config
from ivr.records.console_users import ConsoleUser, ConsoleUsers
from ivr.records.register import CallRegister
from tests.telephony.harness import ports

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
USERS = [  # name, role, seat
    ("wang", "agent", "1001"),
    ("li", "shift_leader", None),
    ("root", "admin", None),
    ("lockme", "agent", "1001"),
]


# the machine may be busy: waiting for a page is allowed 10 s; what must be quick says so itself (1 s)
expect.set_options(timeout=10_000)


def free_port() -> int:
    """The console's port, outside the ephemeral range (see ``harness.ports.free_port``)."""
    return ports.free_port()


@dataclass(frozen=True)
class Console:
    root: Path
    url: str
    db: Path | str

    def register(self) -> CallRegister:
        return CallRegister(self.db)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def ivr(root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr.cli", *args],
        cwd=root,
        env=_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def make_root(
    base: Path,
    rendered_audio: Path,
    port: int,
    *,
    db: str = "var/ivr.db",
    seats: str = "flows/seats.yaml",
    url: str | None = None,
) -> Path:
    """The line's folder: the shipped flows and prompts (copies: the console may change them), audio, ivr.toml
    (the register in the file ``db``, or in the PostgreSQL database ``url``)."""
    root = base / "desk"
    root.mkdir()
    shutil.copytree(REPO / "flows", root / "flows")
    shutil.copytree(REPO / "prompts", root / "prompts")
    (root / "audio").mkdir()
    (root / "audio" / "zh-CN").symlink_to(rendered_audio)
    (root / "ivr.toml").write_text(
        f'[line]\nflow = "flows/desk.yaml"\nseats = "{seats}"\ntimezone = "Asia/Shanghai"\n'
        + (f'[records]\nurl = "{url}"\n' if url else f'[records]\npath = "{db}"\n')
        + f'[console]\nbind = "127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    return root


def add_users(root: Path, users: list[tuple[str, str, str | None]]) -> None:
    """The first with ``ivr console user add`` (password on standard input), the rest straight into the file."""
    (name, role, seat), *rest = users
    args = ["console", "user", "add", name, "--role", role, "--config", "ivr.toml"]
    done = ivr(root, *args, *(["--seat", seat] if seat else []), stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"console user {name}: {role}{f', seat {seat}' if seat else ''}\n"
    config = load_config(root / "ivr.toml")
    with CallRegister(config.records.target(root)) as reg:
        for name, role, seat in rest:
            ConsoleUsers(reg).add(ConsoleUser(name, role, seat), PASSWORD, datetime.now(UTC))  # type: ignore[arg-type]


@contextmanager
def running_console(root: Path, port: int, db: Path | str | None = None) -> Iterator[Console]:
    """``ivr console --config ivr.toml`` in ``root``, until the block ends (then SIGTERM, waited for)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ivr.cli", "console", "--config", "ivr.toml"],
        cwd=root,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    out = process.stdout.read() if process.stdout else ""
                    pytest.fail(f"ivr console did not start: {out}")
                time.sleep(0.05)
        yield Console(root, f"http://127.0.0.1:{port}", db or root / "var" / "ivr.db")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, rendered_audio: Path) -> Iterator[Console]:
    port = free_port()
    root = make_root(tmp_path_factory.mktemp("console"), rendered_audio, port)
    add_users(root, USERS)
    with running_console(root, port) as running:
        yield running


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, console: Console, name: str, password: str = PASSWORD) -> None:
    page.goto(console.url + "/sign-in")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
