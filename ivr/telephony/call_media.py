"""One call's RTP: G.711 both ways as 16-bit linear PCM, a jitter buffer, RFC 4733 keys.

No thread of its own: each media-clock tick drains the call's socket (it is
non-blocking), takes one frame from the jitter buffer and sends one frame.

A ``paced`` stream (every stream of the desk line) keeps the frame made in one
tick and sends it at the start of the next, when the line sends every call's
frame in one tight loop: each call's packets then leave on the 20 ms grid
whatever work the other calls' engines did in between, for one frame (20 ms)
of added delay.

Only one far end is heard: the address the SDP named, or (behind a NAT, where
the SDP names a private address) the first source that sends, until the SDP's
address itself is heard from. Packets from anyone else (a stale stream still
aimed at a reused port, a stray sender) are counted and dropped, never mixed
into the caller's audio.

A re-INVITE or UPDATE may change the stream mid-call (:meth:`CallMedia.renegotiate`): a new
far-end address (the next packet goes there, and the new source is the one heard), another
codec, or a direction. While our direction is ``recvonly`` or ``inactive`` (the far end put
us on hold) nothing is sent, the timestamp still runs on (RFC 3550 §5.1), and the far end's
silence is no sign of a dead phone: ``quiet_ticks`` stays at 0 while held.

With ``rtcp`` the stream has its RTCP session on the RTP port + 1 (see
:mod:`ivr.telephony.rtcp_session`), stepped by :meth:`CallMedia.receive`; each
packet's arrival time for the jitter is the kernel's (``SO_TIMESTAMPNS``) where
there is one, so the 20 ms tick that reads the socket does not blur it.

With ``srtp`` keys (:mod:`ivr.telephony.srtp`) every packet is SRTP both ways, RTCP
SRTCP: a packet is protected when it is made, so a paced stream's send loop
stays as tight as without; a packet that fails authentication (or is replayed)
is dropped and counted (``rejected``), and its source is not taken as the far
end's (behind a NAT only an authenticated packet names the far end). A new
offer/answer may rekey the call (:meth:`CallMedia.renegotiate`).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import time
from collections import deque
from collections.abc import Callable

from ivr.media import SILENT_FRAME
from ivr.telephony import g711
from ivr.telephony.dtmf import DtmfReceiver, dtmf_packets
from ivr.telephony.jitter import JitterBuffer
from ivr.telephony.rtcp_session import CLOCK_RATE, RtcpSession
from ivr.telephony.rtp import HEADER_SIZE, RtpPacket, RtpSender
from ivr.telephony.srtp import Keys, SrtpStreams

log = logging.getLogger(__name__)
Address = tuple[str, int]
_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", None)  # Linux: the kernel's arrival time of each packet
_ANCILLARY = socket.CMSG_SPACE(16)
CODECS: dict[str, tuple[int, Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "PCMU": (0, g711.ulaw_encode, g711.ulaw_decode),
    "PCMA": (8, g711.alaw_encode, g711.alaw_decode),
}
MAX_READS_PER_TICK = 16


def _compressed(host: str) -> str:
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


class CallMedia:
    def __init__(
        self,
        sock: socket.socket,
        remote: Address,
        codec: str,
        dtmf_pt: int | None,
        *,
        paced: bool = False,
        rtcp: bool = False,
        srtp: Keys | None = None,
    ) -> None:
        self.sock = sock
        self.sock.setblocking(False)
        self.remote = (_compressed(remote[0]), remote[1])  # as recvfrom writes it (IPv6: "::1")
        self.codec = codec
        self.payload_type, self._encode, self._decode = CODECS[codec]
        self.dtmf_pt = dtmf_pt
        self.jitter = JitterBuffer()
        self.sender = RtpSender(self.payload_type)
        self.keys = DtmfReceiver()
        self.malformed = 0
        self.strays = 0  # packets from a source other than the far end we hear
        self.quiet_ticks = 0  # ticks since the far end's last packet (its phone may be gone)
        self.peer: Address | None = None  # the source we hear
        self.sent = 0
        self.send_errors = 0
        self.paced = paced
        self._keys_waiting: deque[str] = deque()  # pressed, not begun
        self._key_out: deque[bytes] = deque()  # the packets of the key being sent
        self._outbox: list[tuple[bytes, int]] = []  # (packet, its payload octets)
        self.srtp = None if srtp is None else SrtpStreams(srtp)
        self.direction = "sendrecv"  # ours, as our SDP says: recvonly/inactive while the far end holds us
        self.sent_octets = 0
        self.rtcp: RtcpSession | None = self._open_rtcp() if rtcp else None

    def _open_rtcp(self) -> RtcpSession | None:
        host, port = self.sock.getsockname()[:2]
        rtcp_sock = socket.socket(self.sock.family, socket.SOCK_DGRAM)
        try:
            rtcp_sock.bind((host, port + 1))
        except OSError as exc:
            rtcp_sock.close()
            log.info("no RTCP for the stream on port %d: %s", port, exc)
            return None
        if _TIMESTAMPNS is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, _TIMESTAMPNS, 1)
        cname = f"ivr-{self.sender.ssrc:08x}@{host}"
        session = RtcpSession(rtcp_sock, self._rtcp_remote, self.sender.ssrc, cname)
        session.srtp = self.srtp
        return session

    @property
    def _rtcp_remote(self) -> Address:
        return (self.remote[0], self.remote[1] + 1)

    @property
    def held(self) -> bool:
        """The far end put us on hold: we send nothing (and a quiet far end is not a gone one)."""
        return self.direction in ("recvonly", "inactive")

    @property
    def rejected(self) -> int:
        """SRTP/SRTCP packets dropped: they failed authentication or were replayed."""
        return 0 if self.srtp is None else self.srtp.rejected

    def renegotiate(
        self, remote: Address, codec: str, dtmf_pt: int | None, direction: str, srtp: Keys | None = None
    ) -> None:
        """A new offer/answer mid-call: where packets go from the next one, the codec, our direction,
        the SRTP keys (``None``: plain RTP from now on)."""
        remote = (_compressed(remote[0]), remote[1])
        if remote != self.remote:
            self.remote = remote
            self.peer = None  # the new address is the one heard from now on (or, behind a NAT, the first)
            if self.rtcp is not None:
                self.rtcp.remote = self._rtcp_remote
        if codec != self.codec:
            self.codec = codec
            self.payload_type, self._encode, self._decode = CODECS[codec]
            self.sender.payload_type = self.payload_type
        self.dtmf_pt = dtmf_pt
        if srtp is None or self.srtp is None:
            self.srtp = None if srtp is None else SrtpStreams(srtp)
        else:
            self.srtp.rekey(srtp)
        if self.rtcp is not None:
            self.rtcp.srtp = self.srtp
        was_held = self.held
        self.direction = direction
        if self.held and not was_held:
            self._outbox.clear()  # held: not even the frame made last tick goes out
        self.quiet_ticks = 0

    @property
    def local_port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    def receive(self) -> list[str]:
        """Read what arrived since the last tick; returns the keys pressed."""
        digits: list[str] = []
        self.quiet_ticks += 1
        for _ in range(MAX_READS_PER_TICK):
            try:
                data, ancillary, _, (host, port, *_) = self.sock.recvmsg(2048, _ANCILLARY)  # IPv6: 4 parts
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # ICMP unreachable from the far end: nothing to read
                break
            source = (host, port)
            if source != self.peer and self.peer is not None and source != self.remote:
                self.strays += 1
                continue
            if self.srtp is not None:
                plain = self.srtp.unprotect(data)
                if plain is None:  # forged, damaged or replayed: dropped (counted in rejected)
                    continue
                data = plain
            self.peer = source
            try:
                packet = RtpPacket.parse(data)
            except ValueError:
                self.malformed += 1
                continue
            self.quiet_ticks = 0  # audio, a key or comfort noise: the far end is there
            if self.rtcp is not None:
                arrival = int(_arrival_s(ancillary) * CLOCK_RATE)
                self.rtcp.received(packet.ssrc, packet.sequence, packet.timestamp, arrival)
            if self.dtmf_pt is not None and packet.payload_type == self.dtmf_pt:
                try:
                    digit = self.keys.feed(packet.timestamp, packet.payload)
                except ValueError:
                    self.malformed += 1
                    continue
                if digit is not None:
                    digits.append(digit)
            elif packet.payload_type == self.payload_type:
                self.jitter.put(packet, self._decode(packet.payload))
        if self.direction != "sendrecv":  # a far end that holds us (or mutes itself) may send nothing:
            self.quiet_ticks = 0  # that is no dead phone
        if self.rtcp is not None:
            self.rtcp.tick(self.sent, self.sent_octets, self.sender.timestamp, self._sender_report)
        return digits

    @property
    def _sender_report(self) -> bool:
        return self.sent > 0 and not self.held

    def quality(self) -> dict[str, float | int]:
        """The stream as RTCP sees it, for the call's record: what we received from the far end
        (packets, lost, loss %, interarrival jitter in ms) and what its last report said of ours; on an
        SRTP call, the packets dropped for failing authentication."""
        source = None if self.rtcp is None else self.rtcp.source
        far = None if self.rtcp is None else self.rtcp.far
        expected = 0 if source is None else source.expected
        lost = 0 if source is None else max(source.lost, 0)
        quality: dict[str, float | int] = {
            "received": 0 if source is None else source.received,
            "lost": lost,
            "loss_pct": round(100 * lost / expected, 1) if expected else 0.0,
            "jitter_ms": round(source.jitter / CLOCK_RATE * 1000, 1) if source is not None else 0.0,
        }
        if far is not None:  # the far end's last report (its fraction is of the interval before it)
            quality["far_loss_pct"] = round(100 * far.fraction_lost / 256, 1)
            quality["far_lost"] = far.lost
            quality["far_jitter_ms"] = round(far.jitter / CLOCK_RATE * 1000, 1)
        if self.srtp is not None:  # the call was SRTP: how many packets failed to authenticate
            quality["srtp_rejected"] = self.srtp.rejected
        return quality

    def inbound_frame(self) -> bytes:
        return self.jitter.pop() or SILENT_FRAME

    def press(self, digits: str) -> None:
        """Keys to send (RFC 4733): from the next ``send`` on, one packet a tick in place of audio;
        each key's packets are made when its turn comes, so each has its own start timestamp."""
        self._keys_waiting.extend(digits)

    def send(self, frame: bytes) -> bool:
        """This tick's packet: the next key packet while keys wait, else ``frame``; True if ``frame`` went.
        Held (``recvonly``/``inactive``): nothing goes, the timestamp runs on."""
        if self.held:
            self.sender.advance()
            return False
        if not self._key_out and self._keys_waiting:
            self._key_out.extend(self.key_packets(self._keys_waiting.popleft()))
        if self._key_out:
            self.send_raw(self._key_out.popleft())
            return False
        self._sendto(self.sender.next_audio(self._encode(frame)))
        return True

    def key_packets(self, digit: str) -> list[bytes]:
        """RFC 4733 packets for one key press, to be sent one per tick in place of audio."""
        if self.dtmf_pt is None:
            return []
        start = self.sender.timestamp
        return [
            self.sender.next_event(payload, payload_type=self.dtmf_pt, timestamp=start, marker=marker)
            for marker, payload, _ in dtmf_packets(digit, start)
        ]

    def send_raw(self, packet: bytes) -> None:
        """Send an already built packet (a key press) and keep the media timestamp moving."""
        self._sendto(packet)
        self.sender.advance()

    def flush(self) -> None:
        """Send what a paced stream made in the last tick (the line calls this first thing each tick)."""
        outbox, self._outbox = self._outbox, []
        for data, octets in outbox:
            self._transmit(data, octets)

    def _sendto(self, data: bytes) -> None:
        octets = len(data) - HEADER_SIZE  # payload octets (we write no CSRC or extension)
        if self.srtp is not None:
            data = self.srtp.protect(data)
        if self.paced:
            self._outbox.append((data, octets))
        else:
            self._transmit(data, octets)

    def _transmit(self, data: bytes, octets: int) -> None:
        try:
            self.sock.sendto(data, self.remote)
            self.sent += 1
            self.sent_octets += octets
        except OSError:  # a full or unreachable socket loses this frame only; the next tick sends the next
            self.send_errors += 1

    def close(self) -> None:
        self._outbox.clear()  # the call is over (a BYE went or came): no audio after it
        if self.rtcp is not None and not self.rtcp.closed:  # the last report, with BYE
            self.rtcp.close(self.sent, self.sent_octets, self.sender.timestamp, self._sender_report)
        self.sock.close()


def _arrival_s(ancillary: list[tuple[int, int, bytes]]) -> float:
    """When the kernel received the packet (wall seconds), else now: only differences are used."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack_from("@qq", data)
            return float(seconds) + float(nanoseconds) / 1e9
    return time.time()
