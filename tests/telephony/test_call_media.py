"""One call's RTP on real loopback sockets: who is heard, and what goes out."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import pytest

from ivr.media import FRAME_BYTES, SILENT_FRAME
from ivr.telephony import g711, sdp
from ivr.telephony.call_media import CallMedia
from ivr.telephony.rtp import RtpPacket, RtpSender
from ivr.telephony.srtp import Keys, SrtpStreams
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


def srtp_keys() -> tuple[Keys, Keys]:
    """The line's keys and the far end's, each checking what the other protects."""
    line, far = sdp.fresh_crypto(1, sdp.SRTP_SUITES[0]), sdp.fresh_crypto(1, sdp.SRTP_SUITES[0])
    return Keys(ours=line, theirs=far), Keys(ours=far, theirs=line)


def test_an_srtp_call_carries_no_audio_in_clear_and_each_side_hears_the_other(
    sockets: tuple[socket.socket, socket.socket, socket.socket],
) -> None:
    own, far, _ = sockets
    line_keys, far_keys = srtp_keys()
    media = CallMedia(own, far.getsockname(), "PCMU", dtmf_pt=101, srtp=line_keys)
    clear = g711.ulaw_encode(tone(3000))
    for _ in range(5):
        media.send(tone(3000))
    far.setblocking(False)
    wire = [far.recv(2048) for _ in range(5)]
    assert all(clear[:8] not in packet and len(packet) == 12 + 160 + 10 for packet in wire)
    far_streams = SrtpStreams(far_keys)
    assert [RtpPacket.parse(p).payload for p in map(far_streams.unprotect, wire) if p] == [clear] * 5
    sender = RtpSender(0)
    for _ in range(6):
        far.sendto(far_streams.protect(sender.next_audio(clear)), own.getsockname())
    heard = [f for f in drain(media, 10) if f != SILENT_FRAME]
    assert len(heard) == 6 and media.rejected == 0 and media.sent_octets == 5 * 160


def test_unauthenticated_packets_are_dropped_counted_and_never_name_the_far_end(
    sockets: tuple[socket.socket, socket.socket, socket.socket],
) -> None:
    own, far, stranger = sockets
    line_keys, far_keys = srtp_keys()
    media = CallMedia(own, (LOOPBACK, 9), "PCMU", dtmf_pt=101, srtp=line_keys)  # behind a NAT: latches
    to = own.getsockname()
    send_frames(stranger, to, RtpSender(0), tone(-3000), 4)  # plain RTP: no tag, no key
    far_streams = SrtpStreams(far_keys)
    sender = RtpSender(0)
    packets = [far_streams.protect(sender.next_audio(g711.ulaw_encode(tone(3000)))) for _ in range(6)]
    for packet in packets:
        far.sendto(packet, to)
    far.sendto(packets[0], to)  # a replay
    heard = [f for f in drain(media, 12) if f != SILENT_FRAME]
    assert len(heard) == 6 and all(np.frombuffer(f, "<i2").mean() > 0 for f in heard)
    assert media.peer == far.getsockname() and media.rejected == 5
    media.renegotiate(far.getsockname(), "PCMU", 101, "sendrecv")  # a re-INVITE to plain RTP
    send_frames(far, to, sender, tone(3000), 3)
    assert len([f for f in drain(media, 4) if f != SILENT_FRAME]) == 3
