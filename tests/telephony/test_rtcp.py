"""RTCP packets byte for byte (RFC 3550 §6.4, §6.5, §6.6); a receiver's loss and jitter (appendix A)."""

from __future__ import annotations

import pytest

from ivr.telephony import rtcp
from ivr.telephony.rtcp_session import ReceptionStats

# An SR with one report block, then SDES CNAME "ivr@h" (RFC 3550 §6.4.1 and §6.5 layouts, by hand)
SR_BYTES = bytes.fromhex(
    "81c8000c"  # V=2, RC=1, PT=200, length 12 words
    "11223344"  # sender SSRC
    "e8a0b0c0d0e0f001"  # NTP timestamp
    "00001f40"  # RTP timestamp 8000
    "00000032"  # 50 packets
    "00001f40"  # 8000 octets
    "55667788"  # report block: source SSRC
    "0d000005"  # fraction 13/256, 5 lost
    "00010064"  # extended highest sequence: 1 cycle, 100
    "00000050"  # jitter 80
    "b0c0d0e0"  # LSR
    "00008000"  # DLSR 0.5 s
)
SDES_BYTES = bytes.fromhex("81ca0003" + "11223344" + "0105" + "697672406800")
RR_BYTES = bytes.fromhex(
    "81c90007" + "55667788" + "11223344" + "fffffffe" + "0000ffff" + "00000000" + "00000000" + "00000000"
)
BYE_BYTES = bytes.fromhex("81cb0001" + "11223344")


def test_a_sender_report_with_sdes_parses_and_serializes_byte_for_byte() -> None:
    data = SR_BYTES + SDES_BYTES
    sr, sdes = rtcp.parse_compound(data)
    assert sr == rtcp.SenderReport(
        0x11223344,
        0xE8A0B0C0D0E0F001,
        8000,
        50,
        8000,
        (rtcp.ReportBlock(0x55667788, 13, 5, 0x10064, 80, 0xB0C0D0E0, 0x8000),),
    )
    assert sdes == rtcp.SourceDescription(0x11223344, "ivr@h")
    assert rtcp.compound(sr, sdes) == data


def test_a_receiver_report_carries_a_negative_cumulative_loss_and_bye_round_trips() -> None:
    rr, bye = rtcp.parse_compound(RR_BYTES + BYE_BYTES)
    assert isinstance(rr, rtcp.ReceiverReport)
    assert rr.reports[0].fraction_lost == 0xFF and rr.reports[0].lost == -2  # duplicates: lost below 0
    assert bye == rtcp.Goodbye((0x11223344,))
    assert rtcp.compound(rr, bye) == RR_BYTES + BYE_BYTES


def test_an_unknown_kind_is_kept_whole_and_padding_is_read() -> None:
    app = bytes.fromhex("80cc0002" + "11223344" + "74657374")  # APP "test"
    padded = bytes.fromhex("a1cb0002" + "11223344" + "00000004")  # BYE with 4 bytes of padding
    other, bye = rtcp.parse_compound(app + padded)
    assert other == rtcp.OtherPacket(204, app) and other.serialize() == app
    assert bye == rtcp.Goodbye((0x11223344,))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x81\xc8", "header truncated"),
        (bytes.fromhex("41c80000"), "version must be 2"),
        (bytes.fromhex("81c8000c") + bytes(8), "declares 52 bytes"),
        (bytes.fromhex("81c90001") + bytes(4), "its count needs 32"),
        (bytes.fromhex("a0cb0001") + bytes.fromhex("00000000"), "padding count 0"),
    ],
)
def test_a_malformed_packet_says_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rtcp.parse_compound(data)


def test_a_report_block_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="24 signed bits"):
        rtcp.ReportBlock(1, 0, 1 << 23, 0, 0).serialize()
    with pytest.raises(ValueError, match="fraction lost"):
        rtcp.ReportBlock(1, 256, 0, 0, 0).serialize()


def test_one_packet_in_twenty_lost_is_five_percent_across_a_sequence_wrap() -> None:
    stats = ReceptionStats(ssrc=7, seq=65000)
    sent = 0
    for k in range(2000):
        seq = (65000 + k) % 65536
        if k % 20 != 19:
            stats.update(seq, 160 * k, 160 * k + 400)
            sent += 1
    block = stats.report()
    assert (
        stats.expected == 1999 and stats.received == sent and stats.lost == 99
    )  # the last lost one is unseen
    assert block.highest_seq == (1 << 16) + (65000 + 1998) % 65536
    assert block.fraction_lost == (99 << 8) // 1999  # 12/256: 5 %
    assert stats.report().fraction_lost == 0  # nothing expected since: nothing lost


def test_jitter_follows_rfc_3550_a8_for_a_stream_that_arrives_40_ms_early_and_late_in_turn() -> None:
    stats = ReceptionStats(ssrc=7, seq=0)
    for k in range(400):  # every other packet arrives 40 ms (320 samples) late
        stats.update(k, 160 * k, 160 * k + (320 if k % 2 else 0))
    assert stats.jitter == pytest.approx(320, rel=0.01)  # J converges to |D| = 320 samples
    steady = ReceptionStats(ssrc=7, seq=0)
    for k in range(100):
        steady.update(k, 160 * k, 160 * k + 1234)
    assert steady.jitter == 0 and steady.lost == 0
