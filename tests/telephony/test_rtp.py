"""RTP packets round-trip byte for byte; malformed packets say what is wrong; the sender wraps."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from ivr.telephony.rtp import RtpPacket, RtpSender, seq_diff, ts_diff

DATA = Path(__file__).parent / "data"


def stream(name: str) -> list[bytes]:
    data = (DATA / name).read_bytes()
    out, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack_from("!H", data, pos)
        out.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return out


def test_captured_pcmu_packet_round_trips_byte_for_byte() -> None:
    data = (DATA / "rtp_pcmu.bin").read_bytes()
    packet = RtpPacket.parse(data)
    assert (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc) == (
        0,
        24312,
        3087052800,
        0x5EEDF00D,
    )
    assert packet.marker and packet.csrc == () and packet.padding == 0 and packet.extension_profile is None
    assert len(packet.payload) == 160
    assert packet.serialize() == data


def test_packet_with_csrcs_extension_and_padding_round_trips_and_skips_them_for_the_payload() -> None:
    data = (DATA / "rtp_ext_csrc_padding.bin").read_bytes()
    packet = RtpPacket.parse(data)
    assert packet.payload_type == 8 and packet.sequence == 65535 and packet.timestamp == 4294967200
    assert packet.csrc == (0x11111111, 0x22222222)
    assert packet.extension_profile == 0xBEDE and len(packet.extension) == 8
    assert packet.padding == 4
    assert packet.payload == bytes([0xD5]) * 160
    assert packet.serialize() == data


def test_every_packet_of_the_captured_dtmf_stream_round_trips() -> None:
    packets = stream("rtp_dtmf_stream.bin")
    assert len(packets) == 21
    for data in packets:
        assert RtpPacket.parse(data).serialize() == data


GOOD = bytes([0x80, 0x00, 0x00, 0x01]) + bytes(8) + b"\xff" * 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "RTP packet is 0 bytes, shorter than the 12-byte header"),
        (GOOD[:11], "RTP packet is 11 bytes, shorter than the 12-byte header"),
        (bytes([0x40]) + GOOD[1:], "RTP version must be 2, got 1"),
        (bytes([0x00]) + GOOD[1:], "RTP version must be 2, got 0"),
        (bytes([0x83]) + GOOD[1:12] + bytes(4), "too short for its 3 CSRC identifiers"),
        (bytes([0x90]) + GOOD[1:12] + b"\xbe\xde", "header extension is truncated"),
        (
            bytes([0x90]) + GOOD[1:12] + b"\xbe\xde\x00\x02" + bytes(4),
            "extension declares 8 bytes but only 4 remain",
        ),
        (bytes([0xA0]) + GOOD[1:12] + b"\x01\x00", "padding bit is set but the padding count is 0"),
        (bytes([0xA0]) + GOOD[1:12] + b"\x01\x09", "padding count 9 exceeds the 2 bytes after the header"),
        (bytes([0xA0]) + GOOD[1:11] + b"\x05", "padding count 5 exceeds the 0 bytes after the header"),
    ],
)
def test_malformed_packets_raise_precise_value_errors(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RtpPacket.parse(data)


def test_mangled_packets_never_raise_anything_but_value_error() -> None:
    rng = random.Random(4733)
    seeds = [(DATA / "rtp_pcmu.bin").read_bytes(), (DATA / "rtp_ext_csrc_padding.bin").read_bytes()]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(min(len(data), 40))] = rng.randrange(256)
        data = data[: rng.randint(0, len(data))]
        try:
            packet = RtpPacket.parse(bytes(data))
        except ValueError:
            continue
        assert RtpPacket.parse(packet.serialize()) == packet


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"payload_type": 128}, "payload type must be 0..127"),
        ({"sequence": 65536}, "sequence must be 0..65535"),
        ({"timestamp": -1}, "timestamp must be"),
        ({"ssrc": 1 << 32}, "SSRC must be"),
        ({"csrc": tuple(range(16))}, "at most 15 CSRC"),
        ({"extension_profile": 1, "extension": b"abc"}, "whole 32-bit words"),
        ({"padding": 256}, "padding must be 0..255"),
    ],
)
def test_unsendable_packets_raise_value_error(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"payload_type": 0, "sequence": 1, "timestamp": 2, "ssrc": 3}
    base.update(fields)
    with pytest.raises(ValueError, match=message):
        RtpPacket(**base).serialize()  # type: ignore[arg-type]


def test_sender_stamps_frames_160_samples_apart_and_wraps() -> None:
    sender = RtpSender(0, ssrc=0xCAFEBABE, sequence=65534, timestamp=(1 << 32) - 200)
    packets = [RtpPacket.parse(sender.next_audio(bytes(160), marker=(i == 0))) for i in range(4)]
    assert [p.sequence for p in packets] == [65534, 65535, 0, 1]
    assert [p.timestamp for p in packets] == [(1 << 32) - 200, (1 << 32) - 40, 120, 280]
    assert [p.marker for p in packets] == [True, False, False, False]
    assert {p.ssrc for p in packets} == {0xCAFEBABE}
    assert {p.payload_type for p in packets} == {0}


def test_sender_events_keep_their_timestamp_and_only_advance_the_sequence() -> None:
    sender = RtpSender(8, ssrc=1, sequence=10, timestamp=1000)
    first = RtpPacket.parse(
        sender.next_event(b"\x01\x0a\x00\xa0", payload_type=101, timestamp=1000, marker=True)
    )
    sender.advance()
    second = RtpPacket.parse(sender.next_event(b"\x01\x0a\x01\x40", payload_type=101, timestamp=1000))
    sender.advance()
    audio = RtpPacket.parse(sender.next_audio(bytes(160)))
    assert (first.sequence, second.sequence, audio.sequence) == (10, 11, 12)
    assert (first.timestamp, second.timestamp, audio.timestamp) == (1000, 1000, 1320)
    assert first.marker and first.payload_type == 101 and audio.payload_type == 8


def test_sender_starts_at_random_values_when_not_told() -> None:
    a, b = RtpSender(0), RtpSender(0)
    assert (a.ssrc, a.sequence, a.timestamp) != (b.ssrc, b.sequence, b.timestamp)
    assert 0 <= a.sequence < 65536 and 0 <= a.timestamp < 1 << 32


@pytest.mark.parametrize(
    ("a", "b", "diff"),
    [(5, 3, 2), (3, 5, -2), (0, 65535, 1), (65535, 0, -1), (32767, 0, 32767), (32768, 0, -32768)],
)
def test_sequence_difference_wraps(a: int, b: int, diff: int) -> None:
    assert seq_diff(a, b) == diff


@pytest.mark.parametrize(("a", "b", "diff"), [(160, 0, 160), (0, (1 << 32) - 160, 160), (0, 160, -160)])
def test_timestamp_difference_wraps(a: int, b: int, diff: int) -> None:
    assert ts_diff(a, b) == diff
