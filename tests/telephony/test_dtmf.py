"""RFC 4733 key presses: each press reported once; the packets we send are what peers expect."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ivr.telephony.dtmf import DtmfEvent, DtmfReceiver, dtmf_packets, event_code
from ivr.telephony.rtp import RtpPacket, RtpSender

DATA = Path(__file__).parent / "data"


def captured() -> list[RtpPacket]:
    data = (DATA / "rtp_dtmf_stream.bin").read_bytes()
    out, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack_from("!H", data, pos)
        out.append(RtpPacket.parse(data[pos + 2 : pos + 2 + length]))
        pos += 2 + length
    return out


def keys(receiver: DtmfReceiver, packets: list[RtpPacket], pt: int = 101) -> str:
    found = (receiver.feed_packet(p) for p in packets if p.payload_type == pt)
    return "".join(d for d in found if d is not None)


@pytest.mark.parametrize(
    ("payload", "event"),
    [
        (b"\x01\x0a\x00\xa0", DtmfEvent(1, end=False, volume=10, duration=160)),
        (b"\x0b\x8a\x03\x20", DtmfEvent(11, end=True, volume=10, duration=800)),
        (b"\x0a\x3f\xff\xff", DtmfEvent(10, end=False, volume=63, duration=65535)),
        (b"\x10\x80\x00\x00", DtmfEvent(16, end=True, volume=0, duration=0)),
    ],
)
def test_event_payloads_parse_and_serialize_byte_for_byte(payload: bytes, event: DtmfEvent) -> None:
    assert DtmfEvent.parse(payload) == event
    assert event.serialize() == payload


def test_reserved_bit_is_ignored_on_receipt() -> None:
    assert DtmfEvent.parse(b"\x05\xca\x00\xa0") == DtmfEvent(5, end=True, volume=10, duration=160)


@pytest.mark.parametrize("payload", [b"", b"\x01\x0a\x00", b"\x01\x0a\x00\xa0\x00"])
def test_event_payload_of_wrong_length_is_a_value_error(payload: bytes) -> None:
    with pytest.raises(ValueError, match=f"telephone-event payload must be 4 bytes, got {len(payload)}"):
        DtmfEvent.parse(payload)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (DtmfEvent(256), "code must be 0..255"),
        (DtmfEvent(1, volume=64), "volume must be 0..63"),
        (DtmfEvent(1, duration=65536), "duration must be 0..65535"),
    ],
)
def test_unsendable_events_raise_value_error(event: DtmfEvent, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        event.serialize()


def test_keys_map_to_rfc_4733_codes() -> None:
    assert [event_code(k) for k in "0123456789*#ABCD"] == list(range(16))
    assert event_code("a") == 12
    assert [DtmfEvent(c).digit for c in (0, 9, 10, 11, 15, 16)] == ["0", "9", "*", "#", "D", None]


@pytest.mark.parametrize("bad", ["", "E", "12", " ", "x"])
def test_unknown_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a DTMF key"):
        event_code(bad)


def test_captured_stream_gives_each_key_once_despite_updates_and_three_end_packets() -> None:
    assert keys(DtmfReceiver(), captured()) == "1#"


def test_retransmitted_packets_of_an_earlier_press_arriving_late_are_not_reported_again() -> None:
    packets = [p for p in captured() if p.payload_type == 101]
    first_press_end = packets[6]
    assert keys(DtmfReceiver(), [*packets[:8], first_press_end, packets[5], *packets[8:]]) == "1#"


def test_a_press_whose_first_packets_were_lost_is_still_reported_once() -> None:
    packets = [p for p in captured() if p.payload_type == 101]
    assert keys(DtmfReceiver(), packets[4:7] + packets[9:]) == "1#"


def test_the_same_key_pressed_twice_is_two_presses() -> None:
    receiver = DtmfReceiver()
    first = [receiver.feed(8000, p) for _, p, _ in dtmf_packets("5", 8000)]
    second = [receiver.feed(9600, p) for _, p, _ in dtmf_packets("5", 9600)]
    assert [d for d in first + second if d] == ["5", "5"]


def test_a_long_press_split_into_segments_is_one_press() -> None:
    receiver = DtmfReceiver()
    assert receiver.feed(0, DtmfEvent(7, duration=65535).serialize()) == "7"
    assert receiver.feed(65535, DtmfEvent(7, duration=160).serialize()) is None
    assert receiver.feed(65535, DtmfEvent(7, end=True, duration=800).serialize()) is None
    assert receiver.feed(100000, DtmfEvent(7, end=True, duration=800).serialize()) == "7"


def test_non_dtmf_events_report_nothing() -> None:
    assert DtmfReceiver().feed(0, DtmfEvent(16, end=True, duration=800).serialize()) is None


def test_malformed_payload_in_the_stream_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="must be 4 bytes"):
        DtmfReceiver().feed(0, b"\x01")


def test_packets_for_a_100_ms_press_start_with_marker_update_every_20_ms_and_end_three_times() -> None:
    packets = dtmf_packets("#", 123456, 100)
    events = [DtmfEvent.parse(p) for _, p, _ in packets]
    assert [m for m, _, _ in packets] == [True] + [False] * 6
    assert {ts for _, _, ts in packets} == {123456}
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert {e.event for e in events} == {11}
    assert {e.volume for e in events} == {10}


@pytest.mark.parametrize(
    ("ms", "durations"), [(20, [160] * 3), (50, [160, 320, 480, 480, 480]), (40, [160, 320, 320, 320])]
)
def test_press_durations_round_up_to_whole_frames(ms: int, durations: list[int]) -> None:
    packets = dtmf_packets("1", 0, ms)
    assert [DtmfEvent.parse(p).duration for _, p, _ in packets] == durations
    assert packets[0][0] is True and not any(m for m, _, _ in packets[1:])


@pytest.mark.parametrize(
    ("ms", "message"), [(0, "must be positive"), (-20, "must be positive"), (9000, "exceeds")]
)
def test_bad_press_durations_are_refused(ms: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dtmf_packets("1", 0, ms)


def test_sent_presses_come_back_as_the_same_keys() -> None:
    sender = RtpSender(0, ssrc=7, sequence=65530, timestamp=(1 << 32) - 500)
    wire: list[bytes] = []
    for digit in "0*9#":
        start = sender.timestamp
        for marker, payload, ts in dtmf_packets(digit, start):
            wire.append(sender.next_event(payload, payload_type=101, timestamp=ts, marker=marker))
            sender.advance()
        wire.append(sender.next_audio(bytes(160)))
    assert keys(DtmfReceiver(), [RtpPacket.parse(w) for w in wire]) == "0*9#"
