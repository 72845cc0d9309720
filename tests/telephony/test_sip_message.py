"""SIP messages: captured datagrams round-trip, lookups know compact forms, responses go where RFC 3581 says."""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.telephony.sip_message import (
    SipMessage,
    SipParseError,
    Via,
    is_keepalive,
    new_branch,
    new_call_id,
    new_tag,
    parse,
    parse_name_addr,
    request,
    response,
    response_wire,
    uri_hostport,
    uri_user,
)

DATA = Path(__file__).parent / "data"
CANONICAL = ["invite_pyvoip.sip", "ok_invite_sipp.sip", "register_401_kamailio.sip"]


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.mark.parametrize("name", CANONICAL)
def test_canonical_messages_round_trip_byte_for_byte(name: str) -> None:
    data = load(name)
    assert parse(data).serialize() == data


def test_pyvoip_invite_is_read_whole() -> None:
    msg = parse(load("invite_pyvoip.sip"))
    assert msg.is_request and msg.method == "INVITE" and msg.uri == "sip:desk@127.0.0.1:5060"
    assert msg.status == 0 and msg.reason == ""
    assert msg.call_id == "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e@127.0.0.1:5062"
    assert msg.cseq == (1, "INVITE")
    assert msg.from_tag == "6e2a9b1c" and msg.to_tag is None
    assert msg.top_via == Via(
        "UDP", "127.0.0.1", 5062, (("branch", "z9hG4bK4f1d0a8e3b2c4d5e6f708192a3b4c5d6"),)
    )
    assert msg.header("user-agent") == "pyVoIP 1.6.8"
    assert msg.all("Allow") == ["INVITE", "ACK", "BYE", "CANCEL"]
    assert msg.header("Allow") == "INVITE, ACK, BYE, CANCEL"
    assert msg.body.startswith(b"v=0\r\n") and len(msg.body) == int(msg.header("l") or "")


def test_sipp_response_keeps_every_via_in_order() -> None:
    msg = parse(load("ok_invite_sipp.sip"))
    assert not msg.is_request and (msg.status, msg.reason) == (200, "OK") and msg.method == ""
    assert [v.port for v in msg.vias] == [5070, 5080]
    assert msg.top_via.received == "127.0.0.1" and msg.top_via.rport == 5070
    assert msg.all("Record-Route") == ["<sip:127.0.0.1;lr;ftag=31337SIPpTag001>"]
    assert msg.to_tag == "8f2e1a7c" and msg.cseq == (1, "INVITE")


def test_compact_and_oddly_spaced_linphone_invite_is_understood() -> None:
    msg = parse(load("invite_linphone_compact.sip"))
    names = [n for n, _ in msg.headers]
    assert names[:7] == ["Via", "Record-Route", "From", "To", "Call-ID", "CSeq", "Max-Forwards"]
    assert "Supported" in names and "Content-Type" in names and "Content-Length" in names
    assert len(msg.all("v")) == 2
    assert [v.host for v in msg.vias] == ["192.0.2.1", "10.0.0.23"]
    assert msg.top_via.branch == "z9hG4bK.proxy1"
    assert msg.header("i") == msg.header("CALL-ID") == msg.call_id == "7f3e2d1c-linphone@10.0.0.23"
    assert msg.cseq == (20, "INVITE")
    display, uri, params = parse_name_addr(msg.header("f") or "")
    assert display == 'Zhang "Wei"' and uri == "sip:13900000000@example.com" and params == {"tag": "A1b2C3"}
    assert msg.to_tag is None
    assert msg.header("Subject") == "Phone call"
    assert msg.all("k") == ["replaces", "outbound", "gruu"]
    assert len(msg.all("Contact")) == 1  # the quoted +sip.instance holds no list separator
    assert (
        msg.header("c") == "application/sdp"
        and msg.body.startswith(b"v=0")
        and msg.body.endswith(b"VP8/90000\r\n")
    )


def test_compact_invite_serializes_to_canonical_form_and_reads_back_the_same() -> None:
    msg = parse(load("invite_linphone_compact.sip"))
    assert msg.serialize() == load("invite_linphone_compact.normalized.sip")
    assert parse(msg.serialize()) == msg


def test_lf_only_message_after_a_leading_crlf_is_understood() -> None:
    msg = parse(load("bye_lf_only.sip"))
    assert msg.method == "BYE" and msg.cseq == (2, "BYE") and msg.body == b""
    assert msg.top_via.host == "2001:db8::7" and msg.top_via.port == 5062
    assert parse(msg.serialize()) == msg


def test_bytes_beyond_content_length_are_discarded() -> None:
    data = load("register_401_kamailio.sip") + b"junk"
    assert parse(data).body == b""


INVITE = load("invite_pyvoip.sip")
HEAD, _, SDP = INVITE.partition(b"\r\n\r\n")


def without(name: bytes) -> bytes:
    lines = [ln for ln in HEAD.split(b"\r\n") if not ln.lower().startswith(name.lower() + b":")]
    return b"\r\n".join(lines) + b"\r\n\r\n" + SDP


def replace_line(prefix: bytes, line: bytes) -> bytes:
    lines = [line if ln.startswith(prefix) else ln for ln in HEAD.split(b"\r\n")]
    return b"\r\n".join(lines) + b"\r\n\r\n" + SDP


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty message"),
        (b"\r\n\r\n", "empty message"),
        (HEAD, "no blank line ends the headers"),
        (b"\r\n" + b" \r\nVia: x\r\n\r\n", "no start line"),
        (replace_line(b"INVITE", b"SIP/2.0 20 OK"), "bad status code '20' in status line"),
        (replace_line(b"INVITE", b"SIP/2.0 abc OK"), "bad status code 'abc'"),
        (replace_line(b"INVITE", b"SIP/2.0 700 Odd"), "bad status code '700'"),
        (replace_line(b"INVITE", b"SIP/2.0"), "bad status code ''"),
        (replace_line(b"INVITE", b"SIP/3.0 200 OK"), "unsupported SIP version 'SIP/3.0' in status line"),
        (
            replace_line(b"INVITE", b"INVITE sip:desk@h SIP/1.0"),
            "unsupported SIP version 'SIP/1.0' in request line",
        ),
        (replace_line(b"INVITE", b"INVITE sip:desk@h"), "request line must be"),
        (replace_line(b"INVITE", b"INVITE  sip:desk@h SIP/2.0"), "request line must be"),
        (replace_line(b"INVITE", b"INV(TE sip:desk@h SIP/2.0"), "bad method"),
        (replace_line(b"INVITE", b"INVITE desk SIP/2.0"), "Request-URI has no scheme"),
        (without(b"Call-ID"), "missing required header: Call-ID"),
        (without(b"CSeq"), "missing required header: CSeq"),
        (without(b"From"), "missing required header: From"),
        (without(b"To"), "missing required header: To"),
        (without(b"Via"), "missing required header: Via"),
        (without(b"From").replace(b"To:", b"X-To:"), "missing required headers: From, To"),
        (replace_line(b"CSeq", b"CSeq: 1 BYE"), "CSeq method BYE does not match the request method INVITE"),
        (replace_line(b"CSeq", b"CSeq: one INVITE"), "CSeq must be '<number> <method>'"),
        (replace_line(b"CSeq", b"CSeq: 2147483648 INVITE"), "CSeq number 2147483648 is not below 2**31"),
        (
            replace_line(b"Content-Length", b"Content-Length: 9999"),
            "Content-Length is 9999 but the body has 252 bytes",
        ),
        (replace_line(b"Content-Length", b"Content-Length: -1"), "Content-Length '-1' is not a number"),
        (replace_line(b"Max-Forwards", b"Max-Forwards 70"), "line 3: header line has no ':'"),
        (replace_line(b"Max-Forwards", b"Max Forwards: 70"), "line 3: bad header name 'Max Forwards'"),
        (replace_line(b"Via", b"Via: SIP/2.0/UDP"), "Via: expected 'SIP/2.0/<transport> <host>[:port]'"),
        (replace_line(b"Via", b"Via: SIP/3.0/UDP h:5060"), "Via: protocol SIP/3.0 is not SIP/2.0"),
        (replace_line(b"Via", b"Via: SIP/2.0/UDP h:99999"), "Via sent-by: port '99999' is not 1..65535"),
        (replace_line(b"Via", b"Via: SIP/2.0/UDP [::1:5060"), "IPv6 reference has no closing ']'"),
        (
            replace_line(b"From", b'From: "13800000000 <sip:13800000000@h>'),
            "From: name-addr: unterminated quoted",
        ),
        (
            replace_line(b"From", b"From: <sip:13800000000@h;tag=1"),
            "From: name-addr: '<' without a closing '>'",
        ),
        (replace_line(b"To", b"To: <>"), "To: name-addr: empty URI"),
        (replace_line(b"To", b"To: < sip:desk@h >"), "To: name-addr: spaces inside <...> around the URI"),
        (replace_line(b"To", b"To: Front, Desk <sip:desk@h>"), "To: name-addr: a display name with other"),
        (
            HEAD.replace(b"CSeq: 1 INVITE", b"CSeq: 1 INVITE\r\nCSeq: 2 INVITE") + b"\r\n\r\n" + SDP,
            "more than one CSeq",
        ),
        (replace_line(b"Max-Forwards", b"Max-Forwards: 256"), "Max-Forwards '256' is not 0..255"),
        (
            replace_line(b"Max-Forwards", b"Date: Sat, 13 Nov 2010 23:29:00 EST"),
            "Date is not an RFC 1123 date in GMT",
        ),
        (
            replace_line(b"INVITE", b"INVITE <sip:desk@h> SIP/2.0"),
            "Request-URI does not start with a URI scheme",
        ),
        (replace_line(b"INVITE", b"INVITE sip:desk@h?Route=x SIP/2.0"), "Request-URI carries headers"),
        (b"INVITE sip:a@b SIP/2.0\r\n\xff\xfe: x\r\n\r\n", "headers are not valid UTF-8 (byte 24)"),
        (b"INVITE sip:a@b SIP/2.0\r\n continued\r\n\r\n", "line 2: continuation line before any header"),
    ],
)
def test_malformed_messages_say_precisely_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(SipParseError, match=re.escape(message)):
        parse(data)


def test_parse_errors_never_carry_the_caller_number() -> None:
    bad = [
        replace_line(b"From", b'From: "13800000000 <sip:13800000000@h>'),
        replace_line(b"From", b"From: <sip:13800000000@h;tag=1"),
        replace_line(b"Contact", b"Contact 13800000000"),
        replace_line(b"INVITE", b"INVITE <sip:13800000000@h> SIP/2.0"),
        replace_line(b"INVITE", b"INVITE 13800000000:x SIP/2.0"),
        replace_line(b"To", b"To: 13800000000, <sip:13800000000@h>"),
    ]
    for data in bad:
        with pytest.raises(SipParseError) as info:
            parse(data)
        assert "13800000000" not in str(info.value)


def test_mangled_datagrams_never_raise_anything_but_sip_parse_error() -> None:
    rng = random.Random(3261)
    seeds = [load(n) for n in [*CANONICAL, "invite_linphone_compact.sip", "bye_lf_only.sip"]]
    for _ in range(1500):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.choice(b' :;,<>"\\\r\n/=\t0aZ\xff@[]')
        data = data[: rng.randint(0, len(data))] if rng.random() < 0.3 else data
        try:
            msg = parse(bytes(data))
        except SipParseError:
            continue
        assert parse(msg.serialize()).serialize() == msg.serialize()
        assert (msg.cseq, msg.from_tag, msg.to_tag, msg.top_via) is not None
        with contextlib.suppress(SipParseError):  # only the top Via is checked on receipt
            msg.vias  # noqa: B018


def test_keepalives_are_recognised_and_not_parsed() -> None:
    assert is_keepalive(b"\r\n\r\n") and is_keepalive(b"\r\n") and not is_keepalive(INVITE)


# --- Via --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "via"),
    [
        (
            "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1;rport",
            Via("UDP", "10.0.0.1", 5062, (("branch", "z9hG4bK1"), ("rport", None))),
        ),
        (
            "SIP/2.0/TCP host.example.com;branch=z9hG4bK2",
            Via("TCP", "host.example.com", None, (("branch", "z9hG4bK2"),)),
        ),
        (
            "SIP / 2.0 / udp  10.0.0.1:5060 ; branch = z9hG4bK3",
            Via("UDP", "10.0.0.1", 5060, (("branch", "z9hG4bK3"),)),
        ),
        (
            "SIP/2.0/UDP [2001:db8::1]:5070;received=2001:db8::9",
            Via("UDP", "2001:db8::1", 5070, (("received", "2001:db8::9"),)),
        ),
        (
            "SIP/2.0/UDP 10.0.0.1 (a comment);branch=z9hG4bK4",
            Via("UDP", "10.0.0.1", None, (("branch", "z9hG4bK4"),)),
        ),
    ],
)
def test_via_values_in_the_shapes_peers_send(value: str, via: Via) -> None:
    assert Via.parse(value) == via


def test_via_formats_back_to_its_canonical_text() -> None:
    text = "SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK1;rport"
    assert str(Via.parse(text)) == text


@pytest.mark.parametrize(
    ("value", "source", "address"),
    [
        # sent-by matches the source, no rport: the sent-by port
        ("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1", ("10.0.0.1", 40000), ("10.0.0.1", 5062)),
        # behind NAT without rport: the source address (received), the sent-by port
        ("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1", ("203.0.113.9", 40000), ("203.0.113.9", 5062)),
        # no port in sent-by: 5060
        ("SIP/2.0/UDP phone.example.com;branch=z9hG4bK1", ("203.0.113.9", 40000), ("203.0.113.9", 5060)),
        # rport requested: source address and source port (RFC 3581 §4)
        ("SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKkjshdyff", ("192.0.2.1", 9988), ("192.0.2.1", 9988)),
        ("SIP/2.0/UDP 127.0.0.1:5062;rport;branch=z9hG4bK1", ("127.0.0.1", 5062), ("127.0.0.1", 5062)),
        # already filled by a server
        (
            "SIP/2.0/UDP 10.0.0.1:5062;received=198.51.100.4;rport=6000",
            ("192.0.2.1", 9988),
            ("198.51.100.4", 6000),
        ),
        # maddr wins
        ("SIP/2.0/UDP 10.0.0.1:5062;maddr=239.255.255.1", ("192.0.2.1", 9988), ("239.255.255.1", 5062)),
        # TLS default port
        ("SIP/2.0/TLS phone.example.com;branch=z9hG4bK1", ("203.0.113.9", 40000), ("203.0.113.9", 5061)),
    ],
)
def test_responses_go_where_rfc_3261_and_3581_say(
    value: str, source: tuple[str, int], address: tuple[str, int]
) -> None:
    assert Via.parse(value).response_address(source) == address


@pytest.mark.parametrize(
    ("value", "source", "recorded"),
    [
        (
            "SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKkjshdyff",
            ("192.0.2.1", 9988),
            "SIP/2.0/UDP 10.1.1.1:4540;rport=9988;branch=z9hG4bKkjshdyff;received=192.0.2.1",
        ),
        (
            "SIP/2.0/UDP 127.0.0.1:5062;rport;branch=z9hG4bK1",
            ("127.0.0.1", 5062),
            "SIP/2.0/UDP 127.0.0.1:5062;rport=5062;branch=z9hG4bK1;received=127.0.0.1",
        ),
        (
            "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1",
            ("10.0.0.1", 5062),
            "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1",
        ),
        (
            "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1",
            ("203.0.113.9", 5062),
            "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1;received=203.0.113.9",
        ),
    ],
)
def test_server_records_received_and_rport_on_receipt(
    value: str, source: tuple[str, int], recorded: str
) -> None:
    via = Via.parse(value)
    assert via.with_received(source) == recorded
    assert Via.parse(recorded).response_address(source) == via.response_address(source)


# --- building ---------------------------------------------------------------------------------


def test_response_copies_vias_from_to_call_id_cseq_and_adds_the_to_tag() -> None:
    invite = parse(load("invite_linphone_compact.sip"))
    ringing = response(
        invite,
        180,
        "Ringing",
        to_tag="b0b",
        headers=[("Server", "ivr"), ("Allow", "INVITE, ACK, BYE, CANCEL")],
    )
    assert ringing.serialize() == (
        b"SIP/2.0 180 Ringing\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK.proxy1\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.23:5062;branch=z9hG4bK.Ab3dEf;rport\r\n"
        b'From: "Zhang \\"Wei\\"" <sip:13900000000@example.com>;tag=A1b2C3\r\n'
        b"To: <sip:desk@example.com>;tag=b0b\r\n"
        b"Call-ID: 7f3e2d1c-linphone@10.0.0.23\r\n"
        b"CSeq: 20 INVITE\r\n"
        b"Server: ivr\r\n"
        b"Allow: INVITE, ACK, BYE, CANCEL\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert parse(ringing.serialize()) == ringing


def test_response_keeps_an_existing_to_tag_and_carries_a_body() -> None:
    bye = parse(load("bye_lf_only.sip"))
    ok = response(bye, 200, "OK", to_tag="other")
    assert ok.to_tag == "8f2e1a7c"
    answer = response(parse(INVITE), 200, "OK", to_tag="t1", body=b"v=0\r\n", content_type="application/sdp")
    data = answer.serialize()
    assert b"Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n" in data
    assert parse(data).body == b"v=0\r\n"


def test_trying_has_no_to_tag_and_response_can_record_the_source() -> None:
    invite = parse(load("invite_linphone_compact.sip"))
    trying = response(invite, 100, "Trying", source=("192.0.2.1", 5060))
    assert trying.to_tag is None
    assert trying.all("Via")[0] == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK.proxy1"
    natted = parse(load("bye_lf_only.sip"))
    assert response(natted, 200, "OK", source=("2001:db8::99", 41000)).top_via.response_address(("x", 1)) == (
        "2001:db8::99",
        41000,
    )


@pytest.mark.parametrize(
    ("name", "source", "to_tag", "body"),
    [
        ("invite_linphone_compact.sip", ("192.0.2.1", 5060), "b0b", b""),  # two Vias, the top one filled
        ("invite_pyvoip.sip", ("203.0.113.9", 41000), "t1", b"v=0\r\n"),  # NAT: received and rport
        ("bye_lf_only.sip", ("2001:db8::99", 41000), "other", b""),  # a To tag already: kept
        ("invite_pyvoip.sip", None, None, b""),
    ],
)
def test_response_wire_writes_the_same_bytes_as_the_response_serialized(
    name: str, source: tuple[str, int] | None, to_tag: str | None, body: bytes
) -> None:
    req = parse(load(name))
    headers = [("Server", "ivr"), ("Contact", "<sip:ivr@192.0.2.7:5060>")]
    content_type = "application/sdp" if body else None
    content = {"body": body, "content_type": content_type, "source": source}

    def ringing(build: Callable[..., object]) -> object:
        return build(req, 180, "Ringing", to_tag=to_tag, headers=headers, **content)

    made, wire = ringing(response), ringing(response_wire)
    assert isinstance(made, SipMessage)
    assert wire == made.serialize()
    assert parse(wire) == made


def test_a_content_length_passed_to_a_response_is_never_a_second_one() -> None:
    wire = response_wire(parse(INVITE), 200, "OK", headers=[("Content-Length", "99")], body=b"v=0\r\n")
    assert wire.count(b"Content-Length") == 1
    assert parse(wire).body == b"v=0\r\n"


@pytest.mark.parametrize(("status", "message"), [(99, "status must be 100..699"), (700, "status must be")])
def test_response_refuses_bad_statuses(status: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        response(parse(INVITE), status, "x")


def test_cannot_respond_to_a_response() -> None:
    with pytest.raises(ValueError, match="can only respond to a request"):
        response(parse(load("ok_invite_sipp.sip")), 200, "OK")


def test_request_builds_a_message_that_reads_back() -> None:
    via = Via("UDP", "127.0.0.1", 5060, (("branch", "z9hG4bKabc"), ("rport", None)))
    msg = request(
        "INVITE",
        "sip:1001@127.0.0.1:5070",
        via=via,
        from_="<sip:desk@127.0.0.1>;tag=f1",
        to="<sip:1001@127.0.0.1:5070>",
        call_id="c1@127.0.0.1",
        cseq=7,
        contact="<sip:desk@127.0.0.1:5060>",
        headers=[("User-Agent", "ivr")],
        body=b"v=0\r\n",
        content_type="application/sdp",
    )
    assert msg.serialize() == (
        b"INVITE sip:1001@127.0.0.1:5070 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport\r\n"
        b"Max-Forwards: 70\r\n"
        b"From: <sip:desk@127.0.0.1>;tag=f1\r\n"
        b"To: <sip:1001@127.0.0.1:5070>\r\n"
        b"Call-ID: c1@127.0.0.1\r\n"
        b"CSeq: 7 INVITE\r\n"
        b"Contact: <sip:desk@127.0.0.1:5060>\r\n"
        b"User-Agent: ivr\r\n"
        b"Content-Type: application/sdp\r\n"
        b"Content-Length: 5\r\n\r\nv=0\r\n"
    )
    assert parse(msg.serialize()) == msg
    assert msg.cseq == (7, "INVITE") and msg.from_tag == "f1" and msg.top_via == via


@pytest.mark.parametrize(
    ("method", "cseq", "message"), [("IN VITE", 1, "bad method"), ("BYE", -1, "CSeq number")]
)
def test_request_refuses_bad_method_or_cseq(method: str, cseq: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        request(
            method,
            "sip:a@b",
            via="SIP/2.0/UDP h;branch=z9hG4bK1",
            from_="<sip:a@b>",
            to="<sip:c@d>",
            call_id="x",
            cseq=cseq,
        )


def test_header_edits_return_copies_and_content_length_follows_the_body() -> None:
    msg = parse(INVITE)
    authed = msg.with_header("Authorization", 'Digest username="ivr"').with_header("CSeq", "2 INVITE")
    assert authed.cseq == (2, "INVITE") and msg.cseq == (1, "INVITE")
    names = [n for n, _ in authed.headers]
    assert names.index("Authorization") == names.index("Content-Length") - 1
    stripped = authed.without_header("User-Agent").without_header("l")
    assert stripped.header("User-Agent") is None
    assert stripped.serialize().endswith(b"Content-Length: 252\r\n\r\n" + SDP)
    bare = SipMessage(
        is_request=False, status=200, reason="OK", headers=[("l", "99"), ("L", "1")], body=b"ab"
    )
    assert bare.serialize() == b"SIP/2.0 200 OK\r\nl: 2\r\n\r\nab"


def test_ids_are_random_and_reproducible_from_a_seeded_source() -> None:
    assert new_branch().startswith("z9hG4bK") and len(new_branch()) == 7 + 16
    assert new_tag() != new_tag() and len(new_tag()) == 16
    call_id = new_call_id("10.0.0.1")
    assert call_id.endswith("@10.0.0.1") and len(call_id.split("@")[0]) == 32
    assert new_tag(random.Random(1)) == new_tag(random.Random(1))
    assert new_branch(random.Random(2)) == new_branch(random.Random(2))
    assert new_call_id("h", random.Random(3)) == new_call_id("h", random.Random(3))


# --- name-addr and URIs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ('"Alice" <sip:alice@example.com>;tag=1', ("Alice", "sip:alice@example.com", {"tag": "1"})),
        (
            "Bob <sip:bob@example.com:5070;transport=udp>",
            ("Bob", "sip:bob@example.com:5070;transport=udp", {}),
        ),
        ("<sip:desk@127.0.0.1>", ("", "sip:desk@127.0.0.1", {})),
        (
            "sip:carol@example.com;tag=9;Expires=60",
            ("", "sip:carol@example.com", {"tag": "9", "expires": "60"}),
        ),
        ('  "" <tel:+8613800000000>  ;tag=x ; lr', ("", "tel:+8613800000000", {"tag": "x", "lr": None})),
        ('"前台 \\\\ desk" <sip:desk@h>', ("前台 \\ desk", "sip:desk@h", {})),
        ("张 三 <sip:13800000000@h>;tag=1", ("张 三", "sip:13800000000@h", {"tag": "1"})),  # unquoted UTF-8
        ('<sip:a@h>;+sip.instance="<urn:uuid:1>"', ("", "sip:a@h", {"+sip.instance": '"<urn:uuid:1>"'})),
    ],
)
def test_name_addr_forms(value: str, parsed: tuple[str, str, dict[str, str | None]]) -> None:
    assert parse_name_addr(value) == parsed


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"Alice <sip:a@h>', "unterminated quoted display name"),
        ('"Alice" sip:a@h', "must be followed by <URI>"),
        ("<sip:a@h", "'<' without a closing '>'"),
        ("<sip:a@h> tag=1", "unexpected text where ';' parameters should be"),
        ("Alice sip:a@h", "a URI with spaces must be in <...>"),
        ("Bell, Alexander <sip:a@h>", "a display name with other than token characters must be quoted"),
        ("sip:a@h?Route=x", "a URI with '?' or ',' must be in <...>"),
        ("< sip:a@h>", "spaces inside <...> around the URI"),
        ("", "empty URI"),
    ],
)
def test_bad_name_addrs_say_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(SipParseError, match=re.escape(message)):
        parse_name_addr(value)


@pytest.mark.parametrize(
    ("uri", "user"),
    [
        ("sip:alice@example.com", "alice"),
        ("sips:bob:secret@example.com:5061;transport=tls", "bob"),
        ("sip:example.com", None),
        ("<sip:13800000000@10.0.0.1:5062>", "13800000000"),
        ("tel:+8613800000000;phone-context=example.com", "+8613800000000"),
        ("sip:anonymous@anonymous.invalid", "anonymous"),
    ],
)
def test_uri_user(uri: str, user: str | None) -> None:
    assert uri_user(uri) == user


@pytest.mark.parametrize(
    ("uri", "hostport"),
    [
        ("sip:alice@example.com", ("example.com", 5060)),
        ("sip:alice@10.0.0.1:5070;transport=udp", ("10.0.0.1", 5070)),
        ("sips:alice@example.com", ("example.com", 5061)),
        ("sip:[2001:db8::1]:5080", ("2001:db8::1", 5080)),
        ("sip:127.0.0.1;lr", ("127.0.0.1", 5060)),
        ("SIP:desk@host?subject=x", ("host", 5060)),
    ],
)
def test_uri_hostport(uri: str, hostport: tuple[str, int]) -> None:
    assert uri_hostport(uri) == hostport


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("tel:+861380000", "URI scheme 'tel' has no host"),
        ("example.com", "URI has no scheme"),
        ("sip:alice@", "URI: empty host"),
        ("sip:alice@h:0", "URI: port '0' is not 1..65535"),
    ],
)
def test_bad_uris_say_what_is_wrong(uri: str, message: str) -> None:
    with pytest.raises(SipParseError, match=re.escape(message)):
        uri_hostport(uri)
