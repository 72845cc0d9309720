"""linphonec (Debian's linphone-cli 5.1) as a caller or a seat, driven through its standard input.

Usage::

    with Linphonec(tmp_path / "linphone", user="caller", tone=tone_wav) as phone:
        phone.dial("sip:ivr@127.0.0.1:5070")
        phone.wait_established(10)
        phone.send_key("1")
        phone.wait_closed(20)
    frames = phone.heard()        # what it heard, from its 'record' WAV

Its config (``-c``) and HOME are in the directory given. Audio is files only
(``soundcard use files``): the tone WAV is played as the microphone (``play``) and
what it hears is written to ``<dir>/heard.wav`` (``record``). Commands go down its
standard input; its standard output is read by one thread the phone owns, and
waits are on a condition, bounded. A seat answers by itself (``-a``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import TracebackType

from tests.telephony.harness.ports import (
    LOOPBACK,
    free_udp_port,
)
from tests.telephony.harness.softphone import Registration, read_frames, stop_group

BINARY = "linphonec"


def linphonec_available() -> bool:
    return shutil.which(BINARY) is not None


class LinphoneError(RuntimeError):
    """linphonec did not start or did not do what it was asked; the message carries its output's tail."""


ESTABLISHED = re.compile(r"Call \d+ with .* connected")
CLOSED = re.compile(r"Call \d+ with .* (ended|error)|Call ended|Call terminated")


class Linphonec:
    def __init__(
        self,
        directory: Path,
        *,
        user: str,
        tone: Path,
        registration: Registration | None = None,
        auto_answer: bool = False,
        ca_file: Path | None = None,
        srtp: bool = False,
    ) -> None:
        self.directory = directory
        self.srtp = srtp  # SRTP only: RTP/SAVP with SDES keys (media_encryption_mandatory)
        self.user = user
        self.tone = tone
        self.registration = registration
        self.auto_answer = auto_answer
        self.ca_file = ca_file
        self.sip_port = free_udp_port()
        self.tls_port = free_udp_port()
        self.output: list[str] = []
        self._changed = threading.Condition()
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    def contact(self, transport: str = "udp") -> str:
        port = self.tls_port if transport == "tls" else self.sip_port
        return f"sip:{self.user}@{LOOPBACK}:{port};transport={transport}"

    @property
    def log_path(self) -> Path:
        """Its debug log (SIP messages, media set-up), for a failing test's report."""
        return self.directory / "linphonec.log"

    @property
    def recording(self) -> Path:
        return self.directory / "heard.wav"

    def _write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
        sip = [
            "[sip]",
            f"sip_port={self.sip_port}",
            f"sip_tcp_port={self.sip_port}",
            f"sip_tls_port={self.tls_port}",
            "bind_address=127.0.0.1",
            "use_ipv6=0",
            "guess_hostname=0",
            "register_only_when_network_is_up=0",
            "inc_timeout=30",
            "verify_server_certs=1" if self.ca_file is not None else "verify_server_certs=0",
            "verify_server_cn=0",  # its mbedTLS matches the CN to the host, not the SAN's IP: the chain is checked
        ]
        if self.ca_file is not None:
            sip.append(f"root_ca={self.ca_file}")
        if self.srtp:
            sip += ["media_encryption=srtp", "media_encryption_mandatory=1"]
        if self.registration is None:
            sip.append(f"contact=sip:{self.user}@{LOOPBACK}")
        else:
            sip.append("default_proxy=0")
        # loopback only: without bind_address its SDP names its guess of a public address. Port -1: the
        # kernel's free port; a fixed one taken by another process in the meantime left a call deaf
        # (its SDP still named it while its session bound elsewhere)
        rtp = [
            "[rtp]",
            "bind_address=127.0.0.1",
            "audio_rtp_port=-1",
            "audio_jitt_comp=60",
            "nortp_timeout=30",
        ]
        sound = ["[sound]", "echocancellation=0", "mic_gain_db=0"]
        net = ["[net]", "firewall_policy=0"]
        misc = ["[misc]", "enable_stats=0"]
        codecs = ["[audio_codec_0]", "mime=PCMU", "rate=8000", "channels=1", "enabled=1"]
        parts = [*sip, "", *rtp, "", *sound, "", *net, "", *misc, "", *codecs]
        reg = self.registration
        if reg is not None:
            proxy = f"sip:{reg.host}:{reg.port};transport={reg.transport}"
            parts += [
                "",
                "[proxy_0]",
                f"reg_proxy=<{proxy}>",
                f"reg_identity=sip:{self.user}@{reg.host}",
                "reg_expires=600",
                "reg_sendregister=1",
                "",
                "[auth_info_0]",
                f"username={self.user}",
                f"passwd={reg.password}",
                f"realm={reg.host}",
                f"domain={reg.host}",
            ]
        rc = self.directory / "linphonerc"
        rc.write_text("\n".join(parts) + "\n", encoding="utf-8")
        return rc

    def start(self, timeout: float = 10.0) -> None:
        rc = self._write_config()
        command = [BINARY, "-c", str(rc), "-S", "-d", "5", "-l", str(self.log_path)]
        if self.auto_answer:
            command.append("-a")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            env={**os.environ, "HOME": str(self.directory)},
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"linphonec-{self.user}")
        self._reader.start()
        try:
            self.command("soundcard use files")
            self.command(f"play {self.tone}")
            self.command(f"record {self.recording}")
            self.command("soundcard show")
            self._wait(
                lambda line: "files" in line.lower() and "use" not in line.lower(), timeout, "file mode"
            )
            if self.registration is not None:
                self._wait_registered(timeout)
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        for raw in process.stdout:
            with self._changed:
                self.output.append(raw.decode("utf-8", "replace").rstrip())
                self._changed.notify_all()
        with self._changed:
            self.output.append("(exited)")
            self._changed.notify_all()

    def _wait(self, said: Callable[[str], bool], timeout: float, what: str) -> str:
        def found() -> str | None:
            return next((line for line in self.output if said(line)), None)

        with self._changed:
            self._changed.wait_for(lambda: found() is not None or "(exited)" in self.output, timeout)
            line = found()
        if line is None:
            raise LinphoneError(f"linphonec {self.user}: not {what} within {timeout} s:\n{self.tail()}")
        return line

    def _wait_registered(self, timeout: float) -> None:
        """Ask ``status register`` until it says registered: linphonec prints no registration event.
        Each round waits for its answer (``registered=0`` until the registrar's 200 OK)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            with self._changed:
                mark = len(self.output)
            self.command("status register")
            with self._changed:
                self._changed.wait_for(partial(self._answered, mark), min(left, 2.0))
                answers = [line for line in self.output[mark:] if "registered" in line]
            if any("registered, identity=" in line for line in answers):
                return
            if "(exited)" in self.output:
                break
            with self._changed:  # not yet: give the REGISTER its round trip before asking again
                self._changed.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        raise LinphoneError(f"linphonec {self.user}: not registered within {timeout} s:\n{self.tail()}")

    def _answered(self, mark: int) -> bool:
        return any("registered" in line for line in self.output[mark:]) or "(exited)" in self.output

    def command(self, text: str) -> None:
        process = self._process
        if process is None or process.stdin is None:
            raise LinphoneError("linphonec is not started")
        process.stdin.write(text.encode() + b"\n")
        process.stdin.flush()

    def dial(self, uri: str) -> None:
        self.command(f"call {uri}")

    def send_key(self, key: str) -> None:
        self.command(key)  # a line of keypad characters, in a call, goes out as DTMF

    def hang_up(self) -> None:
        self.command("terminate")

    def wait_established(self, timeout: float) -> None:
        self._wait(lambda line: ESTABLISHED.search(line) is not None, timeout, "in a call")

    def wait_closed(self, timeout: float) -> None:
        self._wait(lambda line: CLOSED.search(line) is not None, timeout, "done with the call")

    def heard(self) -> list[bytes]:
        if not self.recording.is_file():
            raise LinphoneError(f"linphonec {self.user} recorded nothing:\n{self.tail()}")
        return read_frames(self.recording)

    def said_srtp(self) -> bool:
        """Its log says the call's media went SRTP (the offer/answer agreed on SDES keys)."""
        try:
            log = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return False
        return "Negotiated media encryption is LinphoneMediaEncryptionSRTP" in log

    def tail(self, lines: int = 30) -> str:
        with self._changed:
            return "\n".join(self.output[-lines:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None and process.poll() is None:
                try:
                    process.stdin.write(b"quit\n")
                    process.stdin.flush()
                    process.wait(timeout=3)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            stop_group(process)
            if process.stdin is not None:
                process.stdin.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        if process is not None and process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Linphonec:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
