"""SRTP keyed by SDES: which offers the line takes under each ``[sip] srtp`` rule, and what a
far end holding the other key reads of our packets (and we of its); tampered or replayed packets
are dropped and counted, never raised."""

from __future__ import annotations

import re

import pytest

from ivr.telephony import rtcp, sdp
from ivr.telephony.rtp import RtpPacket, RtpSender
from ivr.telephony.sdp import SdpError
from ivr.telephony.srtp import Keys, SrtpStreams, answer_keys, answered_keys, offered_keys

HEAD = ("v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0")
SUITES = sdp.SRTP_SUITES


def offer_of(protocol: str, *crypto: sdp.Crypto) -> sdp.Offer:
    lines = [*HEAD, f"m=audio 4000 {protocol} 0", *(f"a={c.attribute}" for c in crypto)]
    return sdp.parse_offer(("\r\n".join(lines) + "\r\n").encode())


def pair(suite: str = SUITES[0]) -> tuple[SrtpStreams, SrtpStreams]:
    """The line's streams and the far end's: each checks with the key the other protects with."""
    line, phone = sdp.fresh_crypto(1, suite), sdp.fresh_crypto(1, suite)
    return SrtpStreams(Keys(ours=line, theirs=phone)), SrtpStreams(Keys(ours=phone, theirs=line))


@pytest.mark.parametrize(
    ("mode", "protocol", "outcome"),
    [
        ("off", "RTP/AVP", "plain"),
        ("off", "RTP/SAVP", 'the offer asks for SRTP (RTP/SAVP) and [sip] srtp = "off"'),
        ("offer", "RTP/AVP", "plain"),
        ("offer", "RTP/SAVP", "srtp"),
        ("offer", "RTP/SAVPF", "srtp"),
        ("require", "RTP/AVP", 'the offer is plain RTP (RTP/AVP) and [sip] srtp = "require"'),
        ("require", "RTP/SAVP", "srtp"),
    ],
)
def test_each_rule_takes_or_refuses_each_kind_of_offer(mode: str, protocol: str, outcome: str) -> None:
    theirs = sdp.fresh_crypto(3, SUITES[1])
    offer = offer_of(protocol, theirs)
    if outcome not in ("plain", "srtp"):
        with pytest.raises(SdpError, match=re.escape(outcome)):
            answer_keys(offer, mode)  # type: ignore[arg-type]
        return
    keys = answer_keys(offer, mode)  # type: ignore[arg-type]
    if outcome == "plain":
        assert keys is None
        return
    assert keys is not None and keys.theirs == theirs
    assert (keys.ours.tag, keys.ours.suite) == (3, SUITES[1]) and keys.ours.key != theirs.key


def test_a_reoffer_keeps_our_key_while_the_suite_stays_and_changes_it_with_the_suite() -> None:
    first = answer_keys(offer_of("RTP/SAVP", sdp.fresh_crypto(1, SUITES[0])), "offer")
    assert first is not None
    same = answer_keys(offer_of("RTP/SAVP", sdp.fresh_crypto(2, SUITES[0])), "offer", first.ours)
    assert same is not None and same.ours.key == first.ours.key and same.ours.tag == 2
    other = answer_keys(offer_of("RTP/SAVP", sdp.fresh_crypto(1, SUITES[1])), "offer", first.ours)
    assert other is not None and other.ours.key != first.ours.key and other.suite == SUITES[1]


def test_our_offer_is_answered_with_one_of_our_tags() -> None:
    offered = offered_keys()
    assert [(c.tag, c.suite) for c in offered] == [(1, SUITES[0]), (2, SUITES[1])]
    seat = sdp.fresh_crypto(2, SUITES[1])
    keys = answered_keys(offered, offer_of("RTP/SAVP", seat))
    assert keys == Keys(ours=offered[1], theirs=seat)
    with pytest.raises(SdpError, match="none we offered"):
        answered_keys(offered, offer_of("RTP/SAVP", sdp.fresh_crypto(3, SUITES[1])))
    with pytest.raises(SdpError, match="we offered SRTP and the answer is plain RTP"):
        answered_keys(offered, offer_of("RTP/AVP"))
    with pytest.raises(SdpError, match="we offered plain RTP and the answer is RTP/SAVP"):
        answered_keys((), offer_of("RTP/SAVP", seat))
    assert answered_keys((), offer_of("RTP/AVP")) is None


@pytest.mark.parametrize("suite", SUITES)
def test_the_far_end_hears_our_audio_and_the_wire_carries_none_of_it(suite: str) -> None:
    line, phone = pair(suite)
    sender = RtpSender(0)
    payload = bytes(range(160))
    for _ in range(3):
        plain = sender.next_audio(payload)
        wire = line.protect(plain)
        assert len(wire) == len(plain) + line.tag_size
        assert wire[:12] == plain[:12] and payload[:16] not in wire  # the header is clear, the audio not
        assert phone.unprotect(wire) == plain
    assert RtpPacket.parse(plain).payload == payload and line.rejected == phone.rejected == 0


def test_a_tampered_a_replayed_and_a_wrongly_keyed_packet_are_dropped_and_counted() -> None:
    line, phone = pair()
    sender = RtpSender(0)
    wire = line.protect(sender.next_audio(bytes(160)))
    tampered = bytearray(wire)
    tampered[20] ^= 1
    assert phone.unprotect(bytes(tampered)) is None
    assert phone.unprotect(wire) is not None
    assert phone.unprotect(wire) is None  # the same packet again: a replay
    stranger, _ = pair()
    assert phone.unprotect(stranger.protect(sender.next_audio(bytes(160)))) is None
    assert phone.unprotect(b"\x80") is None and phone.unprotect(bytes(4000)) is None
    assert phone.rejected == 5


def test_rtcp_reports_cross_protected_and_a_forged_one_is_dropped() -> None:
    line, phone = pair()
    report = rtcp.compound(rtcp.ReceiverReport(0x1234, ()), rtcp.SourceDescription(0x1234, "ivr@x"))
    wire = line.protect_rtcp(report)
    assert wire != report and b"ivr@x" not in wire
    assert phone.unprotect_rtcp(wire) == report
    assert phone.unprotect_rtcp(report) is None and phone.rejected == 1


def test_rekeying_starts_a_new_session_only_for_the_side_whose_key_changed() -> None:
    line, phone = pair()
    sender = RtpSender(0)
    wire = line.protect(sender.next_audio(bytes(160)))
    assert phone.unprotect(wire) is not None
    phone.rekey(Keys(ours=sdp.fresh_crypto(1, SUITES[0]), theirs=phone.keys.theirs))
    assert phone.unprotect(wire) is None  # the far end's session (and its replay window) is kept
    new_line = sdp.fresh_crypto(1, SUITES[1])
    line.rekey(Keys(ours=new_line, theirs=line.keys.theirs))
    phone.rekey(Keys(ours=phone.keys.ours, theirs=new_line))
    assert phone.unprotect(line.protect(sender.next_audio(bytes(160)))) is not None
    assert line.tag_size == 4
