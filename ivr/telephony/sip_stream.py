"""One SIP connection over TCP or TLS: RFC 3261 §18.3 framing, RFC 5626 keep-alives, bounded buffers.

No thread of its own: the transport's reader thread owns every connection and
calls ``on_ready`` when the selector says its socket is ready. A stream carries
messages back to back, each ended by its ``Content-Length`` (one missing is a
400 and the connection is closed); a double CRLF between messages is a
keep-alive ping answered with a single CRLF (pong). What cannot be SIP (a start
line that is neither a request nor a status line, headers or a body over the
bounds) raises :class:`StreamError`: the transport closes this connection and
no other.

TLS (stdlib ``ssl``) runs non-blocking: the handshake is driven by readiness
like everything else, and ``wants_write`` says when the handshake or the
outbox needs the socket writable.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections import deque
from enum import Enum

from ivr.telephony.sip_message import SipParseError, parse, response

Address = tuple[str, int]
MAX_HEADERS = 16 * 1024  # one message's start line and headers
MAX_MESSAGE = 64 * 1024  # one message, headers and body
MAX_OUTBOX = 1024 * 1024  # bytes waiting for the peer to read them
MAX_READS = 32  # reads per readiness event; the selector comes back for more
READ_SIZE = 65536
PING = b"\r\n\r\n"
PONG = b"\r\n"
_START_LINE = re.compile(rb"(SIP/2\.0 [1-6]\d\d .*|[A-Za-z!%*_+`'~.-]+ \S+ SIP/2\.0)")
# its value without the line's CR: Content-Length may be any header, not only the last (linphone's is not)
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*\r?$", re.I | re.M)


class StreamError(Exception):
    """The connection must be closed: the message says why (never a caller's number)."""


class StreamState(Enum):
    CONNECTING = "connecting"  # our non-blocking connect() is under way
    HANDSHAKING = "handshaking"  # TLS
    OPEN = "open"


class SipStream:
    def __init__(
        self,
        sock: socket.socket,
        transport: str,
        peer: Address,
        ident: int,
        now: float,
        *,
        connecting: bool = False,
        tls: ssl.SSLContext | None = None,
        server_side: bool = True,
    ) -> None:
        sock.setblocking(False)
        self.sock: socket.socket = sock
        self.transport = transport  # "TCP" or "TLS"
        self.peer = peer
        self.id = ident
        self.opened = now
        self.last_active = now
        self._tls = tls
        self._server_side = server_side
        self._in = bytearray()
        self._out = bytearray()
        self._handshake_wants_write = False
        self.closing = False  # close once the outbox is written (after a 400)
        self.pings = 0
        self.sent_requests: deque[int] = deque(maxlen=64)  # hashes of requests sent: no retransmissions
        self.alias: Address | None = None  # the Via sent-by the peer's requests name (the transport's)
        self.fallback_udp: list[tuple[bytes, Address]] = []  # §18.1.1: sent over UDP if the connect fails
        self.state = StreamState.CONNECTING if connecting else StreamState.OPEN
        if not connecting and tls is not None:
            self._start_tls()

    # --- what the transport asks ---------------------------------------------------------

    @property
    def wants_write(self) -> bool:
        if self.state is StreamState.CONNECTING:
            return True
        if self.state is StreamState.HANDSHAKING:
            return self._handshake_wants_write
        return bool(self._out)

    @property
    def open(self) -> bool:
        return self.state is StreamState.OPEN

    @property
    def done(self) -> bool:
        """A 400 went out: the connection is to be closed now."""
        return self.closing and not self._out

    def has_buffered(self) -> bool:
        """TLS bytes already decrypted inside ``ssl`` that the selector cannot see."""
        return isinstance(self.sock, ssl.SSLSocket) and self.open and self.sock.pending() > 0

    def queue(self, data: bytes) -> None:
        if len(self._out) + len(data) > MAX_OUTBOX:
            raise StreamError(f"more than {MAX_OUTBOX} bytes wait for the peer to read them")
        self._out += data

    def on_ready(self, readable: bool, writable: bool, now: float) -> list[bytes]:
        """Do what the socket is ready for; returns the whole messages read (OSError/StreamError: close)."""
        messages: list[bytes] = []
        if self.state is StreamState.CONNECTING:
            if not (readable or writable):
                return messages
            error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise ConnectionRefusedError(error, f"connect to {self.peer[0]}:{self.peer[1]} failed")
            self.fallback_udp.clear()
            self.last_active = now
            if self._tls is not None:
                self._start_tls()
            else:
                self.state = StreamState.OPEN
        if self.state is StreamState.HANDSHAKING:
            self._handshake(now)
            if not self.open:
                return messages
            writable = True  # what was queued while the handshake ran
        if readable or self.has_buffered():
            messages = self._read(now)
        if writable and self._out:
            self._write(now)
        return messages

    def close(self) -> None:
        self._in.clear()
        self._out.clear()
        self.sock.close()

    # --- inside --------------------------------------------------------------------------

    def _start_tls(self) -> None:
        assert self._tls is not None
        host = None if self._server_side or not self._tls.check_hostname else self.peer[0]
        self.sock = self._tls.wrap_socket(
            self.sock, server_side=self._server_side, do_handshake_on_connect=False, server_hostname=host
        )
        self.state = StreamState.HANDSHAKING
        self._handshake_wants_write = not self._server_side

    def _handshake(self, now: float) -> None:
        assert isinstance(self.sock, ssl.SSLSocket)
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._handshake_wants_write = False
            return
        except ssl.SSLWantWriteError:
            self._handshake_wants_write = True
            return
        self.state = StreamState.OPEN
        self.last_active = now

    def _read(self, now: float) -> list[bytes]:
        messages: list[bytes] = []
        for _ in range(MAX_READS):
            try:
                chunk = self.sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not chunk:
                raise ConnectionResetError("the peer closed the connection")
            self.last_active = now
            self._in += chunk
            messages += self._frames()
            if self.closing:
                break
        return messages

    def _write(self, now: float) -> None:
        while self._out:
            try:
                sent = self.sock.send(self._out[:READ_SIZE])
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            del self._out[:sent]
            self.last_active = now

    def _frames(self) -> list[bytes]:
        """Whole messages at the head of the input, keep-alives answered; the rest waits."""
        out: list[bytes] = []
        buf = self._in
        while buf and not self.closing:  # each round takes bytes off ``buf`` or leaves the loop
            if len(buf) < len(PING) and PING.startswith(bytes(buf)):
                break  # a ping or a pong, not all here yet
            if buf.startswith(PING):
                del buf[: len(PING)]
                self.pings += 1
                self.queue(PONG)
                continue
            if buf.startswith(b"\r\n"):  # a pong, or CRLF before a message (RFC 3261 §7.5)
                del buf[:2]
                continue
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                if len(buf) > MAX_HEADERS:
                    raise StreamError("no start line in the first bytes: not SIP")
                break
            if not _START_LINE.fullmatch(bytes(buf[:line_end])):
                raise StreamError("the start line is neither a SIP request nor a status line")
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEADERS:
                    raise StreamError(f"headers longer than {MAX_HEADERS} bytes")
                break
            head = bytes(buf[:end])
            found = _CONTENT_LENGTH.search(head)
            if found is None:
                self._missing_length(head)
                break
            if not found.group(1).isdigit():
                raise StreamError("Content-Length is not a number")
            size = end + 4 + int(found.group(1))
            if size > MAX_MESSAGE:
                raise StreamError(f"a message of {size} bytes is over the {MAX_MESSAGE}-byte bound")
            if len(buf) < size:
                break
            out.append(bytes(buf[:size]))
            del buf[:size]
        return out

    def _missing_length(self, head: bytes) -> None:
        """RFC 3261 §18.3: on a stream, Content-Length must be there; a request hears 400, then close."""
        self.closing = True
        self._in.clear()
        try:
            request = parse(head + b"\r\n\r\n")
        except SipParseError as exc:
            raise StreamError(f"no Content-Length, and the message is malformed: {exc}") from None
        if not request.is_request:
            raise StreamError("a response without Content-Length")
        reply = response(request, 400, "Missing Content-Length")
        self.queue(reply.serialize())
