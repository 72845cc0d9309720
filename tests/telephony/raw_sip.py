"""A caller made of two bare UDP sockets, for SIP tests that need to break the rules on purpose.

``RawCaller`` sends exactly the SIP it is told to (a Via naming another
address, a retransmitted INVITE, an ACK withheld, a re-INVITE, an INVITE after
the call is over) and records every message and RTP packet that reaches it,
with its arrival time. It answers requests from the far end (the bot's BYE)
with 200 itself. No threads: every read is a blocking read bounded by a
deadline.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from ivr.telephony import sdp
from ivr.telephony.rtp import RtpPacket
from ivr.telephony.sip_message import (
    SipMessage,
    SipParseError,
    new_branch,
    new_call_id,
    new_tag,
    parse,
    request,
    response,
)
from tests.telephony.harness.ports import LOOPBACK, PortRange

Address = tuple[str, int]


@dataclass
class Heard:
    at: float
    message: SipMessage
    to: Address  # which of the caller's sockets it reached


@dataclass
class RawDialog:
    call_id: str
    from_tag: str
    branch: str
    invite: SipMessage
    to_tag: str | None = None
    cseq: int = 1


@dataclass
class RawCaller:
    rtp: PortRange
    user: str = "13900000000"
    sip: socket.socket = field(init=False)
    media: socket.socket = field(init=False)
    heard: list[Heard] = field(default_factory=list)
    extra: list[socket.socket] = field(default_factory=list)  # more SIP sockets (another address)

    def __post_init__(self) -> None:
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((LOOPBACK, 0))
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.media.bind((LOOPBACK, self.rtp.low + self.rtp.low % 2))

    @property
    def port(self) -> int:
        port: int = self.sip.getsockname()[1]
        return port

    @property
    def rtp_port(self) -> int:
        port: int = self.media.getsockname()[1]
        return port

    def another_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOOPBACK, 0))
        self.extra.append(sock)
        return sock

    def close(self) -> None:
        for sock in (self.sip, self.media, *self.extra):
            sock.close()

    def __enter__(self) -> RawCaller:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- sending ---------------------------------------------------------------------------

    def invite(
        self,
        target: Address,
        *,
        uri: str | None = None,
        codecs: tuple[str, ...] = ("PCMU",),
        via_port: int | None = None,
        rport: bool = True,
        send: bool = True,
        crypto: tuple[sdp.Crypto, ...] = (),
    ) -> RawDialog:
        uri = uri or f"sip:desk@{target[0]}:{target[1]}"
        call_id, tag, branch = new_call_id(LOOPBACK), new_tag(), new_branch()
        via = f"SIP/2.0/UDP {LOOPBACK}:{via_port or self.port};branch={branch}" + (";rport" if rport else "")
        body = sdp.offer(LOOPBACK, self.rtp_port, session_id=4242, codecs=codecs, crypto=crypto)
        msg = request(
            "INVITE",
            uri,
            via=via,
            from_=f"<sip:{self.user}@{LOOPBACK}>;tag={tag}",
            to=f"<{uri}>",
            call_id=call_id,
            cseq=1,
            contact=f"<sip:{self.user}@{LOOPBACK}:{self.port}>",
            body=body,
            content_type="application/sdp",
        )
        if send:  # else the test adds headers first and sends ``dialog.invite`` itself
            self.send(msg, target)
        return RawDialog(call_id, tag, branch, msg)

    def send(self, msg: SipMessage | bytes, target: Address) -> None:
        self.sip.sendto(msg if isinstance(msg, bytes) else msg.serialize(), target)

    def in_dialog(
        self, dialog: RawDialog, method: str, *, cseq: int | None = None, body: bytes = b""
    ) -> SipMessage:
        """ACK (same CSeq), BYE or re-INVITE (next CSeq) inside the dialog, with a new branch."""
        assert dialog.to_tag is not None, "no dialog yet: no 200 seen"
        if cseq is None:
            if method != "ACK":
                dialog.cseq += 1
            cseq = dialog.cseq
        uri = dialog.invite.uri
        return request(
            method,
            uri,
            via=f"SIP/2.0/UDP {LOOPBACK}:{self.port};branch={new_branch()};rport",
            from_=dialog.invite.header("From") or "",
            to=f"<{uri}>;tag={dialog.to_tag}",
            call_id=dialog.call_id,
            cseq=cseq,
            contact=f"<sip:{self.user}@{LOOPBACK}:{self.port}>",
            body=body,
            content_type="application/sdp" if body else None,
        )

    def cancel(self, dialog: RawDialog) -> SipMessage:
        via = dialog.invite.header("Via") or ""
        uri = dialog.invite.uri
        return request(
            "CANCEL",
            uri,
            via=via,
            from_=dialog.invite.header("From") or "",
            to=f"<{uri}>",
            call_id=dialog.call_id,
            cseq=1,
        )

    # --- receiving -------------------------------------------------------------------------

    def _read(self, sock: socket.socket, until: float) -> tuple[SipMessage, Address] | None:
        while (left := until - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, source = sock.recvfrom(65535)
            except TimeoutError:
                return None
            try:
                return parse(data), source
            except SipParseError:
                continue
        return None

    def listen(
        self,
        seconds: float,
        until: Callable[[SipMessage], bool] | None = None,
        sock: socket.socket | None = None,
    ) -> list[SipMessage]:
        """What arrives on ``sock`` (default: the SIP socket) for ``seconds``, or until one matches ``until``."""
        sock = sock or self.sip
        deadline = time.monotonic() + seconds
        got: list[SipMessage] = []
        while (read := self._read(sock, deadline)) is not None:
            msg, source = read
            self.heard.append(Heard(time.monotonic(), msg, sock.getsockname()))
            got.append(msg)
            if msg.is_request and msg.method != "ACK":
                ok = response(msg, 200, "OK", to_tag=new_tag(), source=source)
                sock.sendto(ok.serialize(), msg.top_via.response_address(source))
            if until is not None and until(msg):
                break
        return got

    def expect(self, status: int, method: str = "INVITE", seconds: float = 3.0) -> SipMessage:
        got = self.listen(seconds, lambda m: not m.is_request and m.status == status and m.cseq[1] == method)
        for msg in got:
            if not msg.is_request and msg.status == status and msg.cseq[1] == method:
                return msg
        seen = [m.start_line for m in got]
        raise AssertionError(f"no {status} for {method} within {seconds} s; got {seen}")

    def answered(self, dialog: RawDialog, seconds: float = 3.0) -> SipMessage:
        ok = self.expect(200, "INVITE", seconds)
        dialog.to_tag = ok.to_tag
        return ok

    def rtp_packets(self, seconds: float) -> list[tuple[float, RtpPacket]]:
        """Every RTP packet that reaches the media socket in the next ``seconds``, with its arrival time."""
        deadline = time.monotonic() + seconds
        out: list[tuple[float, RtpPacket]] = []
        while (left := deadline - time.monotonic()) > 0:
            self.media.settimeout(left)
            try:
                data = self.media.recv(2048)
            except TimeoutError:
                break
            out.append((time.monotonic(), RtpPacket.parse(data)))
        return out

    def drain_rtp(self) -> None:
        self.media.setblocking(False)
        try:
            while True:
                self.media.recv(2048)
        except BlockingIOError:
            pass
        finally:
            self.media.setblocking(True)
