"""RFC 4475's torture messages, each sent as one UDP datagram to a running desk line on loopback.

The messages are in ``data/rfc4475/`` byte for byte (see its README). For each
the test reads everything the line said back (``line_probe.Peer.exchange``)
and checks it against what a correct UAS says; then it places a whole call
(INVITE, 200, ACK, BYE) to show the line still answers callers.

What "correct" is for a desk line, message by message, is in ``EXPECTED``:

- a valid request is served as the line serves any request: OPTIONS 200, a
  method the line knows but does not serve 405, one it does not know 501,
  an INVITE rings (180; the test then CANCELs it: 200, 487), an INVITE
  whose To tag names no dialog of the line's 481;
- a response to nothing the line sent is ignored (no answer at all);
- RFC 4475 §3.3's requests get the refusal RFC 3261 §8.2 names (416, 415,
  406, 420) where a UAS must refuse;
- an invalid message (§3.1.2, and §3.3's missing or doubled headers) gets
  400 with what is wrong in its reason phrase wherever its request line, Via,
  From, To, Call-ID and CSeq can be read to address it; nothing where they
  cannot, or where it is a response; it never starts a call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.line.open_line import OpenLine
from ivr.telephony.sip_message import SipMessage, parse, request
from tests.telephony.conftest import REPO, CallerNumbers, LineMaker
from tests.telephony.harness.ports import allocate_rtp_range, release_rtp_range
from tests.telephony.line_probe import Heard, Peer, place_call
from tests.telephony.raw_sip import RawCaller

DATA = Path(__file__).parent / "data" / "rfc4475"
RINGS = (180,)  # an INVITE the line takes: Ringing at once (so no 100 Trying, RFC 3261 §17.2.1)
INVALID = (
    400,
)  # Bad Request, what is wrong in the reason phrase (or nothing, where no reply can be addressed)


@dataclass(frozen=True)
class Expected:
    section: str
    statuses: tuple[int, ...]  # what the line answers, in order; () for nothing
    why: str
    valid: bool = True


EXPECTED = {
    # --- §3.1.1 valid messages ---------------------------------------------------------------
    "wsinv": Expected("3.1.1.1", (481,), "its To carries a tag of a dialog the line never made"),
    "intmeth": Expected("3.1.1.2", (501,), "a method nobody implements"),
    "esc01": Expected("3.1.1.3", RINGS, "an INVITE with escapes in its URIs"),
    "escnull": Expected("3.1.1.4", (405,), "REGISTER: the line is no registrar"),
    "esc02": Expected("3.1.1.5", (501,), "RE%47IST%45R is a method of its own, not REGISTER"),
    "lwsdisp": Expected("3.1.1.6", (200,), "OPTIONS with no space before '<'"),
    "longreq": Expected("3.1.1.7", RINGS, "an INVITE with long values"),
    "dblreq": Expected("3.1.1.8", (405,), "the REGISTER only: the INVITE after it is trailing octets"),
    "semiuri": Expected("3.1.1.9", (200,), "OPTIONS"),
    "transports": Expected("3.1.1.10", (200,), "OPTIONS with unknown transports lower in the Via"),
    "mpart01": Expected("3.1.1.11", (405,), "MESSAGE: the line takes no instant messages"),
    "unreason": Expected("3.1.1.12", (), "a 200 to nothing the line sent"),
    "noreason": Expected("3.1.1.13", (), "a 100 to nothing the line sent"),
    # --- §3.1.2 invalid messages -------------------------------------------------------------
    "badinv01": Expected(
        "3.1.2.1", (), "its Via is ';;,;,,' past the host: no address to answer", valid=False
    ),
    "clerr": Expected("3.1.2.2", INVALID, "Content-Length larger than the message", valid=False),
    "ncl": Expected("3.1.2.3", INVALID, "negative Content-Length", valid=False),
    "scalar02": Expected("3.1.2.4", INVALID, "request scalar fields with overlarge values", valid=False),
    "scalarlg": Expected("3.1.2.5", (), "a response with overlarge values: never answered", valid=False),
    "quotbal": Expected(
        "3.1.2.6", (), "unterminated quoted display name: its 400 goes to its Via's port 5050", valid=False
    ),
    "ltgtruri": Expected("3.1.2.7", INVALID, "<> around the Request-URI", valid=False),
    "lwsruri": Expected("3.1.2.8", INVALID, "LWS inside the Request-URI", valid=False),
    "lwsstart": Expected("3.1.2.9", INVALID, "several SP between request-line elements", valid=False),
    "trws": Expected("3.1.2.10", INVALID, "SP at the end of the request line", valid=False),
    "escruri": Expected("3.1.2.11", INVALID, "headers in the Request-URI", valid=False),
    "baddate": Expected("3.1.2.12", INVALID, "a Date not in GMT", valid=False),
    "regbadct": Expected(
        "3.1.2.13",
        INVALID,
        "a Contact URI with '?' outside <>: refused when the Contact is checked on arrival",
        valid=False,
    ),
    "badaspec": Expected("3.1.2.14", INVALID, "spaces inside <> around the URI", valid=False),
    "baddn": Expected("3.1.2.15", INVALID, "an unquoted display name with a comma", valid=False),
    "badvers": Expected("3.1.2.16", (), "SIP/7.0, its Via too: no SIP/2.0 address to answer", valid=False),
    "mismatch01": Expected("3.1.2.17", INVALID, "CSeq method differs from the request's", valid=False),
    "mismatch02": Expected("3.1.2.18", INVALID, "unknown method, CSeq method differs", valid=False),
    "bigcode": Expected(
        "3.1.2.19", (), "a response with a status code of ten digits: never answered", valid=False
    ),
    # --- §3.2 transaction layer ---------------------------------------------------------------
    "badbranch": Expected("3.2.1", (200,), "OPTIONS with an RFC 2543 branch (no magic cookie)"),
    # --- §3.3 application layer ---------------------------------------------------------------
    "insuf": Expected(
        "3.3.1", (), "From, To and Call-ID missing: nothing to address a reply with", valid=False
    ),
    "unkscm": Expected("3.3.2", (416,), "a Request-URI scheme nobody knows"),
    "novelsc": Expected("3.3.3", (416,), "a soap.beep Request-URI: not a scheme that names the line"),
    "unksm2": Expected("3.3.4", (405,), "REGISTER (with isbn: and http: URIs in To and From)"),
    "bext01": Expected(
        "3.3.5",
        (420,),
        "Require names extensions the line lacks",
    ),
    "invut": Expected("3.3.6", (415,), "an INVITE whose body is not SDP"),
    "regaut01": Expected("3.3.7", (405,), "REGISTER (with an unknown Authorization scheme)"),
    "multi01": Expected("3.3.8", INVALID, "two To, From, Call-ID and CSeq headers", valid=False),
    "mcl01": Expected("3.3.9", INVALID, "two Content-Length headers", valid=False),
    "bcast": Expected("3.3.10", (), "a 200 to nothing the line sent (broadcast Via)"),
    # RFC 4475 §3.3.11: a proxy answers 483; an endpoint serves the request as if Max-Forwards were positive
    "zeromf": Expected("3.3.11", (200,), "OPTIONS with Max-Forwards 0, at an endpoint"),
    "cparam01": Expected("3.3.12", (405,), "REGISTER"),
    "cparam02": Expected("3.3.13", (405,), "REGISTER"),
    "regescrt": Expected("3.3.14", (405,), "REGISTER"),
    "sdp01": Expected("3.3.15", (406,), "an INVITE whose Accept leaves out SDP"),
    # --- §3.4 backward compatibility ----------------------------------------------------------
    "inv2543": Expected("3.4.1", RINGS, "an INVITE in RFC 2543 syntax"),
}


CASES = [pytest.param(name, expected, id=name) for name, expected in EXPECTED.items()]


def quick_desk_flow(tmp_path: Path) -> Path:
    """The shipped desk flow, ringing 0.5 s before it answers: room to CANCEL, and quick calls."""
    text = (REPO / "flows" / "desk.yaml").read_text(encoding="utf-8")
    assert "  ring: {on: 1s, off: 4s}" in text
    path = tmp_path / "desk-quick.yaml"
    path.write_text(text.replace("  ring: {on: 1s, off: 4s}", "  ring: {on: 0.5s, off: 4s}", 1), "utf-8")
    return path


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory, rendered_audio: Path) -> Iterator[OpenLine]:
    directory = tmp_path_factory.mktemp("torture-line")
    maker = LineMaker(directory)
    try:
        yield maker(flow=quick_desk_flow(directory))
    finally:
        maker.close()


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    with Peer.open() as opened:
        yield opened


@pytest.fixture(scope="module")
def caller() -> Iterator[RawCaller]:
    ports = allocate_rtp_range(4)
    try:
        with RawCaller(ports) as raw:
            yield raw
    finally:
        release_rtp_range(ports)


def test_every_message_of_rfc_4475_is_here_byte_for_byte() -> None:
    assert sorted(p.stem for p in DATA.glob("*.dat")) == sorted(EXPECTED)
    wsinv = (DATA / "wsinv.dat").read_bytes()
    assert wsinv.startswith(b"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\nTO :\r\n")
    assert b"\x00" in (DATA / "intmeth.dat").read_bytes()  # an escaped NUL in a quoted string


def cancel_ringing(peer: Peer, invite: SipMessage, target: tuple[str, int]) -> list[Heard]:
    """CANCEL the INVITE (RFC 3261 §9.1), read the 200 and 487, ACK the 487 (§17.1.1.3)."""
    top_via = invite.all("Via")[0]
    from_ = invite.header("From") or ""
    cseq = invite.cseq[0]
    to = invite.header("To") or ""
    cancel = request("CANCEL", invite.uri, via=top_via, from_=from_, to=to, call_id=invite.call_id, cseq=cseq)
    peer.send(cancel, target)
    heard = peer.listen(3.0, until=invite.call_id, status=487)
    terminated = [h.message for h in heard if h.message is not None and h.message.status == 487]
    if terminated:
        to = terminated[0].header("To") or ""
        ack = request("ACK", invite.uri, via=top_via, from_=from_, to=to, call_id=invite.call_id, cseq=cseq)
        peer.send(ack, target)
    return heard


@pytest.mark.slow
@pytest.mark.parametrize(("name", "expected"), CASES)
def test_torture_message_is_answered_as_rfc_3261_asks(
    name: str,
    expected: Expected,
    line: OpenLine,
    peer: Peer,
    caller: RawCaller,
    caller_number: CallerNumbers,
) -> None:
    data = (DATA / f"{name}.dat").read_bytes()
    target = line.line.transport.address
    calls_before = line.line.stats.calls
    heard = peer.exchange(data, target)
    if expected.valid:
        assert all(h.message is not None for h in heard), f"the line sent bytes that are not SIP: {heard}"
        statuses = tuple(h.message.status for h in heard if h.message is not None)
        for h in heard:
            assert h.message is not None and not h.message.is_request, f"the line sent a request: {h.data!r}"
        sent = parse(data)
        assert statuses == expected.statuses, f"{expected.section} ({expected.why})"
        for h in heard:
            assert h.message is not None
            assert (h.message.call_id, h.message.cseq) == (sent.call_id, sent.cseq), "answered something else"
            if h.message.status in (405, 501):
                assert h.message.header("Allow"), "405 and 501 say what the line allows"
            if h.message.status == 415:
                assert h.message.header("Accept") == "application/sdp"
        if statuses == RINGS:
            after = cancel_ringing(peer, sent, target)
            assert sorted((m.cseq[1], m.status) for h in after if (m := h.message) is not None) == [
                ("CANCEL", 200),
                ("INVITE", 487),
            ]
            assert line.line.stats.calls == calls_before + 1
        else:
            assert line.line.stats.calls == calls_before, "a call was started"
    else:
        # a 400 copies the request's From, To, Call-ID and CSeq as written, malformed ones too:
        # read its status line and headers as bytes
        status_lines = [h.data.split(b"\r\n", 1)[0] for h in heard]
        assert all(s.startswith(b"SIP/2.0 ") for s in status_lines), f"not responses: {heard}"
        statuses = tuple(int(s.split(b" ")[1]) for s in status_lines)
        assert statuses == expected.statuses, f"{expected.section} ({expected.why}): answered {statuses}"
        for h, status_line in zip(heard, status_lines, strict=True):
            assert status_line.startswith(b"SIP/2.0 400 Bad "), "the reason phrase says what is wrong"
            call_id = next(
                v for n, _, v in (ln.partition(b": ") for ln in h.data.split(b"\r\n")) if n == b"Call-ID"
            )
            assert call_id in data, "the 400 answers another request"
        assert line.line.stats.calls == calls_before, "an invalid message started a call"
    caller.user = caller_number()
    place_call(caller, target)
