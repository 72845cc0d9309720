"""``ivr.toml``: the line's settings, typed and strict (unknown keys are errors that name the key)."""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import tomllib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ivr.errors import ConfigError, Problem
from ivr.records.store import check_url


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _hostport(value: str, default_port: int) -> tuple[str, int]:
    if value.startswith("["):  # IPv6: [::1]:5070
        host, closing, rest = value[1:].partition("]")
        if not closing or (rest and not rest.startswith(":")):
            raise ValueError(f"'{value}' is not [IPv6 address]:port")
        port = rest[1:] if rest else str(default_port)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"'{value}': '{host}' is not an IPv6 address") from None
    elif value.count(":") > 1:
        raise ValueError(f"'{value}': write an IPv6 address in brackets, as [::1]:5070")
    else:
        host, _, port = value.rpartition(":") if ":" in value else (value, "", str(default_port))
    if not host:
        raise ValueError(f"'{value}' is not host:port")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"'{value}': the port must be 1–65535")
    return host, int(port)


Transport = Literal["udp", "tcp"]


def _udp_and_tcp() -> list[Transport]:
    return ["udp", "tcp"]


class SipSettings(Strict):
    mode: Literal["direct", "register"] = "direct"
    bind: str = "127.0.0.1:5070"
    allow: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"], description="direct mode: who may call"
    )
    transports: list[Transport] = Field(
        default_factory=_udp_and_tcp,
        description="on the bind address: UDP (always) and TCP (RFC 3261 §18); TLS is on with tls_bind",
    )
    tcp_idle: float = Field(
        default=300.0,
        ge=1,
        le=86400,
        description="a TCP or TLS connection without traffic this long is closed",
    )
    tls_bind: str | None = Field(
        default=None, description="TLS listening host:port (needs tls_cert, tls_key)"
    )
    tls_cert: str | None = Field(default=None, description="the TLS certificate chain, a PEM file")
    tls_key: str | None = Field(default=None, description="the TLS certificate's private key, a PEM file")
    rtp_ports: str = "20000-20999"
    max_calls: int = Field(default=100, ge=1, le=1000)
    server: str | None = Field(default=None, description="register mode: the registrar, host:port")
    register_transport: Literal["udp", "tcp", "tls"] = Field(
        default="udp",
        description="register mode: REGISTER goes to the server over this; our Contact names it, so the "
        'registrar\'s calls come back over it too (tcp needs "tcp" in transports, tls needs tls_bind)',
    )
    tls_ca: str | None = Field(
        default=None,
        description="the CA certificates, a PEM file, that a TLS server we connect to (the registrar, a "
        "seat) must be signed by; default: the system's",
    )
    username: str | None = None
    password: str | None = None
    expires: int = Field(default=300, ge=60, le=86400, description="register mode: expiry asked for, seconds")
    grace: float = Field(
        default=20.0, ge=0, le=300, description="on SIGTERM, seconds live calls may take to finish"
    )
    media_timeout: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="a call whose far end (caller or seat) sends no RTP for this many seconds has lost its "
        "phone without a BYE: the line ends it (the caller, if still there, hears the goodbye); 0: never",
    )
    session_min_se: int = Field(
        default=90,
        ge=1,
        le=86400,
        description="RFC 4028: the shortest session interval a caller may ask for (a shorter one is 422 with "
        "this Min-SE); the RFC's floor is 90 s: less is for tests",
    )
    srtp: Literal["off", "offer", "require"] = Field(
        default="offer",
        description='SRTP (SDES keys, RFC 4568): "offer" answers an RTP/SAVP offer with SRTP and an RTP/AVP '
        'one with plain RTP; "require" refuses plain offers (488) and rings seats with SRTP; "off" refuses '
        "SRTP offers (488)",
    )
    realtime: bool = Field(
        default=True,
        description="the media clock's thread asks for real-time scheduling (SCHED_FIFO); it needs root "
        "or CAP_SYS_NICE, and without them the line says so and runs at normal priority",
    )

    @field_validator("media_timeout")
    @classmethod
    def _media_timeout(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError(
                "under 1 s would end calls over an ordinary network hiccup; use 0 to turn it off"
            )
        return value

    @field_validator("transports")
    @classmethod
    def _with_udp(cls, value: list[str]) -> list[str]:
        if "udp" not in value:
            raise ValueError(
                '"udp" cannot be left out (registrar, seats and most phones use it); add "tcp" to it'
            )
        return value

    @field_validator("tls_cert", "tls_key", "tls_ca")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Path(value).read_bytes()
            except OSError as exc:
                raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
        return value

    @model_validator(mode="after")
    def _tls_complete(self) -> SipSettings:
        given = {k: getattr(self, k) for k in ("tls_bind", "tls_cert", "tls_key")}
        missing = [k for k, v in given.items() if v is None]
        if len(missing) == 3:
            return self
        if missing:
            present = ", ".join(k for k in given if k not in missing)
            raise ValueError(
                f"TLS needs tls_bind, tls_cert and tls_key: {present} given, {', '.join(missing)} not"
            )
        self.tls_listen()  # the certificate and key load, and belong together
        return self

    @field_validator("bind", "server", "tls_bind")
    @classmethod
    def _is_hostport(cls, value: str | None) -> str | None:
        if value is not None:
            _hostport(value, 5060)
        return value

    @field_validator("allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"'{net}' is not an address or network such as 127.0.0.0/8") from None
        return value

    @field_validator("rtp_ports")
    @classmethod
    def _port_range(cls, value: str) -> str:
        low, _, high = value.partition("-")
        if not (low.isdigit() and high.isdigit() and 1024 <= int(low) < int(high) < 65536):
            raise ValueError(f"'{value}' is not a port range such as 20000-20999")
        return value

    @model_validator(mode="after")
    def _register_needs_server(self) -> SipSettings:
        if self.mode == "register":
            missing = [k for k in ("server", "username", "password") if getattr(self, k) is None]
            if missing:
                raise ValueError(f'mode = "register" needs {", ".join(missing)}')
            if self.register_transport == "tcp" and "tcp" not in self.transports:
                raise ValueError('register_transport = "tcp" needs "tcp" in transports (the calls come back)')
            if self.register_transport == "tls" and self.tls_bind is None:
                raise ValueError(
                    'register_transport = "tls" needs tls_bind, tls_cert and tls_key (the calls come back)'
                )
        return self

    @property
    def bind_address(self) -> tuple[str, int]:
        return _hostport(self.bind, 5060)

    def tls_listen(self) -> tuple[tuple[str, int], ssl.SSLContext] | None:
        """The TLS address and a server context with the certificate loaded; None when TLS is off."""
        if self.tls_bind is None or self.tls_cert is None or self.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except ssl.SSLError as exc:
            raise ValueError(
                f"tls_cert {self.tls_cert} and tls_key {self.tls_key} are not a PEM certificate and its "
                f"private key ({exc.reason or exc})"
            ) from None
        except OSError as exc:
            raise ValueError(f"tls_cert/tls_key: cannot read them: {exc}") from None
        return _hostport(self.tls_bind, 5061), context

    def tls_client(self) -> ssl.SSLContext | None:
        """The context for TLS connections we open: trusting ``tls_ca``; None: the system's CAs."""
        if self.tls_ca is None:
            return None
        try:
            return ssl.create_default_context(cafile=self.tls_ca)
        except ssl.SSLError as exc:
            raise ValueError(f"tls_ca {self.tls_ca} is not PEM certificates ({exc.reason or exc})") from None

    @property
    def server_address(self) -> tuple[str, int] | None:
        return _hostport(self.server, 5060) if self.server else None

    @property
    def rtp_range(self) -> range:
        low, high = self.rtp_ports.split("-")
        return range(int(low), int(high) + 1)

    def allows(self, ip: str) -> bool:
        return _allowed(ip, tuple(self.allow))


class LineSettings(Strict):
    flow: str = "flows/desk.yaml"
    locale: str = "zh-CN"
    seats: str | None = None
    timezone: str = Field(
        default="Asia/Shanghai",
        description="the desk's time zone (IANA name): the flow's hours and dates are read in it",
    )
    node: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="this line's name among lines sharing a register ([records] url): on its calls and "
        "calls in progress; unset: the host name and the SIP bind port (host:5070)",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Asia/Shanghai") from None
        return value


class RecordsSettings(Strict):
    path: str = Field(default="var/ivr.db", description="the register in one SQLite file (the default)")
    url: SecretStr | None = Field(
        default=None,
        description="instead of path: postgresql://user@host:5432/database, shared by several lines "
        "(the password from PGPASSWORD or ~/.pgpass, or in the URL: never printed)",
    )

    @model_validator(mode="before")
    @classmethod
    def _path_or_url(cls, data: object) -> object:
        if isinstance(data, dict) and "path" in data and "url" in data:
            raise ValueError("give either path (an SQLite file) or url (a PostgreSQL database), not both")
        return data

    @field_validator("url")
    @classmethod
    def _is_postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_url(value.get_secret_value())
        return value

    def target(self, root: Path) -> Path | str:
        """Where the register is: the URL, or the file under the line's folder ``root``."""
        return self.url.get_secret_value() if self.url is not None else root / self.path


class HearingSettings(Strict):
    vosk_model: str | None = Field(
        default=None, description="a vosk model directory; none: keys and line handling only"
    )


class ConsoleSettings(Strict):
    bind: str = Field(default="127.0.0.1:8080", description="where `ivr console` serves its web page")
    secure_cookies: bool = Field(
        default=False, description="mark the session cookie Secure (set it when the console is behind HTTPS)"
    )

    @field_validator("bind")
    @classmethod
    def _is_hostport(cls, value: str) -> str:
        _hostport(value, 8080)
        return value

    @property
    def bind_address(self) -> tuple[str, int]:
        return _hostport(self.bind, 8080)


class IvrConfig(Strict):
    sip: SipSettings = Field(default_factory=SipSettings)
    line: LineSettings = Field(default_factory=LineSettings)
    records: RecordsSettings = Field(default_factory=RecordsSettings)
    hearing: HearingSettings = Field(default_factory=HearingSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @property
    def node(self) -> str:
        """This line's name in the register: ``[line] node``, or the host name and the SIP bind port."""
        if self.line.node is not None:
            return self.line.node
        return f"{socket.gethostname()}:{self.sip.bind_address[1]}"


def load_config(path: Path) -> IvrConfig:
    """Read ``ivr.toml``; every problem names the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([Problem(path, 0, "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        line = int(str(exc).rsplit("line ", 1)[1].split(",")[0]) if "line " in str(exc) else 0
        raise ConfigError([Problem(path, line, f"TOML: {exc}")]) from None
    try:
        return IvrConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                message = f"unknown key '{key}'"
            elif err["type"] == "missing":
                message = f"missing key '{key}'"
            else:
                message = f"{key}: {str(err['msg']).removeprefix('Value error, ')}"
            problems.append(Problem(path, _line_of_key(path, err["loc"]), message))
        raise ConfigError(problems) from None


def _line_of_key(path: Path, loc: tuple[int | str, ...]) -> int:
    """The line that sets ``loc``'s last key inside its [table] (0 if not found)."""
    table = ".".join(str(p) for p in loc[:-1])
    key = str(loc[-1])
    current = ""
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line.strip("[]").strip()
            if current == ".".join(str(p) for p in loc):
                return n
        elif current == table and line.split("=", 1)[0].strip() == key:
            return n
    return 0


# asked on every request in direct mode: the same few peers again and again
@functools.lru_cache(maxsize=1024)
def _allowed(ip: str, allow: tuple[str, ...]) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(net, strict=False) for net in allow)
