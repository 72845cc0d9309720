"""A caller whose Contact names a host rather than an address.

The line sends its BYE from the media clock; were the name looked up there, a
slow resolver would stop every call's audio. The transport hands such a message
to ``name_lookup``, whose worker looks the name up and sends it. Real DNS is
never touched: ``localhost`` is in /etc/hosts, and ``nonexistent.invalid``
cannot resolve anywhere (RFC 6761 §6.4); a resolver that hangs is a test double.
"""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from ivr.telephony.name_lookup import LookupResult, NameLookup, is_address
from tests.telephony.conftest import CallerNumbers, LineMaker, wait_until
from tests.telephony.line_probe import place_call
from tests.telephony.raw_sip import RawCaller


def test_a_caller_whose_contact_names_localhost_gets_the_bots_bye(
    open_line: LineMaker, raw: RawCaller
) -> None:
    line = open_line(media_timeout=1.0)  # the caller sends no RTP: the line hangs up after 1 s of none
    target = line.line.transport.address
    dialog = raw.invite(target, send=False)
    dialog.invite = dialog.invite.with_header("Contact", f"<sip:{raw.user}@localhost:{raw.port}>")
    raw.send(dialog.invite, target)
    raw.answered(dialog)
    raw.send(raw.in_dialog(dialog, "ACK"), target)
    byes = raw.listen(6.0, lambda m: m.is_request and m.method == "BYE")
    bye = next((m for m in byes if m.is_request and m.method == "BYE"), None)
    assert bye is not None, "the BYE reached the caller at the address localhost names"
    assert bye.call_id == dialog.call_id


def test_a_contact_that_does_not_resolve_ends_that_call_only(
    open_line: LineMaker, raw: RawCaller, caller_number: CallerNumbers, caplog: pytest.LogCaptureFixture
) -> None:
    """Its BYE cannot go anywhere: the line says so in its log and goes on serving callers."""
    line = open_line(media_timeout=1.0)
    target = line.line.transport.address
    dialog = raw.invite(target, send=False)
    dialog.invite = dialog.invite.with_header("Contact", f"<sip:{raw.user}@nonexistent.invalid:{raw.port}>")
    raw.send(dialog.invite, target)
    raw.answered(dialog)
    raw.send(raw.in_dialog(dialog, "ACK"), target)
    with caplog.at_level(logging.WARNING, logger="ivr.telephony.name_lookup"):
        wait_until(
            lambda: "nonexistent.invalid: the name does not resolve" in caplog.text,
            timeout=6.0,
            message="the line never tried to send its BYE",
        )
    raw.user = caller_number()
    place_call(raw, target)  # the next caller is served as ever


class StuckResolver:
    """A resolver that answers only when told to: a fault a test cannot cause with a real one on loopback."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()
        self.names: list[str] = []

    def __call__(
        self, host: str, port: int, family: socket.AddressFamily, kind: socket.SocketKind
    ) -> LookupResult:
        self.names.append(host)
        self.asked.set()
        self.release.wait(10)
        return [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("127.0.0.1", port))]


def test_a_message_to_a_name_never_waits_on_the_resolver() -> None:
    """The media clock sends the BYE: it must be back at its tick while the resolver still thinks."""
    resolver = StuckResolver()
    sent: list[tuple[bytes, tuple[str, int]]] = []
    delivered = threading.Event()

    def sendto(data: bytes, address: tuple[str, int]) -> None:
        sent.append((data, address))
        delivered.set()

    names = NameLookup(lookup=resolver)
    try:
        names.send(b"BYE", ("pbx.example.com", 5062), sendto)  # returns with the lookup under way
        assert resolver.asked.wait(5) and sent == [], "sent before the name was looked up"
        resolver.release.set()
        assert delivered.wait(5)
        assert sent == [(b"BYE", ("127.0.0.1", 5062))]
        names.send(b"BYE again", ("pbx.example.com", 5062), sendto)  # a retransmission: known, straight out
        assert sent[-1] == (b"BYE again", ("127.0.0.1", 5062)) and resolver.names == ["pbx.example.com"]
    finally:
        resolver.release.set()
        names.close()


def test_only_names_are_looked_up() -> None:
    assert is_address("192.0.2.7") and is_address("2001:db8::1")
    assert not is_address("localhost") and not is_address("pbx.example.com")
