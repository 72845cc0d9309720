"""A peer that sends other people's datagrams at a line and reads back exactly what the line said to them.

Messages written by others (RFC 4475's torture messages, fuzzed datagrams)
name hosts such as ``192.0.2.2`` or ``host.example.com`` in their top Via. A
UAS sends the response to the packet's source address (``received``) and the
Via's port: 5060, or 5061 for TLS (RFC 3261 §18.2.2). So the peer owns ports
5060 and 5061 on a loopback address of its own (127.44.75.x, not 127.0.0.1,
so no other test or process on the machine is in the way) and sends from 5060.

``exchange`` sends a datagram, then an OPTIONS of the peer's own, and reads
until that OPTIONS is answered: the line reads datagrams in order and answers
each before it reads the next, so everything it said about the first has
arrived by then. No sleeping for "long enough". Blocking reads, bounded by a
deadline; no threads.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType

from ivr.telephony.sip_message import (
    SipMessage,
    SipParseError,
    new_branch,
    new_call_id,
    new_tag,
    parse,
    request,
)
from tests.telephony.raw_sip import RawCaller

Address = tuple[str, int]
PEER_HOSTS = [f"127.44.75.{n}" for n in range(1, 21)]
DRAIN_MAX = 100  # datagrams read after the probe's answer, at most


@dataclass
class Heard:
    message: SipMessage | None  # None: the line sent bytes that are not a SIP message
    data: bytes
    port: int  # which of the peer's ports it reached


@dataclass
class Peer:
    host: str
    sip: socket.socket  # port 5060: sends, and hears what UDP and TCP Vias ask for
    tls: socket.socket  # port 5061: hears what a TLS Via asks for
    probes: int = field(default=0)

    @classmethod
    def open(cls) -> Peer:
        """Bind 5060 and 5061 on the first free address of ``PEER_HOSTS``."""
        for host in PEER_HOSTS:
            socks: list[socket.socket] = []
            try:
                for port in (5060, 5061):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    socks.append(sock)
                    sock.bind((host, port))
            except OSError:
                for sock in socks:
                    sock.close()
                continue
            return cls(host, socks[0], socks[1])
        raise RuntimeError(f"ports 5060 and 5061 are taken on every one of {PEER_HOSTS[0]}..{PEER_HOSTS[-1]}")

    def close(self) -> None:
        self.sip.close()
        self.tls.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def send(self, data: bytes | SipMessage, target: Address) -> None:
        self.sip.sendto(data if isinstance(data, bytes) else data.serialize(), target)

    def listen(self, seconds: float, until: str | None = None, status: int | None = None) -> list[Heard]:
        """What reaches either port in ``seconds``, or until a response ``status`` with Call-ID ``until`` arrives."""
        deadline = time.monotonic() + seconds
        heard: list[Heard] = []
        done = False
        while not done and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.sip, self.tls], [], [], left)
            for sock in ready:
                msg = self._read(sock, heard)
                done = done or (
                    msg is not None
                    and until is not None
                    and not msg.is_request
                    and msg.call_id == until
                    and msg.status == status
                )
        for _ in range(DRAIN_MAX if done else 0):  # what reached the other port first is waiting there
            ready, _, _ = select.select([self.sip, self.tls], [], [], 0)
            if not ready:
                break
            for sock in ready:
                self._read(sock, heard)
        return heard

    def _read(self, sock: socket.socket, heard: list[Heard]) -> SipMessage | None:
        data = sock.recv(65535)
        try:
            msg: SipMessage | None = parse(data)
        except SipParseError:
            msg = None
        heard.append(Heard(msg, data, sock.getsockname()[1]))
        return msg

    def probe(self, target: Address) -> str:
        """Send an OPTIONS of our own; its Call-ID."""
        self.probes += 1
        call_id = new_call_id(self.host)
        options = request(
            "OPTIONS",
            f"sip:desk@{target[0]}:{target[1]}",
            via=f"SIP/2.0/UDP {self.host}:5060;branch={new_branch()};rport",
            from_=f"<sip:probe@{self.host}>;tag={new_tag()}",
            to=f"<sip:desk@{target[0]}:{target[1]}>",
            call_id=call_id,
            cseq=self.probes,
        )
        self.send(options, target)
        return call_id

    def still_answers(self, target: Address, tries: int = 3, seconds: float = 1.0) -> bool:
        """Whether one of ``tries`` OPTIONS is answered, each within ``seconds``.

        A burst of 60 kB datagrams can fill the line's socket buffer, and UDP then drops
        the probe that came behind it; a line that answers the next one still answers.
        """
        for _ in range(tries):
            probe = self.probe(target)
            heard = self.listen(seconds, until=probe, status=200)
            if any(h.message is not None and h.message.call_id == probe for h in heard):
                return True
        return False

    def exchange(self, data: bytes | SipMessage, target: Address, seconds: float = 3.0) -> list[Heard]:
        """Send ``data``; everything the line said in return (the probe's own answer left out).

        A refusal of an INVITE is ACKed, as a UAC does (RFC 3261 §17.1.1.3): else the line resends
        it until timer H, into the next exchange. What is still waiting from an earlier one is read first.
        """
        self._drain()
        self.send(data, target)
        probe = self.probe(target)
        heard = self.listen(seconds, until=probe, status=200)
        answered = [h for h in heard if h.message is not None and h.message.call_id == probe]
        assert answered, f"the line did not answer OPTIONS within {seconds} s after the datagram"
        said = [h for h in heard if h.message is None or h.message.call_id != probe]
        self._ack_refusals(data, said, target)
        return said

    def _ack_refusals(self, data: bytes | SipMessage, said: list[Heard], target: Address) -> None:
        try:
            sent = data if isinstance(data, SipMessage) else parse(data)
        except SipParseError:
            return
        if sent.method != "INVITE" or not sent.all("Via"):
            return
        for h in said:
            m = h.message
            if m is not None and not m.is_request and m.status >= 300 and m.cseq[1] == "INVITE":
                ack = request(
                    "ACK",
                    sent.uri,
                    via=sent.all("Via")[0],
                    from_=sent.header("From") or "",
                    to=m.header("To") or "",
                    call_id=sent.call_id,
                    cseq=sent.cseq[0],
                )
                self.send(ack, target)

    def _drain(self) -> None:
        for _ in range(DRAIN_MAX):
            ready, _, _ = select.select([self.sip, self.tls], [], [], 0)
            if not ready:
                return
            for sock in ready:
                sock.recv(65535)


def place_call(caller: RawCaller, target: Address) -> None:
    """A whole short call: INVITE, 200 (the line picks up), ACK, BYE, 200."""
    dialog = caller.invite(target)
    caller.answered(dialog, seconds=4.0)
    caller.send(caller.in_dialog(dialog, "ACK"), target)
    caller.send(caller.in_dialog(dialog, "BYE"), target)
    caller.expect(200, "BYE")
