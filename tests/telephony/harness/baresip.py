"""baresip (Debian's 1.0.0) as a caller or a seat, driven over its ``ctrl_tcp`` socket.

Usage::

    with Baresip(tmp_path / "baresip", user="caller", tone=tone_wav) as phone:
        phone.dial("sip:ivr@127.0.0.1:5070")
        phone.wait_established(10)
        phone.send_key("1")
        phone.wait_closed(20)
    frames = phone.heard()        # what it heard, from the sndfile module's WAV

Its config lives in the directory given (``-f``; HOME points there too), audio is
files only: ``aufile`` plays the tone WAV as the microphone, ``sndfile`` writes
what it decodes to ``<dir>/sound/dump-*-dec.wav``. Commands and events are
netstring JSON on ``ctrl_tcp``, read by one thread that the phone owns; waits are
on a condition, bounded. A seat answers by itself (``answermode=auto``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tests.telephony.harness.ports import LOOPBACK, free_udp_port
from tests.telephony.harness.softphone import Registration, read_frames, stop_group

BINARY = "baresip"
MODULES = Path("/usr/lib/baresip/modules")


def baresip_available() -> bool:
    return shutil.which(BINARY) is not None and (MODULES / "ctrl_tcp.so").is_file()


@dataclass
class Events:
    got: list[dict[str, object]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)


class BaresipError(RuntimeError):
    """baresip did not start, or a command failed; the message carries its output's tail."""


class Baresip:
    def __init__(
        self,
        directory: Path,
        *,
        user: str,
        tone: Path,
        registration: Registration | None = None,
        auto_answer: bool = False,
        ca_file: Path | None = None,
        certificate: Path | None = None,
        srtp: bool = False,
    ) -> None:
        self.directory = directory
        self.user = user
        self.tone = tone
        self.registration = registration
        self.auto_answer = auto_answer
        self.ca_file = ca_file
        self.certificate = certificate  # PEM with the key and the chain: baresip's own TLS listener
        self.srtp = srtp  # SRTP only (the srtp module's "srtp-mand": RTP/SAVP with SDES keys)
        self.sip_port = free_udp_port()
        self.ctrl_port = free_udp_port()
        self.events = Events()
        self.output: list[str] = []
        self._output_changed = threading.Condition()
        self._process: subprocess.Popen[bytes] | None = None
        self._ctrl: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # -- addresses ---------------------------------------------------------------

    def contact(self, transport: str = "udp") -> str:
        """The URI that reaches this baresip directly (TLS listens one port above UDP/TCP)."""
        port = self.sip_port + 1 if transport == "tls" else self.sip_port
        return f"sip:{self.user}@{LOOPBACK}:{port};transport={transport}"

    @property
    def sound_dir(self) -> Path:
        return self.directory / "sound"

    # -- set-up ------------------------------------------------------------------

    def _write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sound_dir.mkdir(exist_ok=True)
        lines = [
            "poll_method epoll",
            "net_interface 127.0.0.1",  # loopback only: its SDP and Contact say 127.0.0.1
            f"sip_listen {LOOPBACK}:{self.sip_port}",
            "call_local_timeout 30",
            "call_max_calls 2",
            f"audio_source aufile,{self.tone}",
            "audio_player aufile,/dev/null",  # 1.0.0's aufile is a source only: no player, sndfile records
            "audio_alert aufile,/dev/null",
            "audio_buffer 20-160",
            "jitter_buffer_delay 1-10",
            "rtcp_mux no",
            f"module_path {MODULES}",
            "module g711.so",
            "module aufile.so",
            "module sndfile.so",
            *(["module srtp.so"] if self.srtp else []),
            "module_app account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen {LOOPBACK}:{self.ctrl_port}",
            f"snd_path {self.sound_dir}",
        ]
        if self.ca_file is not None:
            lines.append(f"sip_cafile {self.ca_file}")
        if self.certificate is not None:
            lines.append(f"sip_certificate {self.certificate}")
        (self.directory / "config").write_text("\n".join(lines) + "\n", encoding="utf-8")
        params = ["audio_codecs=PCMU", "answermode=" + ("auto" if self.auto_answer else "manual")]
        if self.srtp:
            params.append("mediaenc=srtp-mand")
        reg = self.registration
        if reg is None:
            aor = f"<sip:{self.user}@{LOOPBACK}>"
            params.append("regint=0")
        else:
            aor = f"<sip:{self.user}@{reg.host}:{reg.port};transport={reg.transport}>"
            params += [f"auth_pass={reg.password}", "regint=600"]
        (self.directory / "accounts").write_text(aor + ";" + ";".join(params) + "\n", encoding="utf-8")
        for name in ("contacts", "current_contact"):
            (self.directory / name).write_text("", encoding="utf-8")

    def start(self, timeout: float = 10.0) -> None:
        self._write_config()
        env = {**os.environ, "HOME": str(self.directory)}
        self._process = subprocess.Popen(
            [BINARY, "-f", str(self.directory), "-v"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            env=env,
            start_new_session=True,
        )
        self._spawn(self._read_output)
        try:
            self._wait_output("baresip is ready", timeout)
            self._ctrl = socket.create_connection((LOOPBACK, self.ctrl_port), timeout=timeout)
            self._ctrl.settimeout(None)
            self._spawn(self._read_ctrl)
            if self.registration is not None:  # its first REGISTER may be answered before ctrl_tcp is up
                self._wait_output(f"{self.user}@", timeout, also="200 OK")
        except BaseException:
            self.stop()
            raise

    def _spawn(self, target: object) -> None:
        thread = threading.Thread(target=target, daemon=True, name=f"baresip-{self.user}")  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _read_output(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        for raw in process.stdout:
            with self._output_changed:
                self.output.append(raw.decode("utf-8", "replace").rstrip())
                self._output_changed.notify_all()
        with self._output_changed:
            self.output.append("(exited)")
            self._output_changed.notify_all()

    def _wait_output(self, text: str, timeout: float, also: str = "") -> None:
        def said() -> bool:
            return any(text in line and also in line for line in self.output)

        with self._output_changed:
            self._output_changed.wait_for(lambda: said() or "(exited)" in self.output, timeout)
            if not said():
                raise BaresipError(
                    f"baresip did not say {text!r} {also!r} within {timeout} s:\n{self.tail()}"
                )

    def _read_ctrl(self) -> None:
        sock = self._ctrl
        assert sock is not None
        buffer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            buffer += chunk
            while b":" in buffer:
                size_text, rest = buffer.split(b":", 1)
                size = int(size_text)
                if len(rest) < size + 1:
                    break
                message = json.loads(rest[:size])
                buffer = rest[size + 1 :]  # the netstring's trailing comma
                with self.events.changed:
                    self.events.got.append(message)
                    self.events.changed.notify_all()

    # -- commands and events -----------------------------------------------------

    def command(self, name: str, params: str = "") -> None:
        sock = self._ctrl
        if sock is None:
            raise BaresipError("baresip is not started")
        body = json.dumps({"command": name, "params": params, "token": name}).encode()
        sock.sendall(str(len(body)).encode() + b":" + body + b",")

    def dial(self, uri: str) -> None:
        self.command("dial", uri)

    def send_key(self, key: str) -> None:
        self.command("sndcode", key)

    def hang_up(self) -> None:
        self.command("hangup")

    def wait_event(self, kind: str, timeout: float) -> dict[str, object]:
        """The first event of this type (``CALL_ESTABLISHED``, ``CALL_CLOSED``, ``REGISTER_OK`` …)."""

        def found() -> dict[str, object] | None:
            return next((e for e in self.events.got if e.get("type") == kind), None)

        with self.events.changed:
            self.events.changed.wait_for(lambda: found() is not None, timeout)
            event = found()
        if event is None:
            raise BaresipError(f"no {kind} from baresip {self.user} within {timeout} s:\n{self.tail()}")
        return event

    def wait_established(self, timeout: float) -> None:
        self.wait_event("CALL_ESTABLISHED", timeout)

    def wait_closed(self, timeout: float) -> None:
        self.wait_event("CALL_CLOSED", timeout)

    def heard(self) -> list[bytes]:
        """What it decoded in its (last) call, as 20 ms frames."""
        dumps = sorted(self.sound_dir.glob("dump-*-dec.wav"), key=lambda p: p.stat().st_mtime)
        if not dumps:
            raise BaresipError(f"baresip {self.user} recorded nothing in {self.sound_dir}:\n{self.tail()}")
        return read_frames(dumps[-1])

    def said_srtp(self) -> bool:
        """Its srtp module said the call's media is SRTP, and no packet failed to decrypt."""
        with self._output_changed:
            said = "\n".join(self.output)
        return "SRTP is Enabled" in said and "failed to decrypt" not in said

    def tail(self, lines: int = 30) -> str:
        with self._output_changed:
            return "\n".join(self.output[-lines:])

    # -- stop --------------------------------------------------------------------

    def stop(self) -> None:
        if self._ctrl is not None:
            self._ctrl.close()
            self._ctrl = None
        process, self._process = self._process, None
        if process is not None:
            stop_group(process)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if process is not None and process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Baresip:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
