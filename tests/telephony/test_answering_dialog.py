"""The answering side of a dialog, as the desk line and the seat phone both use it (RFC 3261 §12, §15)."""

from __future__ import annotations

from ivr.telephony.answering_dialog import AnsweringDialog
from ivr.telephony.sip_message import SipMessage, parse, request

PROXY = "<sip:127.0.0.2:5060;lr>"


def invite(record_route: bool) -> SipMessage:
    return parse(
        request(
            "INVITE",
            "sip:desk@127.0.0.1:5070",
            via="SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-proxy;rport",
            from_="<sip:13800138000@127.0.0.1>;tag=caller1",
            to="<sip:desk@127.0.0.1>",
            call_id="c1@127.0.0.9",
            cseq=7,
            contact="<sip:13800138000@127.0.0.9:5999>",
            headers=[("Record-Route", PROXY)] if record_route else [],
        ).serialize()
    )


def test_responses_carry_our_tag_and_go_along_the_via() -> None:
    dialog = AnsweringDialog(invite(record_route=False), ("127.0.0.2", 40000))
    ringing = parse(dialog.answer(180, "Ringing"))
    assert ringing.status == 180 and ringing.to_tag == dialog.to_tag
    assert ringing.cseq == (7, "INVITE")
    assert dialog.reply_to == ("127.0.0.2", 40000), "rport: back to where the INVITE came from"
    assert "received=127.0.0.2" in (ringing.header("Via") or "")


def test_the_200_copies_the_route_set_and_carries_the_sdp() -> None:
    dialog = AnsweringDialog(invite(record_route=True), ("127.0.0.2", 5060))
    ok = parse(dialog.ok("<sip:ivr@127.0.0.1:5070>", b"v=0\r\n", [("Server", "ivr/0.1")]))
    assert ok.status == 200 and ok.to_tag == dialog.to_tag
    assert ok.all("Record-Route") == [PROXY]
    assert ok.header("Contact") == "<sip:ivr@127.0.0.1:5070>" and ok.header("Server") == "ivr/0.1"
    assert ok.header("Content-Type") == "application/sdp" and ok.body == b"v=0\r\n"


def test_a_bye_goes_through_the_route_set_to_the_callers_contact_with_a_new_cseq() -> None:
    dialog = AnsweringDialog(invite(record_route=True), ("127.0.0.2", 5060))
    data, hop = dialog.bye(("127.0.0.1", 5070))
    bye = parse(data)
    assert bye.method == "BYE" and bye.uri == "sip:13800138000@127.0.0.9:5999"
    assert hop == ("127.0.0.2", 5060), "the first hop is the proxy that recorded the route"
    assert bye.all("Route") == [PROXY]
    assert bye.from_tag == dialog.to_tag and bye.to_tag == "caller1"
    assert bye.cseq == (2, "BYE")
    assert parse(dialog.bye(("127.0.0.1", 5070))[0]).cseq == (3, "BYE"), "each request counts up"


def test_without_routes_the_bye_goes_straight_to_the_contact() -> None:
    dialog = AnsweringDialog(invite(record_route=False), ("127.0.0.2", 5060))
    data, hop = dialog.bye(("127.0.0.1", 5070))
    assert hop == ("127.0.0.9", 5999) and parse(data).all("Route") == []
