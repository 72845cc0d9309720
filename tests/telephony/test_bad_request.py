"""What a sender of a request that does not parse is told (``bad_request``); on a real line: the
RFC 4475 torture test."""

from __future__ import annotations

from ivr.telephony.bad_request import bad_request
from ivr.telephony.sip_message import SipParseError, parse

SOURCE = ("192.0.2.7", 5062)


def invite(*, first: bytes = b"INVITE sip:desk@192.0.2.1 SIP/2.0", extra: bytes = b"") -> bytes:
    return (
        first + b"\r\n"
        b"v: SIP/2.0/UDP phone.example.com:5070;branch=z9hG4bKbad1;rport, SIP/2.0/UDP 192.0.2.9\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKfar\r\n"
        b'f: "Caller" <sip:1390000@192.0.2.7>;tag=abc\r\n'
        b"t: <sip:desk@192.0.2.1>\r\n"
        b"i: bad-1@192.0.2.7\r\n"
        b"CSeq: 1 INVITE\r\n" + extra + b"Content-Length: 9999\r\n\r\nv=0\r\n"
    )


def problem(data: bytes) -> str:
    try:
        parse(data)
    except SipParseError as exc:
        return str(exc)
    raise AssertionError("it parses")


def test_a_request_that_does_not_parse_is_told_why_in_a_400_to_its_via() -> None:
    data = invite()
    answer = bad_request(data, problem(data), SOURCE)
    assert answer is not None
    reply, to = answer
    assert to == ("192.0.2.7", 5062)  # rport: back to where it came from
    lines = reply.decode().split("\r\n")
    assert lines[0] == "SIP/2.0 400 Bad Request: Content-Length is 9999 but the body has 5 bytes"
    assert lines[1] == (
        "Via: SIP/2.0/UDP phone.example.com:5070;branch=z9hG4bKbad1;rport=5062;received=192.0.2.7, "
        "SIP/2.0/UDP 192.0.2.9"
    )
    assert lines[2] == "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKfar"
    assert lines[3] == 'From: "Caller" <sip:1390000@192.0.2.7>;tag=abc'
    assert lines[4].startswith("To: <sip:desk@192.0.2.1>;tag=") and len(lines[4]) > 30
    assert lines[5:] == ["Call-ID: bad-1@192.0.2.7", "CSeq: 1 INVITE", "Content-Length: 0", "", ""]
    assert parse(reply).status == 400


def test_a_reason_phrase_is_one_short_line_whatever_the_parser_said() -> None:
    data = invite()
    answer = bad_request(data, "two\r\nlines " + "x" * 300, SOURCE)
    assert answer is not None
    status_line = answer[0].split(b"\r\n")[0]
    assert status_line.startswith(b"SIP/2.0 400 Bad Request: two lines xxx")
    assert len(status_line) == len("SIP/2.0 400 ") + 100


def test_another_sip_version_is_505() -> None:
    data = invite(first=b"INVITE sip:desk@192.0.2.1 SIP/3.0")
    answer = bad_request(data, problem(data), SOURCE)
    assert answer is not None
    assert answer[0].startswith(b"SIP/2.0 505 Version Not Supported: SIP/3.0")


def test_no_reply_where_none_can_be_addressed_or_none_is_owed() -> None:
    data = invite()
    assert bad_request(data.replace(b"INVITE sip", b"ACK sip", 1), "x", SOURCE) is None  # an ACK
    assert bad_request(b"SIP/2.0 200 OK\r\n" + data.split(b"\r\n", 1)[1], "x", SOURCE) is None  # a response
    assert bad_request(data.replace(b"i: bad-1@192.0.2.7\r\n", b""), "x", SOURCE) is None  # no Call-ID
    assert bad_request(data.replace(b"v: SIP/2.0/UDP phone", b"v: SIP/2.0/UDP ;;phone"), "x", SOURCE) is None
    assert bad_request(b"\r\n\r\n", "x", SOURCE) is None
