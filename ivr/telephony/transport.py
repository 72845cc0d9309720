"""The SIP edge's sockets: UDP, TCP and TLS (RFC 3261 §18), IPv4 or IPv6, on one reader thread.

One thread owns every socket: it blocks in a selector on the UDP socket, the
TCP and TLS listening sockets, each connection (:mod:`ivr.telephony.sip_stream`)
and a wake-up pipe, so it spends nothing while the line is quiet and stops at
once when asked. A handler that fails on one message is logged with its
traceback and the next message is read; a connection that sends what cannot
be SIP is closed without touching the others; a connection with no traffic
for ``idle_s`` is closed.

Every message reaches the handler with its :class:`Source`: the address, the
transport and the connection it came over. ``send(data, address)`` is the only
way out, from any thread, and does the transport layer's part of RFC 3261:

- a response goes back the way its request came (§18.2.2): over the very
  connection the request arrived on (found by the request's Via branch), over
  UDP when it came over UDP;
- a request goes over the transport its top Via names, reusing a connection
  to the address (the peer's, or the Via sent-by it wrote in its requests
  when that names the peer's own host: RFC 5923's idea) before opening one; the transport layer writes the Via's
  transport and sent-by (§18.1.1);
- a request for UDP larger than 1300 bytes (MTU − 200) goes over TCP, and
  over UDP after all when the TCP connection cannot be made (§18.1.1);
- a request sent again on the connection that already carried it (the
  line's timers retransmit whatever the transport) is not: a stream is reliable;
- a datagram for a host *name* (a Contact's) is handed to :mod:`ivr.telephony.name_lookup`,
  which looks the name up and sends it from its own worker: the sending thread (the
  media clock, for a BYE) never waits on a resolver.

After each wake-up's messages (a burst of datagrams read back to back, a
connection's messages) the owner's ``on_read`` is called once, on the reader
thread: what the burst set in motion (the line's media clock) starts after the
burst, not in the middle of it.

UDP is written straight from the caller's thread; a stream is written only
by the reader thread (an ``ssl`` socket is not safe across threads): ``send``
queues and wakes it. Should the thread itself die anyway, ``failure`` keeps
why and ``on_failure`` tells the owner at once.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import logging
import os
import re
import selectors
import socket
import ssl
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ivr.telephony.name_lookup import NameLookup, is_address
from ivr.telephony.realtime import SIP_PRIORITY, ask_for_realtime
from ivr.telephony.sip_message import format_hostport
from ivr.telephony.sip_stream import SipStream, StreamError

log = logging.getLogger(__name__)
Address = tuple[str, int]
MAX_DATAGRAM = 65535
UDP_LIMIT = 1300  # RFC 3261 §18.1.1: MTU 1500 − 200
IDLE_S = 300.0  # a connection with no traffic this long is closed
HANDSHAKE_S = 10.0  # a connect and TLS handshake must be done in this long
MAX_STREAMS = 512
MAX_PENDING = 4096  # stream messages queued for the reader thread
MAX_BRANCHES = 8192  # requests remembered to send their responses back on their connection
MAX_ACCEPTS = 16  # connections accepted per readiness event
MAX_BURST = 64  # datagrams read per readiness event (then the streams get their turn)
BIND_TRIES = 20
_VIA = re.compile(
    rb"^(?:via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*([A-Za-z]+)[ \t]+([^;,\r\n]*?)[ \t]*(?=[;,\r\n])",
    re.I | re.M,
)
_BRANCH = re.compile(rb"[; \t]branch[ \t]*=[ \t]*([^;,\s]+)", re.I)


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from: the peer's address, the transport, the connection (streams only)."""

    address: Address
    transport: str = "UDP"  # "UDP", "TCP" or "TLS"
    connection: int | None = None


@dataclass(frozen=True, slots=True)
class TlsListen:
    """A TLS listening address and the server context (certificate and key loaded)."""

    bind: Address
    context: ssl.SSLContext


@dataclass
class TransportStats:
    accepted: int = 0
    connected: int = 0  # connections we opened
    closed_bad: int = 0  # closed for sending what is not SIP, or over a bound
    closed_idle: int = 0
    pings: int = 0  # CRLF keep-alives answered
    over_tcp_for_size: int = 0  # requests for UDP sent over TCP (§18.1.1)
    dropped: int = 0  # stream messages that could not be queued
    not_retransmitted: int = 0  # a request again on the same connection: reliable, so not sent twice


@dataclass(frozen=True, slots=True)
class _Outbound:
    data: bytes
    address: Address
    transport: str
    connection: int | None  # the connection a response's request came over
    udp_fallback: bytes | None  # §18.1.1: the request as it would have gone over UDP


def normal(address: Iterable[object]) -> Address:
    """``(host, port)`` from a socket address (IPv6's are 4-tuples), the host in its compressed form."""
    host, port = list(address)[:2]
    return _normal(str(host), int(str(port)))


@functools.lru_cache(maxsize=1024)  # every datagram's source: the same few peers again and again
def _normal(text: str, port: int) -> Address:
    try:
        text = ipaddress.ip_address(text).compressed
    except ValueError:
        text = text.lower()
    return text, port


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class SipTransport:
    def __init__(
        self,
        bind: Address,
        on_message: Callable[[bytes, Source], None],
        realtime: bool = False,
        *,
        transports: Iterable[str] = ("udp", "tcp"),
        tls: TlsListen | None = None,
        tls_client: ssl.SSLContext | None = None,
        idle_s: float = IDLE_S,
        max_streams: int = MAX_STREAMS,
        on_failure: Callable[[BaseException], None] = lambda exc: None,
        on_read: Callable[[], None] = lambda: None,
    ) -> None:
        self._on_message = on_message
        self._on_read = on_read
        self._on_failure = on_failure
        self.failure: BaseException | None = None
        self._realtime = realtime
        self.realtime = False  # the thread got real-time scheduling
        self.transports = frozenset(t.upper() for t in transports) | ({"TLS"} if tls else frozenset())
        self._idle_s = idle_s
        self._max_streams = max_streams
        self.sock, self._tcp = _bind_pair(bind, "TCP" in self.transports)
        self.address: Address = normal(self.sock.getsockname())
        self._tls: socket.socket | None = None
        self.tls_address: Address | None = None
        if tls is not None:
            try:
                self._tls = _listen(tls.bind)
            except OSError:
                self._close_sockets()
                raise
            self.tls_address = normal(self._tls.getsockname())
        self._tls_server = tls.context if tls is not None else None
        self._tls_client = tls_client
        self._names = NameLookup(self.sock.family)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._selector.register(self.sock, selectors.EVENT_READ, "udp")
        if self._tcp is not None:
            self._selector.register(self._tcp, selectors.EVENT_READ, "TCP")
        if self._tls is not None:
            self._selector.register(self._tls, selectors.EVENT_READ, "TLS")
        self._lock = threading.Lock()  # guards _outbound and _branches (any thread)
        self._outbound: deque[_Outbound] = deque()
        self._branches: OrderedDict[bytes, tuple[int, str]] = (
            OrderedDict()
        )  # stream request's branch → connection
        self._streams: dict[int, SipStream] = {}  # the reader thread's alone, as are the two below
        self._interest: dict[int, int] = {}
        self._routes: dict[tuple[str, Address], int] = {}  # (transport, peer or Via sent-by) → connection
        self._next_id = 1
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.handler_errors = 0
        self.stats = TransportStats()

    # --- the owner's side --------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sip-transport", daemon=True)
        self._thread.start()

    def local(self, transport: str = "UDP") -> Address:
        """Our address for ``transport``: what Via sent-by and Contact name."""
        if transport.upper() == "TLS" and self.tls_address is not None:
            return self.tls_address
        return self.address

    def send(self, data: bytes, address: Address) -> None:
        """Send a message (any thread): a response back the way its request came, a request over
        the transport its top Via names (see the module's docstring)."""
        connection: int | None = None
        fallback: bytes | None = None
        if data.startswith(b"SIP/2.0 "):
            hit = None
            if self._branches:  # requests came over a connection (filled before they are handled)
                branch = _branch(data, _top_via(data))
                with self._lock:
                    hit = self._branches.get(branch) if branch else None
            connection, transport = hit if hit is not None else (None, "UDP")
        else:
            via = _top_via(data)
            named = via.group(1).decode("ascii").upper() if via is not None else "UDP"
            transport = named if named in ("TCP", "TLS") else "UDP"
            if transport == "UDP" and len(data) > UDP_LIMIT and "TCP" in self.transports:
                transport, fallback = "TCP", data
                self.stats.over_tcp_for_size += 1
            if via is not None and transport != "UDP":
                data = self._with_via(data, via, transport)
        if transport == "UDP":
            if is_address(address[0]):
                self._sendto(data, address)
            else:  # a name (a Contact's host): looked up on the lookup's worker, never on this thread
                self._names.send(data, address, self._sendto)
            return
        with self._lock:
            if len(self._outbound) >= MAX_PENDING:
                self.stats.dropped += 1
                log.warning(
                    "SIP send queue full: %d bytes to %s dropped", len(data), format_hostport(*address)
                )
                return
            self._outbound.append(_Outbound(data, normal(address), transport, connection, fallback))
        self._wake()

    def stop(self) -> None:
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._names.close()
        for stream in list(self._streams.values()):
            self._drop(stream, "the line is closing")
        self._selector.close()
        self._close_sockets()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # --- the reader thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._read()
        except BaseException as exc:  # surfaced to the owner, who decides
            self.failure = exc
            log.exception("the SIP transport stopped on an error")
            self._on_failure(exc)  # the owner decides; not raised again into threading's hook

    def _read(self) -> None:
        if self._realtime:
            self.realtime = ask_for_realtime("the SIP transport", SIP_PRIORITY)
        while not self._stopping:
            for key, mask in self._selector.select(self._timeout()):
                if self._stopping:
                    return
                what = key.data
                if what == "wake":
                    self._drain_wake()
                elif what == "udp":
                    self._read_datagram()
                elif what in ("TCP", "TLS"):
                    self._accept(what)
                elif isinstance(what, SipStream) and what.id in self._streams:
                    self._service(what, mask)
            if self._stopping:
                return
            now = _now()
            self._take_outbound(now)
            for stream in list(self._streams.values()):
                if stream.has_buffered():
                    self._service(stream, 0)
            self._on_read()  # every message this wake-up brought is handled: a burst, once
            self._close_idle(now)
            self._update_interest()

    def _timeout(self) -> float | None:
        if not self._streams:
            return None
        if any(s.has_buffered() for s in self._streams.values()):
            return 0.0
        return max(0.0, min(self._deadline(s) for s in self._streams.values()) - _now())

    def _deadline(self, stream: SipStream) -> float:
        return stream.last_active + self._idle_s if stream.open else stream.opened + HANDSHAKE_S

    def _read_datagram(self) -> None:
        """Every datagram waiting (up to ``MAX_BURST``): a burst of INVITEs is answered back to back,
        without a trip through the selector and the stream bookkeeping between two of them."""
        flags = 0  # the first read: the selector said one is there
        for _ in range(MAX_BURST):
            try:
                data, source = self.sock.recvfrom(MAX_DATAGRAM, flags)
            except BlockingIOError:  # no more waiting
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on the next read
                log.debug("SIP socket read failed: %s", exc)
                return
            self._deliver(data, Source(normal(source)))
            flags = socket.MSG_DONTWAIT

    def _accept(self, transport: str) -> None:
        listener = self._tcp if transport == "TCP" else self._tls
        assert listener is not None
        for _ in range(MAX_ACCEPTS):
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. out of file descriptors: the next readiness tries again
                log.warning("cannot accept a SIP %s connection: %s", transport, exc)
                return
            if len(self._streams) >= self._max_streams:
                log.warning("%d SIP connections open: one more is refused", len(self._streams))
                sock.close()
                continue
            self.stats.accepted += 1
            tls = self._tls_server if transport == "TLS" else None
            try:
                stream = SipStream(sock, transport, normal(peer), self._new_id(), _now(), tls=tls)
            except OSError as exc:
                log.info("SIP %s connection from %s failed at once: %s", transport, peer[0], exc)
                sock.close()
                continue
            self._add(stream)

    def _service(self, stream: SipStream, mask: int) -> None:
        try:
            messages = stream.on_ready(
                bool(mask & selectors.EVENT_READ), bool(mask & selectors.EVENT_WRITE), _now()
            )
        except StreamError as exc:
            self.stats.closed_bad += 1
            self._drop(stream, str(exc))
            return
        except OSError as exc:  # reset, refused, a TLS alert: this connection only
            self._drop(stream, str(exc) or type(exc).__name__)
            return
        self.stats.pings += stream.pings
        stream.pings = 0
        for data in messages:
            if not data.startswith(b"SIP/2.0 "):
                self._remember(stream, data)
            self._deliver(data, Source(stream.peer, stream.transport, stream.id))
            if stream.id not in self._streams:
                return
        if stream.done:
            self._drop(stream, "a message without Content-Length was answered 400")

    def _deliver(self, data: bytes, source: Source) -> None:
        try:
            self._on_message(data, source)
        except Exception:
            self.handler_errors += 1
            log.exception(
                "a SIP message over %s from %s could not be handled",
                source.transport,
                format_hostport(*source.address),
            )

    def _remember(self, stream: SipStream, request: bytes) -> None:
        """A request over ``stream``: its responses go back on it, and requests to its Via sent-by may too."""
        via = _top_via(request)
        branch = _branch(request, via)
        if branch:
            with self._lock:
                self._branches[branch] = (stream.id, stream.transport)
                self._branches.move_to_end(branch)
                while len(self._branches) > MAX_BRANCHES:
                    self._branches.popitem(last=False)
        sent_by = _sent_by(via, stream.transport) if via is not None else None
        # one alias a connection, and only on the peer's own host: a Via naming someone else must not
        # draw their requests to this connection, nor a flood of Vias grow the table
        if sent_by is not None and sent_by[0] == stream.peer[0] and stream.alias is None:
            stream.alias = sent_by
            self._routes.setdefault((stream.transport, sent_by), stream.id)

    def _take_outbound(self, now: float) -> None:
        with self._lock:
            items = list(self._outbound)
            self._outbound.clear()
        for item in items:
            stream = self._stream_for(item, now)
            if stream is None:
                continue
            if _retransmitted(stream, item.data):
                self.stats.not_retransmitted += 1
                continue
            try:
                stream.queue(item.data)
            except StreamError as exc:
                self.stats.closed_bad += 1
                self._drop(stream, str(exc))
                continue
            if item.udp_fallback is not None and not stream.open:
                stream.fallback_udp.append((item.udp_fallback, item.address))
            if stream.open:
                self._service(stream, selectors.EVENT_WRITE)

    def _stream_for(self, item: _Outbound, now: float) -> SipStream | None:
        if item.connection is not None and item.connection in self._streams:
            return self._streams[item.connection]
        # a request, or a response whose connection is gone: one to the address, else a new one (§18.2.2)
        found = self._routes.get((item.transport, item.address))
        if found is not None and found in self._streams:
            return self._streams[found]
        return self._connect(item.transport, item, now)

    def _connect(self, transport: str, item: _Outbound, now: float) -> SipStream | None:
        if len(self._streams) >= self._max_streams:
            log.warning("%d SIP connections open: no new one to %s", len(self._streams), item.address[0])
            return None
        tls: ssl.SSLContext | None = None
        if transport == "TLS":
            if self._tls_client is None:
                self._tls_client = ssl.create_default_context()
            tls = self._tls_client
        sock = socket.socket(family_of(item.address[0]), socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(item.address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            sock.close()
            log.info(
                "cannot connect over %s to %s: %s",
                transport,
                format_hostport(*item.address),
                os.strerror(code),
            )
            if item.udp_fallback is not None:
                self._sendto(item.udp_fallback, item.address)
            return None
        self.stats.connected += 1
        stream = SipStream(
            sock, transport, item.address, self._new_id(), now, connecting=True, tls=tls, server_side=False
        )
        self._add(stream)
        return stream

    def _add(self, stream: SipStream) -> None:
        self._streams[stream.id] = stream
        self._routes[(stream.transport, stream.peer)] = stream.id
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if stream.wants_write else 0)
        self._selector.register(stream.sock.fileno(), events, stream)
        self._interest[stream.id] = events

    def _drop(self, stream: SipStream, why: str) -> None:
        if self._streams.pop(stream.id, None) is None:
            return
        log.info("SIP %s connection with %s closed: %s", stream.transport, format_hostport(*stream.peer), why)
        self._interest.pop(stream.id, None)
        try:
            self._selector.unregister(stream.sock.fileno())
        except (KeyError, ValueError):  # never registered, or the socket is already closed
            log.debug("connection %d was not registered", stream.id)
        for key in [k for k, v in self._routes.items() if v == stream.id]:
            del self._routes[key]
        fallback = list(stream.fallback_udp)
        stream.close()
        for data, address in fallback:  # §18.1.1: TCP failed for a request meant for UDP
            self._sendto(data, address)

    def _close_idle(self, now: float) -> None:
        for stream in list(self._streams.values()):
            if now >= self._deadline(stream):
                self.stats.closed_idle += 1
                self._drop(stream, "idle" if stream.open else "not open in time")

    def _update_interest(self) -> None:
        for stream in self._streams.values():
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if stream.wants_write else 0)
            if self._interest.get(stream.id) != events:
                self._selector.modify(stream.sock.fileno(), events, stream)
                self._interest[stream.id] = events

    # --- small parts -------------------------------------------------------------------

    def _sendto(self, data: bytes, address: Address) -> None:
        try:
            self.sock.sendto(data, address)
        except OSError as exc:  # an unreachable peer must not take the line down; it is logged
            log.warning("could not send %d bytes to %s: %s", len(data), format_hostport(*address), exc)

    def _with_via(self, data: bytes, via: re.Match[bytes], transport: str) -> bytes:
        """The request with its top Via naming ``transport`` and our sent-by for it (§18.1.1)."""
        host, port = self.local(transport)
        sent_by = format_hostport(host, port).encode()
        return (
            data[: via.start(1)]
            + transport.encode()
            + data[via.end(1) : via.start(2)]
            + sent_by
            + data[via.end(2) :]
        )

    def _new_id(self) -> int:
        ident = self._next_id
        self._next_id += 1
        return ident

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:  # the pipe is full: the reader is already woken
            return

    def _drain_wake(self) -> None:
        while True:
            try:
                if not os.read(self._wake_r, 4096):
                    return
            except BlockingIOError:
                return

    def _close_sockets(self) -> None:
        for sock in (self.sock, self._tcp, self._tls):
            if sock is not None:
                sock.close()


def _now() -> float:
    return time.monotonic()


def _retransmitted(stream: SipStream, data: bytes) -> bool:
    """Whether ``data`` is a request this connection already carried: a retransmission, which a
    reliable transport does not need (RFC 3261 §17.1.1.2, §17.1.2.2: timers A and E are UDP's).
    ACKs go again (one per retransmitted 2xx); responses too (a 2xx is retransmitted end to end)."""
    if data.startswith((b"SIP/2.0 ", b"ACK ")):
        return False
    key = hash(data)
    if key in stream.sent_requests:
        return True
    stream.sent_requests.append(key)
    return False


def _top_via(data: bytes) -> re.Match[bytes] | None:
    end = data.find(b"\r\n\r\n")
    return _VIA.search(data, 0, end if end >= 0 else len(data))


def _branch(data: bytes, via: re.Match[bytes] | None) -> bytes:
    if via is None:
        return b""
    line_end = data.find(b"\r\n", via.end())
    found = _BRANCH.search(data, via.end(2), line_end if line_end >= 0 else len(data))
    return found.group(1) if found else b""


def _sent_by(via: re.Match[bytes], transport: str) -> Address | None:
    text = via.group(2).decode("ascii", "replace").strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    port = int(port_text) if port_text.isdigit() else (5061 if transport == "TLS" else 5060)
    try:
        return normal((host, port))
    except ValueError:
        return None


def _listen(bind: Address) -> socket.socket:
    sock = socket.socket(family_of(bind[0]), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(bind)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _bind_pair(bind: Address, tcp: bool) -> tuple[socket.socket, socket.socket | None]:
    """The UDP socket and (with ``tcp``) a TCP listener on the same port; a port 0 bind may try again."""
    for _ in range(BIND_TRIES):
        udp = socket.socket(family_of(bind[0]), socket.SOCK_DGRAM)
        try:
            udp.bind(bind)
        except OSError:
            udp.close()
            raise
        if not tcp:
            return udp, None
        try:
            return udp, _listen((bind[0], udp.getsockname()[1]))
        except OSError as exc:
            udp.close()
            if bind[1] != 0 or exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, f"no port on {bind[0]} is free for both UDP and TCP")
