"""A real Kamailio registrar/proxy on 127.0.0.1, run by the tests themselves.

Usage::

    with kamailio_server(users={"ivr": "secret", "caller": "secret"}) as registrar:
        host, port = registrar.address          # ("127.0.0.1", 5xxxx)
        ...                                      # register peers at it, call through it
        registrar.restart()                      # same port, bindings forgotten

The config (``kamailio.cfg.tmpl``) listens on UDP 127.0.0.1:<port> only, keeps
the location table in memory (``usrloc`` db_mode 0) and reads users from a
db_text ``subscriber`` table in a private temp dir. Routing:

- REGISTER: digest challenge (401, realm = From domain, no qop), then ``save``;
- initial requests to a user: ``lookup("location")`` then ``t_relay``, 404 if not
  registered (INVITE/SUBSCRIBE are record-routed);
- in-dialog requests: ``loose_route`` or, with no Route header, relay to the R-URI;
- CANCEL: relayed when it matches an INVITE transaction;
- OPTIONS to the proxy itself (no user part in the R-URI): 200.

The process runs in the foreground (``-DD -E``) in its own process group, logs to
``<dir>/kamailio.log`` (a file, so a chatty proxy can never block on a full pipe)
and is stopped with SIGTERM, then SIGKILL after a bounded wait.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.telephony.harness.ports import LOOPBACK, free_udp_port

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "kamailio.cfg.tmpl"
DBTEXT_TEMPLATE = HERE / "dbtext"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")

DEFAULT_USERS: Mapping[str, str] = {
    "ivr": "secret",
    "caller": "secret",
    "seat1001": "secret",
    "seat1002": "secret",
}

KAMAILIO_BINARY = "kamailio"


class KamailioError(RuntimeError):
    """Kamailio did not start, or died; the message carries the tail of its log."""


def kamailio_available() -> bool:
    return shutil.which(KAMAILIO_BINARY) is not None


def stop_service(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float) -> int | None:
    """A service started in its own process group (Kamailio, ``ivr serve``) stopped as its init system
    would: SIGTERM to the service alone (so it drains), up to ``timeout`` s, then SIGKILL to the group;
    children that outlived it (they share its group) are killed too. Its exit status."""
    try:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


def sip_options_ping(host: str, port: int, timeout: float = 0.5) -> int | None:
    """Send one OPTIONS to ``sip:host:port`` from a fresh UDP socket; the reply's status code, or None.

    Waits for the reply with a blocking receive bounded by ``timeout``.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        local_port = sock.getsockname()[1]
        tag = uuid.uuid4().hex[:10]
        request = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOOPBACK}:{local_port};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{LOOPBACK}>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}@{LOOPBACK}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            f"Contact: <sip:probe@{LOOPBACK}:{local_port}>\r\n"
            "Accept: application/sdp\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.settimeout(timeout)
        try:
            sock.sendto(request.encode("ascii"), (host, port))
            data = sock.recv(65535)
        except (TimeoutError, ConnectionRefusedError):
            return None
    first = data.split(b"\r\n", 1)[0].split()
    if len(first) < 2 or not first[0].startswith(b"SIP/2.0") or not first[1].isdigit():
        return None
    return int(first[1])


@dataclass(frozen=True, slots=True)
class KamailioSettings:
    """Knobs of the rendered config; the defaults suit short tests."""

    debug: int = 2  # 2 = info: one line per request with log_requests
    children: int = 2
    fr_timer_ms: int = 5000  # non-INVITE final reply / INVITE first reply timeout
    fr_inv_timer_ms: int = 60000  # INVITE final reply timeout after a provisional
    max_expires: int = 3600
    log_requests: bool = True
    register_challenge: int = 401  # 401 (WWW-Authenticate) or 407 (Proxy-Authenticate) for REGISTER
    tls_cert: Path | None = None  # with tls_key: TLS on a second port too (Debian's kamailio-tls-modules)
    tls_key: Path | None = None
    tcp: bool = False  # TCP too, on the UDP port


def kamailio_tls_available() -> bool:
    """Whether Kamailio's TLS module is installed (Debian package kamailio-tls-modules)."""
    return kamailio_available() and (MODULES / "tls.so").is_file()


REGISTER_AUTH = {
    401: '\tif (!auth_check("$fd", "subscriber", "1")) {\n\t\twww_challenge("$fd", "0");\n\t\texit;\n\t}',
    407: '\tif (!proxy_authenticate("$fd", "subscriber")) {\n\t\tproxy_challenge("$fd", "0");\n\t\texit;\n\t}',
}


def render_config(
    port: int, db_dir: Path, settings: KamailioSettings | None = None, tls_port: int | None = None
) -> str:
    """The text of kamailio.cfg for one run (TLS on ``tls_port`` when the settings name a certificate)."""
    s = settings or KamailioSettings()
    tls = s.tls_cert is not None and s.tls_key is not None and tls_port is not None
    values = {
        "PORT": str(port),
        "DBURL": f"text://{db_dir}",
        "DEBUG": str(s.debug),
        "CHILDREN": str(s.children),
        "FR_TIMER": str(s.fr_timer_ms),
        "FR_INV_TIMER": str(s.fr_inv_timer_ms),
        "MAX_EXPIRES": str(s.max_expires),
        "LOG_REQUESTS": "1" if s.log_requests else "0",
        "REGISTER_AUTH": REGISTER_AUTH[s.register_challenge],
        "DISABLE_TCP": "no" if tls or s.tcp else "yes",
        "TLS_LISTEN": "\n".join(
            ([f"listen=tcp:{LOOPBACK}:{port}"] if s.tcp else [])
            + ([f"enable_tls=yes\nlisten=tls:{LOOPBACK}:{tls_port}"] if tls else [])
        ),
        "TLS_MODULE": f'loadmodule "tls.so"\nmodparam("tls", "config", "{db_dir.parent / "tls.cfg"}")'
        if tls
        else "",
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    if "@@" in text:
        at = text.index("@@")
        raise ValueError(f"unrendered placeholder in {TEMPLATE}: {text[at : at + 30]!r}")
    return text


class Kamailio:
    """One Kamailio process on ``127.0.0.1:port``; restartable on the same port and directory."""

    def __init__(
        self,
        port: int | None = None,
        *,
        users: Mapping[str, str] | None = None,
        directory: Path | None = None,
        settings: KamailioSettings | None = None,
    ) -> None:
        self.host = LOOPBACK
        self.port = port if port is not None else free_udp_port()
        self._users: dict[str, str] = dict(DEFAULT_USERS if users is None else users)
        self._own_directory = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="ivr-kamailio-")) if directory is None else directory
        self.settings = settings or KamailioSettings()
        tls = self.settings.tls_cert is not None and self.settings.tls_key is not None
        self.tls_port: int | None = free_udp_port() if tls else None  # TCP too: checked at start
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: int | None = None
        self.starts = 0

    # -- paths and addresses -------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def uri(self) -> str:
        """The proxy's own SIP URI, ``sip:127.0.0.1:PORT``."""
        return f"sip:{self.host}:{self.port}"

    def aor(self, user: str) -> str:
        """The URI callers dial to reach a registered ``user`` through this proxy."""
        return f"sip:{user}@{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.directory / "kamailio.cfg"

    @property
    def log_path(self) -> Path:
        return self.directory / "kamailio.log"

    @property
    def db_dir(self) -> Path:
        return self.directory / "db"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def users(self) -> Mapping[str, str]:
        return dict(self._users)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- set-up ----------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add a subscriber (plain password); takes effect at the next start."""
        if not name or any(c in name for c in ":@ \n\\") or any(c in password for c in ":\n\\"):
            raise ValueError(f"user name or password not storable in db_text: {name!r}")
        self._users[name] = password

    def _prepare(self) -> None:
        self.db_dir.mkdir(parents=True, exist_ok=True)
        (self.directory / "run").mkdir(exist_ok=True)
        shutil.copyfile(DBTEXT_TEMPLATE / "version", self.db_dir / "version")
        rows = [(DBTEXT_TEMPLATE / "subscriber").read_text(encoding="utf-8").rstrip("\n")]
        for number, (name, password) in enumerate(sorted(self._users.items()), start=1):
            rows.append(f"{number}:{name}:{self.host}:{password}::")
        (self.db_dir / "subscriber").write_text("\n".join(rows) + "\n", encoding="utf-8")
        self.config_path.write_text(
            render_config(self.port, self.db_dir, self.settings, self.tls_port), encoding="utf-8"
        )
        s = self.settings
        if s.tls_cert is not None and s.tls_key is not None:
            (self.directory / "tls.cfg").write_text(
                "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
                f"private_key = {s.tls_key}\ncertificate = {s.tls_cert}\n\n"
                "[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n",
                encoding="utf-8",
            )

    # -- lifecycle -------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start and wait (at most ``timeout`` s) until it answers OPTIONS; KamailioError otherwise."""
        if self.running():
            raise KamailioError(f"kamailio already running on {self.host}:{self.port}")
        self._prepare()
        command = self._command()
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts + 1}: {' '.join(command)}\n".encode())
            log.flush()
            try:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd=self.directory,
                    start_new_session=True,
                )
            except OSError as error:
                raise KamailioError(f"cannot run {KAMAILIO_BINARY}: {error}") from error
        self.starts += 1
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _command(self) -> list[str]:
        """Kamailio in the foreground, logging to stderr, its files in the run's directory."""
        return [
            KAMAILIO_BINARY,
            "-DD",
            "-E",
            "-f",
            str(self.config_path),
            "-P",
            str(self.directory / "kamailio.pid"),
            "-Y",
            str(self.directory / "run"),
            "-w",
            str(self.directory),
            "-m",
            "64",
            "-M",
            "8",
        ]

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        attempts = max(1, int(timeout / 0.2) + 1)
        for _ in range(attempts):
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise KamailioError(f"kamailio exited with {code} during start-up:\n{self.log_tail()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if sip_options_ping(self.host, self.port, timeout=min(0.2, remaining)) == 200:
                return
        raise KamailioError(
            f"kamailio did not answer OPTIONS on {self.host}:{self.port} within {timeout} s:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL the whole process group. The exit code."""
        process = self._process
        if process is None:
            return None
        self._process = None
        return stop_service(process, timeout)

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same port; registrations (in memory) are gone afterwards."""
        self.stop()
        self.start(timeout=timeout)

    def close(self) -> None:
        """Stop and remove the temp directory (when this object made it)."""
        self.stop()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no kamailio log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Kamailio:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextlib.contextmanager
def kamailio_server(
    users: Mapping[str, str] | None = None,
    port: int | None = None,
    settings: KamailioSettings | None = None,
) -> Iterator[Kamailio]:
    """A started Kamailio, stopped and cleaned up on exit (whatever happens inside)."""
    server = Kamailio(port, users=users, settings=settings)
    try:
        server.start()
        yield server
    finally:
        server.close()
