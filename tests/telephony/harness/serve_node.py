"""``ivr serve`` as a child process on loopback: one node of a line behind Kamailio, or alone.

A node runs in direct mode on ``127.0.0.1:<free port>`` (UDP and TCP), takes calls from
127.0.0.0/8 (where the proxy is), has its own RTP range and writes what ``records`` says
(the ``[records]`` table of its ivr.toml), under its name (``[line] node``), with the seats file
``seats`` and the desk hours' ``timezone`` if given. It logs to ``<directory>/<name>.log``, a file, so a
chatty node can never block on a full pipe. It is ready once it answers OPTIONS with 200.

``terminate()`` is SIGTERM (the node drains: new calls and OPTIONS get 503, live calls hear
goodbye within ``grace``); ``kill()`` is SIGKILL; ``stop()`` ends it whatever state it is in
(SIGTERM, a bounded wait, then SIGKILL) and is what a fixture's ``finally`` calls.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.telephony.harness.kamailio import sip_options_ping, stop_service
from tests.telephony.harness.ports import LOOPBACK, PortRange, free_udp_port

REPO = Path(__file__).resolve().parents[3]


class NodeError(RuntimeError):
    """The node did not start, or answered otherwise than asked; carries the tail of its log."""


class ServeNode:
    def __init__(
        self,
        name: str,
        directory: Path,
        records: str,
        rtp: PortRange,
        *,
        grace: float = 5.0,
        max_calls: int = 100,
        flow: str = "flows/desk.yaml",
        media_timeout: float | None = None,
        seats: Path | None = None,
        timezone: str | None = None,
    ) -> None:
        self.name = name
        self.port = free_udp_port()
        self.rtp = rtp
        self.config_path = directory / f"{name}.toml"
        self.log_path = directory / f"{name}.log"
        self.config_path.write_text(
            "[sip]\n"
            'mode = "direct"\n'
            f'bind = "{LOOPBACK}:{self.port}"\n'
            'allow = ["127.0.0.0/8"]\n'
            f'rtp_ports = "{rtp.low}-{rtp.high}"\n'
            f"max_calls = {max_calls}\n"
            f"grace = {grace}\n"
            "realtime = false\n"
            + (f"media_timeout = {media_timeout}\n" if media_timeout is not None else "")
            + f'[line]\nflow = "{flow}"\nnode = "{name}"\n'
            + (f'seats = "{seats}"\n' if seats is not None else "")
            + (f'timezone = "{timezone}"\n' if timezone is not None else "")
            + f"[records]\n{records}\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (LOOPBACK, self.port)

    @property
    def pid(self) -> int:
        if self.process is None:
            raise NodeError(f"node {self.name} is not started")
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start ``ivr serve`` and wait (at most ``timeout`` s) until it answers OPTIONS with 200."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start ``ivr serve`` without waiting (start several, then ``wait_ready`` each)."""
        if self.process is not None and self.process.poll() is None:
            raise NodeError(f"node {self.name} is already running")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ivr.cli", "serve", "--config", str(self.config_path)],
                cwd=REPO,
                env=dict(os.environ, PYTHONPATH=str(REPO)),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until it answers OPTIONS with 200; stopped and NodeError if it does not in ``timeout`` s."""
        try:
            self.wait_options(200, timeout)
        except BaseException:
            self.stop()
            raise

    def options(self, timeout: float = 1.0) -> int | None:
        """The node's answer to one OPTIONS (what Kamailio's dispatcher asks it), or None."""
        return sip_options_ping(LOOPBACK, self.port, timeout=timeout)

    def wait_options(self, status: int, timeout: float) -> None:
        """Until an OPTIONS is answered with ``status``; NodeError after ``timeout`` s or if it exits."""
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.2) + 1):  # bounded: each try waits for its answer up to 0.2 s
            if self.process is None or self.process.poll() is not None:
                raise NodeError(f"node {self.name} exited while starting:\n{self.log_tail()}")
            if self.options(timeout=0.2) == status:
                return
            if time.monotonic() > deadline:
                break
        raise NodeError(
            f"node {self.name} did not answer OPTIONS {status} in {timeout} s:\n{self.log_tail()}"
        )

    def terminate(self) -> None:
        """SIGTERM: the node drains (503 to new calls and to OPTIONS) and exits after its grace."""
        os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no goodbye, no BYE, no closing."""
        os.kill(self.pid, signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        """The exit status once it has exited (TimeoutExpired after ``timeout`` s)."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, a bounded wait, then SIGKILL of its process group; the exit status."""
        if self.process is None:
            return None
        return stop_service(self.process, timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
