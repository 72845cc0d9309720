"""What a request must pass on arrival (RFC 3261 §8.2): headers a dialog will use, hops, Require."""

from __future__ import annotations

import pytest

from ivr.telephony.arrival import Refusal, dialog_header_problem, refusal
from ivr.telephony.sip_message import SipMessage, parse, request, response


def invite(method: str = "INVITE", max_forwards: int = 70, **headers: str) -> SipMessage:
    """A well-formed request, with headers set as given (``Record_Route`` is Record-Route)."""
    msg = parse(
        request(
            method,
            "sip:desk@127.0.0.1:5070",
            via="SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-1;rport",
            from_="<sip:13800138000@127.0.0.1>;tag=caller1",
            to="<sip:desk@127.0.0.1>",
            call_id="c1@127.0.0.9",
            cseq=1,
            contact="<sip:13800138000@127.0.0.9:5999>",
            max_forwards=max_forwards,
        ).serialize()
    )
    for name, value in headers.items():
        msg = msg.with_header(name.replace("_", "-"), value)
    return msg


def test_a_well_formed_invite_is_taken() -> None:
    assert refusal(invite()) is None
    assert refusal(invite(Record_Route="<sip:127.0.0.2;lr>, <sip:p2.example.com:5070;lr>")) is None
    assert refusal(invite(Contact='"Reception desk" <sips:desk@[::1]:5061;transport=tls>;expires=60')) is None


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("Record-Route", "<sip:127.0.0.1:5184;lr", "Bad Record-Route: '<' without a closing '>'"),
        ("Record-Route", "sip:127.0.0.1:5184;lr", "Bad Record-Route: the URI must be in <...>"),
        (
            "Record-Route",
            "<sip:127.0.0.2;lr>, <sip:p2:5070;lr",
            "Bad Record-Route: '<' without a closing '>'",
        ),
        ("Record-Route", "<tel:+8610123>", "Bad Record-Route: 'tel' URI where a sip or sips URI must be"),
        ("Route", "<sip:;lr>", "Bad Route: empty host"),
        ("Contact", "<sip:caller@127.0.0.1:5999", "Bad Contact: '<' without a closing '>'"),
        ("Contact", "sip:caller @127.0.0.1", "Bad Contact: a URI with spaces must be in <...>"),
        ("Contact", "<caller-at-nowhere>", "Bad Contact: URI has no scheme"),
        ("Contact", "<sip:caller@127.0.0.1:0>", "Bad Contact: port '0' is not 1..65535"),
        ("Contact", "<sip:a@127.0.0.1>, <sip:b@127.0.0.1>", "Bad Contact: more than one in an INVITE"),
        ("Contact", "*", "Bad Contact: URI has no scheme"),
        ("From", "<caller>;tag=1", "Bad From: URI has no scheme"),
    ],
)
def test_a_header_no_dialog_could_use_is_400_naming_it(header: str, value: str, reason: str) -> None:
    assert refusal(invite().with_header(header, value)) == Refusal(400, reason)


def test_a_broken_via_below_the_top_one_is_400() -> None:
    msg = invite()
    msg = SipMessage(
        True, msg.method, msg.uri, headers=[("Via", "SIP/2.0/UDP proxy:5060;branch=z9hG4bK-p"), *msg.headers]
    )
    msg = SipMessage(
        True, msg.method, msg.uri, headers=[*msg.headers[:2], ("Via", "SIP/2.0/UDP"), *msg.headers[2:]]
    )
    assert refusal(msg) == Refusal(400, "Bad Via: expected 'SIP/2.0/<transport> <host>[:port]'")


def test_register_may_say_contact_star_and_an_ack_is_never_refused() -> None:
    assert refusal(invite("REGISTER", Contact="*", Expires="0")) is None
    assert refusal(invite("ACK", max_forwards=0, Record_Route="<sip:x;lr", Require="100rel")) is None


def test_no_hops_left_is_483_except_for_options_which_a_uas_answers_itself() -> None:
    assert refusal(invite(max_forwards=0)) == Refusal(483, "Too Many Hops")
    assert refusal(invite("BYE", max_forwards=0)) == Refusal(483, "Too Many Hops")
    assert refusal(invite("OPTIONS", max_forwards=0)) is None
    assert refusal(invite(Max_Forwards="many")) == Refusal(400, "Bad Max-Forwards: not a number 0..255")


def test_an_option_we_do_not_support_is_420_listing_it_in_unsupported() -> None:
    assert refusal(invite(Require="100rel, Timer")) == Refusal(
        420, "Bad Extension", (("Unsupported", "100rel, Timer"),)
    )
    assert refusal(invite(Require="timer"), supported=["TIMER"]) is None
    assert refusal(invite("CANCEL", Require="100rel")) is None, "a CANCEL is never refused for Require"


def test_a_2xx_whose_contact_or_record_route_is_broken_is_no_dialog() -> None:
    ok = response(invite(), 200, "OK", to_tag="seat", headers=[("Contact", "<sip:seat@127.0.0.1:5092")])
    assert dialog_header_problem(ok) == "Bad Contact: '<' without a closing '>'"
    ok = response(invite(), 200, "OK", to_tag="seat", headers=[("Record-Route", "<sip:proxy;lr")])
    assert dialog_header_problem(ok) == "Bad Record-Route: '<' without a closing '>'"
