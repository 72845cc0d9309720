"""Run ``bench/stock_pyvoip_bot.py`` (stock pyVoIP 1.6.8) as a child process registered at a Kamailio.

The baseline of ``bench/sip_load.py`` and ``bench/stock_pyvoip_checks.py``; it needs the bench
extra (``pip install -e '.[bench]'``: pyVoIP), which the product and its tests do not.

Usage::

    with kamailio_server() as registrar, StockBot(registrar, seconds=2) as bot:
        result = run_sipp("uac_call_hold_bye", registrar.address, user=bot.user, pause_ms=500)
        bot.wait_for("CALLER_HUNG_UP", timeout=5)
        assert bot.count("ANSWERED") == 1

The bot's stdout protocol lines (``BOT <EVENT> ...``) are drained by a reader
thread into a bounded log, so the bot never blocks on a full pipe; waits for an
event are blocking waits on a condition, bounded by their timeout.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from tests.telephony.harness.kamailio import Kamailio, stop_service
from tests.telephony.harness.ports import (
    LOOPBACK,
    PortRange,
    allocate_rtp_range,
    free_udp_port,
    release_rtp_range,
)

REPO = Path(__file__).resolve().parents[1]
BOT_SCRIPT = REPO / "bench" / "stock_pyvoip_bot.py"


class StockBotError(RuntimeError):
    """The stock bot did not register, or did not report what was waited for."""


class StockBot:
    """The stock pyVoIP answering bot as a child process; a context manager that always stops it."""

    def __init__(
        self,
        registrar: Kamailio,
        *,
        user: str = "ivr",
        password: str | None = None,
        seconds: float = 30.0,
        sip_port: int | None = None,
        rtp: PortRange | None = None,
        wav: Path | None = None,
        log_lines: int = 10000,
    ) -> None:
        self.registrar = registrar
        self.user = user
        self.password = password if password is not None else registrar.users.get(user, "secret")
        self.seconds = seconds
        self.sip_port = sip_port if sip_port is not None else free_udp_port()
        self._own_rtp = rtp is None
        self.rtp = rtp if rtp is not None else allocate_rtp_range(100)
        self.wav = wav
        self._lines: collections.deque[str] = collections.deque(maxlen=log_lines)
        self._counts: collections.Counter[str] = collections.Counter()
        self._changed = threading.Condition()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._stderr_path: Path | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where the bot's SIP socket listens (calls should go through the registrar)."""
        return (LOOPBACK, self.sip_port)

    @property
    def uri(self) -> str:
        """The URI to dial through the registrar."""
        return self.registrar.aor(self.user)

    @property
    def lines(self) -> list[str]:
        with self._changed:
            return list(self._lines)

    def count(self, event: str) -> int:
        with self._changed:
            return self._counts[event]

    def start(self, timeout: float = 15.0) -> None:
        """Start the bot and wait (bounded) until it reports READY (registered)."""
        if self._process is not None:
            raise StockBotError("stock bot already started")
        host, port = self.registrar.address
        command = [
            sys.executable,
            str(BOT_SCRIPT),
            "--server",
            host,
            "--port",
            str(port),
            "--user",
            self.user,
            "--password",
            self.password,
            "--bind",
            LOOPBACK,
            "--sip-port",
            str(self.sip_port),
            "--rtp",
            str(self.rtp),
            "--seconds",
            f"{self.seconds:g}",
        ]
        if self.wav is not None:
            command += ["--wav", str(self.wav)]
        self._stderr_path = self.registrar.directory / f"stock-bot-{self.sip_port}.stderr"
        with open(self._stderr_path, "wb") as stderr:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                bufsize=1,
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        self._reader = threading.Thread(target=self._read, name=f"stock-bot-{self.sip_port}", daemon=True)
        self._reader.start()
        try:
            self.wait_for("READY", timeout=timeout, fail_on="FAILED")
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            words = line.split()
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                if len(words) >= 2 and words[0] == "BOT":
                    self._counts[words[1]] += 1
                self._changed.notify_all()
        with self._changed:
            self._counts["<EOF>"] += 1
            self._changed.notify_all()

    def wait_for(self, event: str, count: int = 1, timeout: float = 10.0, fail_on: str | None = None) -> None:
        """Block until the bot has reported ``event`` ``count`` times in all; StockBotError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._counts[event] < count:
                if fail_on is not None and self._counts[fail_on]:
                    raise StockBotError(f"stock bot reported {fail_on}:\n{self.tail()}")
                if self._counts["<EOF>"]:
                    raise StockBotError(f"stock bot exited before {event} x{count}:\n{self.tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StockBotError(
                        f"no {event} x{count} from the stock bot in {timeout} s:\n{self.tail()}"
                    )
                self._changed.wait(remaining)

    def tail(self, lines: int = 30) -> str:
        out = "\n".join(list(self._lines)[-lines:])
        err = ""
        if self._stderr_path is not None and self._stderr_path.exists():
            err = "\n".join(self._stderr_path.read_text(errors="replace").splitlines()[-lines:])
        return f"--- stdout ---\n{out}\n--- stderr ---\n{err}"

    def stop(self, timeout: float = 8.0) -> int | None:
        """SIGTERM (the bot hangs up, deregisters and exits within ~5 s), then SIGKILL. The exit code."""
        process = self._process
        if process is None:
            return None
        self._process = None
        try:
            stop_service(process, timeout)
        finally:
            if self._reader is not None:
                self._reader.join(timeout=timeout)
            if process.stdout is not None:
                process.stdout.close()
            if self._own_rtp:
                release_rtp_range(self.rtp)
        return process.returncode

    def __enter__(self) -> StockBot:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
