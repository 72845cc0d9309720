"""One call's RTP on real loopback sockets: who is heard, and what goes out."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import pytest

from ivr.media import FRAME_BYTES, SILENT_FRAME
from ivr.telephony import g711
from ivr.telephony.call_media import CallMedia
from ivr.telephony.rtp import RtpSender
from tests.telephony.harness.ports import LOOPBACK


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    return sock


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket, socket.socket]]:
    """The call's socket, the far end the SDP named, and a stranger."""
    socks = (udp(), udp(), udp())
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()


def tone(level: int) -> bytes:
    return np.full(FRAME_BYTES // 2, level, dtype="<i2").tobytes()


def drain(media: CallMedia, frames: int) -> list[bytes]:
    heard: list[bytes] = []
    for _ in range(frames):
        media.receive()
        heard.append(media.inbound_frame())
    return heard


def send_frames(sock: socket.socket, to: tuple[str, int], sender: RtpSender, frame: bytes, n: int) -> None:
    for _ in range(n):
        sock.sendto(sender.next_audio(g711.ulaw_encode(frame)), to)


def test_a_stale_stream_on_a_reused_port_is_never_mixed_into_the_callers_audio(
    sockets: tuple[socket.socket, socket.socket, socket.socket],
) -> None:
    """A stream still aimed at this port from an earlier call arrives first; the SDP's far end wins."""
    own, far, stranger = sockets
    media = CallMedia(own, far.getsockname(), "PCMU", dtmf_pt=101)
    to = own.getsockname()
    send_frames(stranger, to, RtpSender(0), tone(-3000), 5)
    send_frames(far, to, RtpSender(0), tone(3000), 8)
    send_frames(stranger, to, RtpSender(0), tone(-3000), 5)
    heard = [f for f in drain(media, 20) if f != SILENT_FRAME]
    caller = [f for f in heard if np.frombuffer(f, "<i2").mean() > 0]
    assert len(caller) == 8
    assert all(np.frombuffer(f, "<i2").mean() > 0 for f in heard[-8:])
    assert media.peer == far.getsockname() and media.strays == 5


def test_behind_a_nat_the_first_sender_is_heard_when_the_sdp_address_never_sends(
    sockets: tuple[socket.socket, socket.socket, socket.socket],
) -> None:
    own, _, natted = sockets
    media = CallMedia(own, (LOOPBACK, 9), "PCMA", dtmf_pt=None)  # the SDP's (private) address never sends
    sender = RtpSender(8)
    for _ in range(6):
        natted.sendto(sender.next_audio(g711.alaw_encode(tone(2000))), own.getsockname())
    heard = [f for f in drain(media, 10) if f != SILENT_FRAME]
    assert len(heard) == 6 and media.strays == 0


def test_each_frame_sent_is_one_packet_to_the_sdp_address(
    sockets: tuple[socket.socket, socket.socket, socket.socket],
) -> None:
    own, far, _ = sockets
    media = CallMedia(own, far.getsockname(), "PCMU", dtmf_pt=101)
    for _ in range(3):
        media.send(tone(1000))
    far.settimeout(1)
    sizes = [len(far.recv(2048)) for _ in range(3)]
    assert sizes == [12 + 160] * 3 and media.sent == 3
