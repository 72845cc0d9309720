"""SIP messages (RFC 3261): parse, inspect, build, serialize.

:func:`parse` turns one datagram into a :class:`SipMessage` or raises
:class:`SipParseError` (a ``ValueError``) saying what is wrong, never another
exception type. Header order and the names as written are kept (compact
forms such as ``i`` and ``v`` are expanded to ``Call-ID`` and ``Via``); values
are kept as written, trimmed. :meth:`SipMessage.serialize` writes
``Name: value`` lines with CRLF and recomputes ``Content-Length``, so a
message in that canonical shape round-trips byte for byte.

Lookups are case-insensitive and know the compact forms. ``header(name)``
gives the first header line's value as written; ``all(name)`` gives every
value in order, splitting comma-separated lists for the headers whose
grammar is a list (Via, Route, Record-Route, Contact, Allow, ...).

:class:`Via` implements where a response goes (RFC 3261 §18.2.2 with
RFC 3581 ``rport``). :func:`response` and :func:`request` build messages
(RFC 3261 §8.2.6 and §8.1.1).

Error messages name headers and lines, never caller numbers or URIs' user parts.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

SIP_VERSION = "SIP/2.0"
REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq")
# headers whose grammar allows one value only (RFC 3261 §20): a second one makes the message ambiguous
SINGLE = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type")
BRANCH_MAGIC = "z9hG4bK"

COMPACT = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
LIST_HEADERS = frozenset(
    {
        "via",
        "route",
        "record-route",
        "contact",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "allow-events",
        "content-encoding",
        "in-reply-to",
        "path",
        "service-route",
    }
)
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
# an unquoted display-name word: a token (RFC 3261 §25.1), or UTF-8 text, which phones do send unquoted
_DISPLAY_WORD = re.compile(r"[A-Za-z0-9.!%*_+`'~\u0080-\U0010ffff-]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_SPACE = re.compile(r"\s")
_URI_PARAMS = re.compile(r"[;?]")
# RFC 3261 §20.17: rfc1123-date, always in GMT
_DATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT"
)
_VIA = re.compile(
    r"\s*([A-Za-z0-9.!%*_+`'~-]+)\s*/\s*([0-9.]+)\s*/\s*([A-Za-z0-9.!%*_+`'~-]+)\s+(\S.*)$", re.S
)


class SipParseError(ValueError):
    """Bytes or a header value that are not a well-formed SIP message or field."""


class RandomSource(Protocol):
    """What the id generators need from a random source (``random.Random`` fits)."""

    def getrandbits(self, k: int, /) -> int: ...


@functools.lru_cache(maxsize=512)  # a few dozen names in practice; looked up dozens of times a message
def _key(name: str) -> str:
    """A header name for comparison: lower case, compact form expanded."""
    name = name.strip()
    return COMPACT.get(name.lower(), name).lower()


@functools.lru_cache(maxsize=512)  # the same few dozen names, as each sender writes them
def _header_name(text: str) -> str | None:
    """A header line's name as the message keeps it (compact forms expanded), None if no token."""
    name = text.strip()
    if not _TOKEN.fullmatch(name):
        return None
    return COMPACT.get(name.lower(), name) if len(name) == 1 else name


@functools.lru_cache(maxsize=512)
def _name_and_key(text: str) -> tuple[str, str] | None:
    """:func:`_header_name` and :func:`_key` of a header line's name in one look (the parser's loop)."""
    written = _header_name(text)
    return None if written is None else (written, _key(written))


_LENGTH_INITIALS = ("C", "c", "L", "l", " ", "\t")  # what a Content-Length name may start with (as written)
_REQUIRED_KEYS = tuple((name, _key(name)) for name in REQUIRED)
_SINGLE_KEYS = tuple((name, _key(name)) for name in SINGLE)


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quoted strings and ``<...>``."""
    if "," not in value:  # one item: the common case, and no character-by-character walk
        item = value.strip()
        return [item] if item else []
    out: list[str] = []
    start = 0
    quoted = False
    angle = False
    i = 0
    while i < len(value):
        c = value[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "<":
            angle = True
        elif c == ">":
            angle = False
        elif c == "," and not angle:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    out.append(value[start:].strip())
    return [v for v in out if v]


# --- hosts, URIs, name-addr ---------------------------------------------------------------------


def _split_hostport(text: str, what: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"{what}: IPv6 reference has no closing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise SipParseError(f"{what}: unexpected text after the IPv6 reference")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_ = text.partition(":")
        port_text = port_text_ if colon else None
    if not host:
        raise SipParseError(f"{what}: empty host")
    if port_text is None:
        return host, None
    port_text = port_text.strip()
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SipParseError(f"{what}: port {port_text!r} is not 1..65535")
    return host, int(port_text)


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def format_hostport(host: str, port: int | None = None) -> str:
    """``host:port`` as SIP writes it: an IPv6 address in brackets (``[::1]:5070``)."""
    return _format_host(host) if port is None else f"{_format_host(host)}:{port}"


def _split_uri(uri: str) -> tuple[str, str]:
    uri = uri.strip()
    if uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1]
    scheme, colon, rest = uri.partition(":")
    if not colon or not scheme:
        raise SipParseError("URI has no scheme")
    return scheme.lower(), rest


def uri_user(uri: str) -> str | None:
    """The user part of a SIP URI (``sip:alice@host`` gives ``alice``), the number of a tel URI, or ``None``."""
    scheme, rest = _split_uri(uri)
    if scheme == "tel":
        return rest.split(";", 1)[0] or None
    at = rest.rfind("@", 0, len(rest.split("?", 1)[0]))
    if at < 0:
        return None
    return rest[:at].split(":", 1)[0] or None


@functools.lru_cache(maxsize=1024)  # each INVITE's From, To and Contact: the same peers' URIs again and again
def uri_hostport(uri: str) -> tuple[str, int]:
    """Host and port of a sip/sips URI; the port defaults to 5060 (5061 for sips). IPv6 without brackets."""
    scheme, rest = _split_uri(uri)
    if scheme not in ("sip", "sips"):
        raise SipParseError(f"URI scheme {scheme!r} has no host (expected sip or sips)")
    at = rest.rfind("@", 0, len(rest.split("?", 1)[0]))
    hostport = _URI_PARAMS.split(rest[at + 1 :], maxsplit=1)[0]
    host, port = _split_hostport(hostport, "URI")
    return host, port if port is not None else (5061 if scheme == "sips" else 5060)


def uri_transport(uri: str) -> str | None:
    """The transport a URI asks for: ``;transport=tcp`` gives ``"TCP"``, ``sips:`` ``"TLS"``; else ``None``."""
    try:
        scheme, rest = _split_uri(uri)
    except SipParseError:
        return None
    for param in rest.split("?", 1)[0].split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "transport" and value.strip():
            return value.strip().upper()
    return "TLS" if scheme == "sips" else None


def _parse_params(text: str, what: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    text = text.strip()
    if not text:
        return params
    if not text.startswith(";"):
        raise SipParseError(f"{what}: unexpected text where ';' parameters should be")
    for part in text[1:].split(";"):
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if not name:
            continue
        params[name] = value.strip() if eq else None
    return params


@functools.lru_cache(maxsize=2048)  # a peer's Contact and To, the registrar's Record-Route: again and again
def parse_name_addr(value: str) -> tuple[str, str, Mapping[str, str | None]]:
    """``"Alice" <sip:a@h>;tag=1`` into ``("Alice", "sip:a@h", {"tag": "1"})``.

    Accepts quoted or token display names and bare addr-specs (whose
    ``;`` parameters belong to the header, RFC 3261 §20.10). Parameter names
    are lower-cased; a parameter without ``=`` maps to ``None``. The answer for
    one value is kept and shared: its parameters are read, never changed.
    """
    text = value.strip()
    display = ""
    if text.startswith('"'):
        chars: list[str] = []
        i = 1
        while True:
            if i >= len(text):
                raise SipParseError("name-addr: unterminated quoted display name")
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                chars.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                break
            chars.append(c)
            i += 1
        display = "".join(chars)
        text = text[i + 1 :].lstrip()
        if not text.startswith("<"):
            raise SipParseError("name-addr: a quoted display name must be followed by <URI>")
    lt = text.find("<")
    if lt >= 0:
        if not display:
            display = text[:lt].strip()
            if display and not all(_DISPLAY_WORD.fullmatch(word) for word in display.split()):
                raise SipParseError(
                    "name-addr: a display name with other than token characters must be quoted"
                )
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("name-addr: '<' without a closing '>'")
        uri, rest = text[lt + 1 : gt], text[gt + 1 :]
        if uri != uri.strip():
            raise SipParseError("name-addr: spaces inside <...> around the URI")
    else:
        uri, semi, rest_ = text.partition(";")
        uri, rest = uri.strip(), semi + rest_
        if _SPACE.search(uri):
            raise SipParseError("name-addr: a URI with spaces must be in <...>")
        if "?" in uri or "," in uri:  # RFC 3261 §20.10: such a URI must be enclosed in <...>
            raise SipParseError("name-addr: a URI with '?' or ',' must be in <...>")
    if not uri:
        raise SipParseError("name-addr: empty URI")
    if _SPACE.search(uri):
        raise SipParseError("name-addr: spaces within the URI")
    _split_uri(uri)
    return display, uri, _parse_params(rest, "name-addr")


# --- Via ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;rport``. IPv6 hosts are kept without brackets."""

    transport: str
    host: str
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    protocol: str = SIP_VERSION

    @classmethod
    def parse(cls, value: str) -> Via:
        m = _VIA.match(value)
        if m is None:
            raise SipParseError("Via: expected 'SIP/2.0/<transport> <host>[:port]'")
        name, version, transport, rest = m.groups()
        if name.upper() != "SIP" or version != "2.0":  # SIP/2.0
            raise SipParseError(f"Via: protocol {name}/{version} is not SIP/2.0")
        if "(" in rest:
            rest = re.sub(r"\(.*?\)", "", rest)  # comments
        sent_by, _, param_text = rest.partition(";")
        host, port = _split_hostport(sent_by, "Via sent-by")
        if _SPACE.search(host):
            raise SipParseError("Via: sent-by host contains spaces")
        params: list[tuple[str, str | None]] = []
        for part in param_text.split(";") if param_text else []:
            pname, eq, pvalue = part.partition("=")
            pname = pname.strip()
            if not pname:
                raise SipParseError("Via: empty parameter")
            params.append((pname, pvalue.strip() if eq else None))
        return cls(transport=transport.upper(), host=host, port=port, params=tuple(params))

    def __str__(self) -> str:
        return self._written(self.params)

    @property
    def sent_by(self) -> str:
        host = _format_host(self.host)
        return host if self.port is None else f"{host}:{self.port}"

    def has_param(self, name: str) -> bool:
        return any(n.lower() == name.lower() for n, _ in self.params)

    def param(self, name: str) -> str | None:
        for n, v in self.params:
            if n.lower() == name.lower():
                return v
        return None

    @property
    def branch(self) -> str | None:
        return self.param("branch")

    @property
    def received(self) -> str | None:
        return self.param("received")

    @property
    def rport(self) -> int | None:
        """The rport value a server filled in; ``None`` when absent or requested without a value."""
        value = self.param("rport")
        return int(value) if value is not None and value.isdigit() else None

    def with_param(self, name: str, value: str | None) -> Via:
        """This Via with ``name`` set (replaced in place when present, else appended)."""
        params = list(self.params)
        for i, (n, _) in enumerate(params):
            if n.lower() == name.lower():
                params[i] = (n, value)
                break
        else:
            params.append((name, value))
        return Via(self.transport, self.host, self.port, tuple(params), self.protocol)

    def response_address(self, source: tuple[str, int]) -> tuple[str, int]:
        """Where to send the response to a request that arrived from ``source`` with this top Via.

        RFC 3261 §18.2.2 for unreliable unicast: the ``maddr`` if any; else the
        ``received`` address, which a server records whenever the packet's
        source differs from the sent-by host; RFC 3581: the source port when
        ``rport`` is present, else the sent-by port (5060, 5061 for TLS).
        """
        src_ip, src_port = source
        default_port = 5061 if self.transport == "TLS" else 5060
        maddr = self.param("maddr")
        if maddr:
            return maddr, self.port or default_port
        host = self.received or (src_ip if src_ip != self.host else self.host)
        if self.has_param("rport"):
            return host, self.rport if self.rport is not None else src_port
        return host, self.port or default_port

    def with_received(self, source: tuple[str, int]) -> str:
        """The Via value as a server records it on receipt: ``received`` and a filled ``rport``.

        ``received`` is added when the source address differs from the sent-by
        host, and always when ``rport`` was requested (RFC 3581 §4).
        """
        src_ip, src_port = source
        requested = self.has_param("rport")
        if not requested and src_ip == self.host:
            return str(self)
        params = list(self.params)
        filled = [("received", src_ip), ("rport", str(src_port))] if requested else [("received", src_ip)]
        for name, value in filled:
            for i, (n, _) in enumerate(params):  # replaced in place when present, else appended
                if n.lower() == name:
                    params[i] = (n, value)
                    break
            else:
                params.append((name, value))
        return self._written(params)

    def _written(self, params: Iterable[tuple[str, str | None]]) -> str:
        """This Via as written, with ``params`` for its parameters."""
        return f"{self.protocol}/{self.transport} {self.sent_by}" + "".join(
            f";{name}" if value is None else f";{name}={value}" for name, value in params
        )


# --- messages -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SipMessage:
    """A SIP request (``method``, ``uri``) or response (``status``, ``reason``).

    For a response ``method`` and ``uri`` are ``""``; for a request ``status``
    is 0 and ``reason`` ``""``. ``headers`` keeps order and the names as written.
    """

    is_request: bool
    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # header key -> values in order, built on the first look (a message's headers are never changed
    # in place: with_header and without_header make a new message); the SIP thread looks a header
    # up some fifty times per INVITE, so each look is one dict access rather than a scan of them all
    _index: dict[str, list[str]] | None = field(default=None, init=False, repr=False, compare=False)
    _top_via: Via | None = field(default=None, init=False, repr=False, compare=False)
    # From, To and Contact as parse_name_addr reads them, on the first look: parsed once per message, not
    # on every from_tag, to_tag, arrival check and dialog (the tuple's dict is never changed by its readers)
    _addrs: dict[str, tuple[str, str, Mapping[str, str | None]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def parse(cls, data: bytes) -> SipMessage:
        return parse(data)

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = _indexed([_key(n) for n, _ in self.headers], self.headers)
            object.__setattr__(self, "_index", index)
        return index

    def _values(self, name: str) -> list[str]:
        return self._lookup().get(_key(name), [])

    def header(self, name: str) -> str | None:
        """The first header line's value for ``name`` (any case, compact forms too), as written."""
        values = self._values(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        """Every value for ``name`` in order; comma lists split for list headers (Via, Route, Contact...)."""
        key = _key(name)
        values = self._lookup().get(key)
        if not values:  # most headers asked for on arrival (Route, Record-Route, Require) are not there
            return []
        if key in LIST_HEADERS and not (key == "contact" and values == ["*"]):
            return [item for v in values for item in split_list(v)]
        return list(values)

    def _required(self, name: str) -> str:
        value = self.header(name)
        if value is None:
            raise SipParseError(f"missing {name} header")
        return value

    @property
    def call_id(self) -> str:
        return self._required("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        """(sequence number, method) from CSeq."""
        return _parse_cseq(self._required("CSeq"))

    @property
    def from_tag(self) -> str | None:
        return self.name_addr("From")[2].get("tag")

    @property
    def to_tag(self) -> str | None:
        return self.name_addr("To")[2].get("tag")

    def name_addr(self, name: str) -> tuple[str, str, Mapping[str, str | None]]:
        """``parse_name_addr`` of the first ``name`` header line (From, To, Contact), read once per message."""
        addrs = self._addrs
        if addrs is None:
            addrs = {}
            object.__setattr__(self, "_addrs", addrs)
        key = _key(name)
        found = addrs.get(key)
        if found is None:
            found = addrs[key] = parse_name_addr(self._required(name))
        return found

    @property
    def top_via(self) -> Via:
        if self._top_via is not None:
            return self._top_via
        vias = self.all("Via")
        if not vias:
            raise SipParseError("missing Via header")
        via = Via.parse(vias[0])
        object.__setattr__(self, "_top_via", via)
        return via

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.all("Via")]

    @property
    def start_line(self) -> str:
        if self.is_request:
            return f"{self.method} {self.uri} {SIP_VERSION}"
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def with_header(self, name: str, value: str) -> SipMessage:
        """A copy with the first ``name`` header replaced by ``value`` (appended before Content-Length if absent)."""
        key = _key(name)
        headers = list(self.headers)
        for i, (n, _) in enumerate(headers):
            if _key(n) == key:
                headers[i] = (n, value)
                break
        else:
            at = next((i for i, (n, _) in enumerate(headers) if _key(n) == "content-length"), len(headers))
            headers.insert(at, (name, value))
        return _copy(self, headers)

    def without_header(self, name: str) -> SipMessage:
        """A copy without any ``name`` header."""
        key = _key(name)
        return _copy(self, [(n, v) for n, v in self.headers if _key(n) != key])

    def serialize(self) -> bytes:
        """Wire bytes: CRLF lines, ``Content-Length`` set to the body's length (added at the end if absent)."""
        lines = [self.start_line]
        has_length = False
        for name, value in self.headers:
            if name[:1] in _LENGTH_INITIALS and _key(name) == "content-length":  # Content-Length, l
                if has_length:
                    continue
                has_length = True
                value = str(len(self.body))
            lines.append(f"{name}: {value}")
        if not has_length:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def _copy(message: SipMessage, headers: list[tuple[str, str]]) -> SipMessage:
    return SipMessage(
        is_request=message.is_request,
        method=message.method,
        uri=message.uri,
        status=message.status,
        reason=message.reason,
        headers=headers,
        body=message.body,
    )


def _indexed(keys: list[str], headers: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Header key -> its values in order, from each line's key and the lines themselves."""
    index: dict[str, list[str]] = {}
    for key, (_, value) in zip(keys, headers, strict=True):
        values = index.get(key)
        if values is None:
            index[key] = [value]
        else:
            values.append(value)
    return index


def _first(index: dict[str, list[str]], key: str) -> str | None:
    values = index.get(key)
    return values[0] if values else None


def _parse_cseq(value: str) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or not _TOKEN.fullmatch(parts[1]):
        raise SipParseError("CSeq must be '<number> <method>'")
    number = int(parts[0])
    if number >= 2**31:
        raise SipParseError(f"CSeq number {number} is not below 2**31")
    return number, parts[1]


def is_keepalive(data: bytes) -> bool:
    """Whether a datagram is a CRLF keep-alive (RFC 5626) rather than a message."""
    return not data.strip(b"\r\n")


def parse(data: bytes) -> SipMessage:
    """Parse one SIP message from a datagram; raises :class:`SipParseError` saying what is wrong."""
    if not data.strip(b"\r\n\t "):
        raise SipParseError("empty message (a CRLF keep-alive is not a SIP message)")
    data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: ignore CRLFs before the start line
    end = data.find(b"\r\n\r\n")
    newline = "\r\n"
    if end < 0:
        end = data.find(b"\n\n")
        newline = "\n"
        if end < 0:
            raise SipParseError("no blank line ends the headers")
    head, rest = data[:end], data[end + 2 * len(newline) :]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"headers are not valid UTF-8 (byte {exc.start})") from None
    lines = text.split(newline)
    if newline == "\n":
        lines = [ln.rstrip("\r") for ln in lines]
    start = lines[0]
    is_request, method, uri, status, reason = _parse_start_line(start)
    headers: list[tuple[str, str]] = []
    keys: list[str] = []  # each line's key, for the index (a continuation changes a value, not the keys)
    for number, line in enumerate(lines[1:], start=2):
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError(f"line {number}: continuation line before any header")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"line {number}: header line has no ':'")
        named = _name_and_key(name)
        if named is None:
            raise SipParseError(f"line {number}: bad header name {name.strip()[:30]!r}")
        headers.append((named[0], value.strip()))
        keys.append(named[1])
    message = SipMessage(
        is_request=is_request, method=method, uri=uri, status=status, reason=reason, headers=headers
    )
    index = _indexed(keys, headers)  # each name's key found once, as the lines were read
    object.__setattr__(message, "_index", index)
    missing = [h for h, key in _REQUIRED_KEYS if key not in index]
    if missing:
        raise SipParseError(f"missing required header{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    for name, key in _SINGLE_KEYS:  # none of them is a list header: each line is one value
        if len(index.get(key, ())) > 1:
            raise SipParseError(f"more than one {name} header")
    _, cseq_method = _parse_cseq(index["cseq"][0])
    if is_request and cseq_method != method:
        raise SipParseError(f"CSeq method {cseq_method} does not match the request method {method}")
    message.top_via  # noqa: B018 - validates the top Via
    for name in ("From", "To"):
        try:
            message.name_addr(name)
        except SipParseError as exc:
            raise SipParseError(f"{name}: {exc}") from None
    max_forwards = _first(index, "max-forwards")
    if max_forwards is not None and not (max_forwards.isdigit() and int(max_forwards) <= 255):
        raise SipParseError(f"Max-Forwards {max_forwards[:20]!r} is not 0..255")
    date = _first(index, "date")
    if date is not None and not _DATE.fullmatch(date):
        raise SipParseError("Date is not an RFC 1123 date in GMT")
    length_text = _first(index, "content-length")
    body = rest
    if length_text is not None:
        if not length_text.isdigit():
            raise SipParseError(f"Content-Length {length_text[:20]!r} is not a number")
        length = int(length_text)
        if length > len(rest):
            raise SipParseError(f"Content-Length is {length} but the body has {len(rest)} bytes")
        body = rest[:length]  # RFC 3261 §18.3: bytes beyond Content-Length are discarded
    # the body set in place on the message just made (no reader has it yet): what was read of its
    # headers while checking them (index, top Via, From and To) stays with it
    object.__setattr__(message, "body", body)
    return message


def _parse_start_line(start: str) -> tuple[bool, str, str, int, str]:
    if not start.strip():
        raise SipParseError("no start line")
    if start.startswith("SIP/"):
        parts = start.split(" ", 2)
        if parts[0] != SIP_VERSION:
            raise SipParseError(f"unsupported SIP version {parts[0][:20]!r} in status line")
        if (
            len(parts) < 2
            or not (len(parts[1]) == 3 and parts[1].isdigit())
            or not 100 <= int(parts[1]) <= 699
        ):
            code = parts[1] if len(parts) > 1 else ""
            raise SipParseError(f"bad status code {code[:20]!r} in status line (expected 100..699)")
        return False, "", "", int(parts[1]), parts[2] if len(parts) > 2 else ""
    parts = start.split(" ")
    if len(parts) != 3:
        raise SipParseError("request line must be '<METHOD> <Request-URI> SIP/2.0'")
    method, uri, version = parts
    if not _TOKEN.fullmatch(method):
        raise SipParseError(f"bad method {method[:20]!r} in request line")
    if version != SIP_VERSION:
        raise SipParseError(f"unsupported SIP version {version[:20]!r} in request line")
    scheme, colon, rest = uri.partition(":")
    if not colon:
        raise SipParseError("Request-URI has no scheme")
    if not _SCHEME.fullmatch(scheme):
        raise SipParseError("Request-URI does not start with a URI scheme")
    if scheme.lower() in ("sip", "sips") and "?" in rest[rest.find("@") + 1 :]:
        # RFC 3261 §19.1.5: headers in a SIP URI are for building a request, never in a Request-URI
        raise SipParseError("Request-URI carries headers ('?...')")
    return True, method, uri, 0, ""


# --- building -----------------------------------------------------------------------------------


def response(
    request: SipMessage,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
    source: tuple[str, int] | None = None,
) -> SipMessage:
    """A response to ``request`` (RFC 3261 §8.2.6).

    Copies every Via in order (with ``received``/``rport`` filled on the top
    one when ``source`` is given), From, To (adding ``;tag=to_tag`` when To has
    no tag yet), Call-ID and CSeq. Then ``headers`` as passed (Server, Allow,
    Contact, and Record-Route for dialog-creating responses, RFC 3261
    §12.1.1), Content-Type, Content-Length.
    """
    out = _response_headers(request, status, to_tag, headers, body, content_type, source)
    return SipMessage(is_request=False, status=status, reason=reason, headers=out, body=body)


def response_wire(
    request: SipMessage,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
    source: tuple[str, int] | None = None,
) -> bytes:
    """:func:`response`'s wire bytes, written straight from its lines: the same bytes as
    ``response(...).serialize()``, without the message between (every INVITE's 180 is one)."""
    out = _response_headers(request, status, to_tag, headers, body, content_type, source)
    head = "\r\n".join([f"{SIP_VERSION} {status} {reason}", *[f"{name}: {value}" for name, value in out]])
    return (head + "\r\n\r\n").encode("utf-8") + body


def _response_headers(
    request: SipMessage,
    status: int,
    to_tag: str | None,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    content_type: str | None,
    source: tuple[str, int] | None,
) -> list[tuple[str, str]]:
    if not request.is_request:
        raise ValueError("can only respond to a request")
    if not 100 <= status <= 699:
        raise ValueError(f"status must be 100..699, got {status}")
    vias = request.all("Via")
    if source is not None and vias:
        vias[0] = request.top_via.with_received(source)
    out: list[tuple[str, str]] = [("Via", v) for v in vias]
    to = request._required("To")
    if to_tag is not None and request.to_tag is None:
        to = f"{to};tag={to_tag}"
    out += [
        ("From", request._required("From")),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", request._required("CSeq")),
    ]
    # Content-Length is the body's, written last: one passed in would be a second, and wrong
    out += [(name, value) for name, value in headers if _key(name) != "content-length"]
    if content_type is not None:
        out.append(("Content-Type", content_type))
    out.append(("Content-Length", str(len(body))))
    return out


def request(
    method: str,
    uri: str,
    *,
    via: Via | str,
    from_: str,
    to: str,
    call_id: str,
    cseq: int,
    contact: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
    max_forwards: int = 70,
) -> SipMessage:
    """A request (RFC 3261 §8.1.1): Via, Max-Forwards, From, To, Call-ID, CSeq, Contact, ``headers``..."""
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"bad method {method!r}")
    if not 0 <= cseq < 2**31:
        raise ValueError(f"CSeq number must be 0..2**31-1, got {cseq}")
    out: list[tuple[str, str]] = [
        ("Via", str(via)),
        ("Max-Forwards", str(max_forwards)),
        ("From", from_),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
    ]
    if contact is not None:
        out.append(("Contact", contact))
    out += list(headers)
    if content_type is not None:
        out.append(("Content-Type", content_type))
    out.append(("Content-Length", str(len(body))))
    return SipMessage(is_request=True, method=method, uri=uri, headers=out, body=body)


def _random_hex(bits: int, rng: RandomSource | None) -> str:
    value = secrets.randbits(bits) if rng is None else rng.getrandbits(bits)
    return f"{value:0{bits // 4}x}"


def new_tag(rng: RandomSource | None = None) -> str:
    """A From/To tag: 64 random bits in hex."""
    return _random_hex(64, rng)


def new_branch(rng: RandomSource | None = None) -> str:
    """A Via branch with the RFC 3261 magic cookie ``z9hG4bK``."""
    return BRANCH_MAGIC + _random_hex(64, rng)


def new_call_id(host: str, rng: RandomSource | None = None) -> str:
    """A Call-ID: 128 random bits in hex, ``@host``."""
    return f"{_random_hex(128, rng)}@{host}"
