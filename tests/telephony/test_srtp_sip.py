"""SRTP over real SIP on loopback: a caller offering RTP/SAVP (the scripted phone) is answered with
SRTP; the audio on the wire is not the bot's audio in clear, and each side hears the other (the bot
the caller's tone and key, the caller the bot's words). ``[sip] srtp`` refuses what it says with 488."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.call.events import EventKind
from ivr.demo.phone import SipPhone, heard_speaking
from ivr.demo.phone_script import Press, Tone, WaitForBot
from ivr.telephony import g711, sdp
from ivr.telephony.rtp import RtpPacket
from ivr.telephony.srtp import SrtpStreams
from tests.telephony.conftest import CallerNumbers, LineMaker, wait_for_record
from tests.telephony.harness.ports import allocate_rtp_range, release_rtp_range
from tests.telephony.harness.rtp_tap import RtpTap
from tests.telephony.test_interop import CALLER_FLOW
from tests.telephony.test_seats_sip import CALLER_HZ
from tests.telephony.test_transports_sip import flow_file

pytestmark = pytest.mark.slow
SCRIPT = (WaitForBot(limit_s=10), Tone(1.0, CALLER_HZ), Press("1"), WaitForBot(limit_s=10))


@pytest.fixture
def srtp_phone() -> Iterator[SipPhone]:
    ports = allocate_rtp_range(20)
    phone = SipPhone(rtp_ports=range(ports.low, ports.high + 1), srtp=True)
    try:
        phone.start()
        yield phone
    finally:
        phone.close()
        release_rtp_range(ports)


@pytest.mark.parametrize("mode", ["offer", "require"])
def test_a_caller_offering_srtp_is_answered_encrypted_and_both_sides_hear_each_other(
    mode: str,
    open_line: LineMaker,
    srtp_phone: SipPhone,
    tmp_path: Path,
    caller_number: CallerNumbers,
    rendered_audio: Path,
) -> None:
    line = open_line(flow=flow_file(tmp_path, CALLER_FLOW), srtp=mode)
    srtp_phone.user = caller_number()
    with RtpTap() as tap:
        call = srtp_phone.call(line.line.transport.address, SCRIPT, media_at=tap.address)
        assert call.media is not None
        tap.to = call.media.sock.getsockname()
        assert call.done.wait(30), f"the call did not end: {call.responses}"
        wire = tap.wire()
    assert call.ended_by == "bot" and 200 in call.responses
    ok = next(m for m in srtp_phone.received if m.status == 200 and m.cseq[1] == "INVITE")
    answer = sdp.parse_offer(ok.body)
    assert answer.protocol == "RTP/SAVP" and len(answer.crypto) == 1
    assert answer.crypto[0].key not in (c.key for c in call.offered_keys)  # the line's own key
    assert call.media.srtp is not None and call.media.rejected == 0
    # the wire: every packet from the line is SRTP that only the answer's key opens
    reader = SrtpStreams(call.media.srtp.keys)
    plain = [reader.unprotect(p) for p in wire]
    assert len(wire) > 50 and all(p is not None for p in plain)
    spoken = [RtpPacket.parse(p).payload for p in plain if p is not None]
    spoken = [s for s in spoken if heard_speaking(_ulaw_pcm(s))]
    assert len(spoken) > 20, "the bot said nothing the tap saw"
    clear = b"".join(spoken)
    for packet in wire:
        body = packet[12:]
        assert all(body[n : n + 8] not in clear for n in range(0, len(body) - 8, 8))
    # each side heard the other
    assert sum(heard_speaking(f) for f in call.heard_audio) > 50, "the caller did not hear the bot"
    record = wait_for_record(line, srtp_phone.user)
    assert any(e.kind is EventKind.DTMF and e.detail == {"digit": "1"} for e in record.events)
    heard_caller = [e.detail["state"] for e in record.events if e.kind is EventKind.LINE]
    assert any(state != "silence" for state in heard_caller), f"the bot heard nothing: {heard_caller}"


def _ulaw_pcm(payload: bytes) -> bytes:
    return g711.ulaw_decode(payload)


@pytest.mark.parametrize(("mode", "srtp"), [("require", False), ("off", True)])
def test_a_rule_refuses_the_other_kind_of_offer_with_488(
    mode: str, srtp: bool, open_line: LineMaker, phone: SipPhone, tmp_path: Path, caller_number: CallerNumbers
) -> None:
    line = open_line(flow=flow_file(tmp_path, CALLER_FLOW), srtp=mode)
    phone.srtp = srtp
    phone.user = caller_number()
    call = phone.call(line.line.transport.address, SCRIPT)
    assert call.done.wait(10)
    assert call.final_status == 488 and call.answered_at is None
    assert line.line.live_calls() == 0
