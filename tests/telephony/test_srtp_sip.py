"""SRTP over real SIP on loopback: a caller offering RTP/SAVP (the scripted phone) is answered with
SRTP; the audio on the wire is not the bot's audio in clear, and each side hears the other (the bot
the caller's tone and key, the caller the bot's words). ``[sip] srtp`` refuses what it says with 488."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.call.events import EventKind
from ivr.demo.phone import SipPhone, heard_speaking
from ivr.demo.phone_script import Press, Tone, WaitForBot
from ivr.telephony import g711, sdp
from ivr.telephony.rtp import RtpPacket
from ivr.telephony.srtp import SrtpStreams, answered_keys
from tests.telephony.conftest import CallerNumbers, LineMaker, started_phone, wait_for_record
from tests.telephony.harness.ports import LOOPBACK
from tests.telephony.harness.rtp_tap import RtpTap
from tests.telephony.raw_sip import RawCaller
from tests.telephony.test_interop import caller_flow
from tests.telephony.test_mid_call_sip import reoffer
from tests.telephony.test_seats_sip import CALLER_HZ

pytestmark = pytest.mark.slow
SCRIPT = (WaitForBot(limit_s=10), Tone(1.0, CALLER_HZ), Press("1"), WaitForBot(limit_s=10))


@pytest.fixture
def srtp_phone() -> Iterator[SipPhone]:
    with started_phone(srtp=True) as phone:
        yield phone


@pytest.mark.parametrize("mode", ["offer", "require"])
def test_a_caller_offering_srtp_is_answered_encrypted_and_both_sides_hear_each_other(
    mode: str,
    open_line: LineMaker,
    srtp_phone: SipPhone,
    tmp_path: Path,
    caller_number: CallerNumbers,
    rendered_audio: Path,
) -> None:
    line = open_line(flow=caller_flow(tmp_path), srtp=mode)
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
    (media,) = [e.detail for e in record.events if e.kind is EventKind.MEDIA]
    assert (
        media["srtp_rejected"] == 0 and int(str(media["received"])) > 50
    )  # the register: SRTP, all authentic


def _ulaw_pcm(payload: bytes) -> bytes:
    return g711.ulaw_decode(payload)


@pytest.mark.parametrize(("mode", "srtp"), [("require", False), ("off", True)])
def test_a_rule_refuses_the_other_kind_of_offer_with_488(
    mode: str, srtp: bool, open_line: LineMaker, phone: SipPhone, tmp_path: Path, caller_number: CallerNumbers
) -> None:
    line = open_line(flow=caller_flow(tmp_path), srtp=mode)
    phone.srtp = srtp
    phone.user = caller_number()
    call = phone.call(line.line.transport.address, SCRIPT)
    assert call.done.wait(10)
    assert call.final_status == 488 and call.answered_at is None
    assert line.line.live_calls() == 0


# --- mid-call: a re-INVITE on an SRTP call (RawCaller: exactly the SIP it is told to send) ------


def srtp_offer(port: int, version: int, crypto: sdp.Crypto, direction: str = "sendrecv") -> bytes:
    return sdp.offer(
        LOOPBACK, port, 4242, codecs=("PCMU",), version=version, direction=direction, crypto=(crypto,)
    )


def opened(reader: SrtpStreams, sock: socket.socket, seconds: float) -> int:
    """How many packets reach ``sock`` in ``seconds`` that ``reader`` authenticates (and none fails)."""
    deadline = time.monotonic() + seconds
    count = 0
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except TimeoutError:
            break
        assert reader.unprotect(data) is not None, "a packet the answer's key does not open"
        count += 1
    return count


def test_an_srtp_caller_who_holds_resumes_and_rekeys_keeps_hearing_the_bot_encrypted(
    open_line: LineMaker, raw: RawCaller, tmp_path: Path, rendered_audio: Path
) -> None:
    line = open_line(flow=caller_flow(tmp_path))
    target = line.line.transport.address
    caller_key = sdp.fresh_crypto(1, sdp.SRTP_SUITES[0])
    dialog = raw.invite(target, crypto=(caller_key,))
    first = sdp.parse_offer(raw.answered(dialog).body)
    raw.send(raw.in_dialog(dialog, "ACK"), target)
    keys = answered_keys((caller_key,), first)
    assert keys is not None
    reader = SrtpStreams(keys)
    assert opened(reader, raw.media, 0.4) >= 10
    held = sdp.parse_offer(
        reoffer(raw, dialog, target, "INVITE", srtp_offer(raw.rtp_port, 4243, caller_key, "inactive")).body
    )
    assert held.direction == "inactive" and held.crypto == first.crypto  # the line's key is kept
    opened(reader, raw.media, 0.1)  # what was in flight
    assert opened(reader, raw.media, 0.4) == 0
    new_key = sdp.fresh_crypto(1, sdp.SRTP_SUITES[0])  # the caller rekeys as it resumes
    resumed = sdp.parse_offer(
        reoffer(raw, dialog, target, "INVITE", srtp_offer(raw.rtp_port, 4244, new_key)).body
    )
    assert resumed.direction == "sendrecv" and resumed.crypto == first.crypto
    assert opened(reader, raw.media, 0.4) >= 15
    assert line.line.live_calls() == 1


def test_under_require_a_plain_reoffer_gets_488_and_the_call_stays_encrypted(
    open_line: LineMaker, raw: RawCaller, tmp_path: Path, rendered_audio: Path
) -> None:
    line = open_line(flow=caller_flow(tmp_path), srtp="require")
    target = line.line.transport.address
    caller_key = sdp.fresh_crypto(1, sdp.SRTP_SUITES[1])
    dialog = raw.invite(target, crypto=(caller_key,))
    first = sdp.parse_offer(raw.answered(dialog).body)
    raw.send(raw.in_dialog(dialog, "ACK"), target)
    keys = answered_keys((caller_key,), first)
    assert keys is not None and keys.suite == "AES_CM_128_HMAC_SHA1_32"
    plain = sdp.offer(LOOPBACK, raw.rtp_port, 4242, codecs=("PCMU",), version=4243)
    reoffer(raw, dialog, target, "INVITE", plain, status=488)
    assert opened(SrtpStreams(keys), raw.media, 0.4) >= 15
    assert line.line.live_calls() == 1
