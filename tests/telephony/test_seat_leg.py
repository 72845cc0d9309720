"""The outbound leg to a seat as a state machine: what it sends and what it reports, no network needed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest

from ivr.line.seat_leg import Credentials, LegEvent, LegPlan, LegState, SeatLeg
from ivr.telephony import sdp
from ivr.telephony.sip_message import SipMessage, parse, request, response

LOCAL = ("127.0.0.1", 5070)
SEAT = ("127.0.0.1", 5091)
PLAN = LegPlan(
    uri="sip:1001@127.0.0.1:5091",
    hop=SEAT,
    from_uri="sip:ivr@127.0.0.1:5070",
    contact="sip:ivr@127.0.0.1:5070",
    credentials=Credentials("ivr", "secret"),
)


@pytest.fixture
def rtp() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


def sent(leg: SeatLeg) -> list[SipMessage]:
    return [parse(data) for data, _ in leg.take_outbox()]


def reply(invite: SipMessage, status: int, reason: str, **kw: object) -> SipMessage:
    return response(invite, status, reason, to_tag="seat-tag", **kw)  # type: ignore[arg-type]


def test_an_answered_seat_is_acked_at_its_contact_and_its_media_starts(rtp: socket.socket) -> None:
    leg = SeatLeg(PLAN, LOCAL, rtp, now=0.0)
    (invite,) = sent(leg)
    assert invite.method == "INVITE" and invite.uri == PLAN.uri
    assert b"PCMU" in invite.body and b"telephone-event" in invite.body
    leg.on_response(reply(invite, 180, "Ringing"), 0.1)
    assert leg.take_events() == [LegEvent.RINGING]
    answer = sdp.answer(sdp.parse_offer(invite.body), "127.0.0.1", 40000, session_id=1)
    ok = reply(
        invite,
        200,
        "OK",
        headers=[("Contact", "<sip:1001@127.0.0.1:5099>")],
        body=answer,
        content_type="application/sdp",
    )
    leg.on_response(ok, 1.0)
    assert leg.take_events() == [LegEvent.ANSWERED]
    (ack,) = leg.take_outbox()
    assert parse(ack[0]).method == "ACK" and ack[1] == ("127.0.0.1", 5099)
    assert leg.media is not None and leg.media.remote == ("127.0.0.1", 40000)
    leg.on_response(ok, 1.5)  # a retransmitted 2xx is ACKed again, nothing else
    assert [m.method for m in sent(leg)] == ["ACK"] and leg.take_events() == []


def test_a_busy_seat_is_acked_and_reported_refused(rtp: socket.socket) -> None:
    leg = SeatLeg(PLAN, LOCAL, rtp, now=0.0)
    (invite,) = sent(leg)
    leg.on_response(reply(invite, 486, "Busy Here"), 0.2)
    assert leg.take_events() == [LegEvent.REFUSED] and leg.status == 486
    (ack,) = sent(leg)
    assert ack.method == "ACK" and ack.top_via.branch == invite.top_via.branch


def test_a_challenge_is_answered_once_with_credentials(rtp: socket.socket) -> None:
    leg = SeatLeg(PLAN, LOCAL, rtp, now=0.0)
    (invite,) = sent(leg)
    challenge = [("Proxy-Authenticate", 'Digest realm="127.0.0.1", nonce="abc"')]
    leg.on_response(reply(invite, 407, "Proxy Authentication Required", headers=challenge), 0.1)
    ack, again = sent(leg)
    assert ack.method == "ACK" and again.method == "INVITE"
    assert again.cseq[0] == 2 and "Digest" in (again.header("Proxy-Authorization") or "")
    leg.on_response(reply(again, 407, "Proxy Authentication Required", headers=challenge), 0.2)
    assert leg.take_events() == [LegEvent.REFUSED]


def test_stop_ringing_sends_cancel_once_the_seat_rings(rtp: socket.socket) -> None:
    leg = SeatLeg(PLAN, LOCAL, rtp, now=0.0)
    (invite,) = sent(leg)
    leg.cancel(0.1)  # nothing heard yet: no CANCEL may go (RFC 3261 §9.1)
    assert sent(leg) == []
    leg.on_response(reply(invite, 180, "Ringing"), 0.2)
    (cancel,) = sent(leg)
    assert cancel.method == "CANCEL" and cancel.top_via.branch == invite.top_via.branch
    assert leg.state is LegState.ENDED and leg.take_events() == []


def test_a_seat_that_never_answers_at_all_is_unreachable_after_timer_b(rtp: socket.socket) -> None:
    leg = SeatLeg(PLAN, LOCAL, rtp, now=0.0)
    sent(leg)
    t = 0.0
    resent = 0
    while t < 40.0 and leg.state is not LegState.ENDED:
        t += 0.02
        leg.tick(t)
        resent += len(sent(leg))
    assert leg.take_events() == [LegEvent.UNREACHABLE]
    assert 5 <= resent <= 12  # timer A: 0.5, 1, 2, 4, 4, … s


def test_a_seat_that_puts_the_line_on_hold_is_answered_recvonly_and_sent_nothing_until_it_resumes(
    rtp: socket.socket,
) -> None:
    leg = SeatLeg(PLAN, LOCAL, rtp, now=0.0)
    (invite,) = sent(leg)
    answer = sdp.answer(sdp.parse_offer(invite.body), "127.0.0.1", 40000, session_id=1)
    leg.on_response(
        reply(
            invite,
            200,
            "OK",
            headers=[("Contact", "<sip:1001@127.0.0.1:5099>")],
            body=answer,
            content_type="application/sdp",
        ),
        1.0,
    )
    leg.take_outbox()
    ours = sdp.parse_offer(invite.body)

    def reinvite(direction: str, cseq: int) -> sdp.Offer:
        body = sdp.offer("127.0.0.1", 40002, session_id=1, version=cseq, direction=direction)
        req = request(
            "INVITE",
            PLAN.contact,
            via=f"SIP/2.0/UDP 127.0.0.1:5091;branch=z9hG4bK-hold-{cseq}",
            from_="<sip:1001@127.0.0.1:5091>;tag=seat-tag",
            to=invite.header("From") or "",
            call_id=invite.call_id,
            cseq=cseq,
            contact="<sip:1001@127.0.0.1:5099>",
            body=body,
            content_type="application/sdp",
        )
        leg.on_request(req, SEAT, 2.0)
        (ok,) = sent(leg)
        assert ok.status == 200
        return sdp.parse_offer(ok.body)

    held = reinvite("sendonly", 2)
    assert (held.direction, held.session_id, held.session_version) == (
        "recvonly",
        ours.session_id,
        str(int(ours.session_version) + 1),
    )
    assert leg.media is not None and leg.media.held and leg.media.remote == ("127.0.0.1", 40002)
    assert leg.media.send(b"\0" * 320) is False  # nothing goes to a seat that holds us
    resumed = reinvite("sendrecv", 3)
    assert resumed.direction == "sendrecv" and not leg.media.held


def answer_to(invite: SipMessage, *, srtp: bool) -> SipMessage:
    offer = sdp.parse_offer(invite.body)
    crypto = sdp.fresh_crypto(offer.crypto[-1].tag, offer.crypto[-1].suite) if srtp else None
    if crypto is None and offer.secure:  # a seat whose phone has no SRTP answers plain all the same
        offer = sdp.parse_offer(invite.body.replace(b"RTP/SAVP", b"RTP/AVP"))
    body = sdp.answer(offer, "127.0.0.1", 40000, session_id=1, crypto=crypto)
    return reply(invite, 200, "OK", body=body, content_type="application/sdp")


def test_under_require_a_seat_is_rung_with_srtp_and_its_media_is_keyed_by_its_answer(
    rtp: socket.socket,
) -> None:
    leg = SeatLeg(replace(PLAN, srtp="require"), LOCAL, rtp, now=0.0)
    (invite,) = sent(leg)
    offer = sdp.parse_offer(invite.body)
    assert offer.protocol == "RTP/SAVP"
    assert [(c.tag, c.suite) for c in offer.crypto] == [(1, sdp.SRTP_SUITES[0]), (2, sdp.SRTP_SUITES[1])]
    leg.on_response(answer_to(invite, srtp=True), 1.0)
    assert leg.take_events() == [LegEvent.ANSWERED]
    assert leg.media is not None and leg.media.srtp is not None
    assert leg.media.srtp.keys.ours == offer.crypto[1]  # the key of the suite the seat chose


def test_under_require_a_seat_answering_plain_rtp_is_hung_up_and_refused(rtp: socket.socket) -> None:
    leg = SeatLeg(replace(PLAN, srtp="require"), LOCAL, rtp, now=0.0)
    (invite,) = sent(leg)
    leg.on_response(answer_to(invite, srtp=False), 1.0)
    assert leg.take_events() == [LegEvent.REFUSED] and leg.status == 488
    assert [m.method for m in sent(leg)] == ["ACK", "BYE"]


@pytest.mark.parametrize("mode", ["off", "offer"])
def test_otherwise_a_seat_is_rung_with_plain_rtp(rtp: socket.socket, mode: str) -> None:
    leg = SeatLeg(replace(PLAN, srtp=mode), LOCAL, rtp, now=0.0)  # type: ignore[arg-type]
    (invite,) = sent(leg)
    assert b"RTP/AVP" in invite.body and b"a=crypto" not in invite.body
