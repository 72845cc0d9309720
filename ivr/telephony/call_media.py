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
"""

from __future__ import annotations

import ipaddress
import socket
from collections import deque
from collections.abc import Callable

from ivr.media import SILENT_FRAME
from ivr.telephony import g711
from ivr.telephony.dtmf import DtmfReceiver, dtmf_packets
from ivr.telephony.jitter import JitterBuffer
from ivr.telephony.rtp import RtpPacket, RtpSender

Address = tuple[str, int]
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
        self, sock: socket.socket, remote: Address, codec: str, dtmf_pt: int | None, *, paced: bool = False
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
        self._outbox: list[bytes] = []

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
                data, (host, port, *_) = self.sock.recvfrom(2048)  # IPv6 gives 4 parts; we keep 2
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # ICMP unreachable from the far end: nothing to read
                break
            source = (host, port)
            if source != self.peer:
                if self.peer is None or source == self.remote:
                    self.peer = source
                else:
                    self.strays += 1
                    continue
            try:
                packet = RtpPacket.parse(data)
            except ValueError:
                self.malformed += 1
                continue
            self.quiet_ticks = 0  # audio, a key or comfort noise: the far end is there
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
        return digits

    def inbound_frame(self) -> bytes:
        return self.jitter.pop() or SILENT_FRAME

    def press(self, digits: str) -> None:
        """Keys to send (RFC 4733): from the next ``send`` on, one packet a tick in place of audio;
        each key's packets are made when its turn comes, so each has its own start timestamp."""
        self._keys_waiting.extend(digits)

    def send(self, frame: bytes) -> bool:
        """This tick's packet: the next key packet while keys wait, else ``frame``; True if ``frame`` went."""
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
        for data in outbox:
            self._transmit(data)

    def _sendto(self, data: bytes) -> None:
        if self.paced:
            self._outbox.append(data)
        else:
            self._transmit(data)

    def _transmit(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, self.remote)
            self.sent += 1
        except OSError:  # a full or unreachable socket loses this frame only; the next tick sends the next
            self.send_errors += 1

    def close(self) -> None:
        self._outbox.clear()  # the call is over (a BYE went or came): no audio after it
        self.sock.close()
