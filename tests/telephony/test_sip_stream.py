"""One SIP connection's framing (RFC 3261 §18.3) and keep-alives (RFC 5626), over a socket pair."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ivr.telephony.sip_stream import MAX_HEADERS, MAX_MESSAGE, SipStream, StreamError


@pytest.fixture
def pair() -> Iterator[tuple[SipStream, socket.socket]]:
    """A stream on one end of a connected socket pair, the peer's plain socket on the other."""
    ours, theirs = socket.socketpair()
    stream = SipStream(ours, "TCP", ("127.0.0.1", 5999), 1, 0.0)
    theirs.settimeout(2)
    try:
        yield stream, theirs
    finally:
        stream.close()
        theirs.close()


def message(body: bytes = b"", *, length: str | None = None, compact: bool = False) -> bytes:
    size = str(len(body)) if length is None else length
    return (
        (
            b"MESSAGE sip:desk@127.0.0.1 SIP/2.0\r\n"
            b"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK1\r\n"
            b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:desk@127.0.0.1>\r\n"
            b"Call-ID: x@127.0.0.1\r\nCSeq: 1 MESSAGE\r\n"
            + (b"l: " if compact else b"Content-Length: ")
            + size.encode()
        )
        + b"\r\n\r\n"
        + body
    )


def test_messages_are_cut_by_content_length_whatever_the_writes(
    pair: tuple[SipStream, socket.socket],
) -> None:
    stream, peer = pair
    two = message(b"hello") + b"\r\n" + message(b"world", compact=True)
    got: list[bytes] = []
    for at in range(0, len(two), 7):  # in 7-byte writes
        peer.sendall(two[at : at + 7])
        got += stream.on_ready(True, False, 1.0)
    assert got == [message(b"hello"), message(b"world", compact=True)]


def test_content_length_is_read_wherever_it_stands_among_the_headers(
    pair: tuple[SipStream, socket.socket],
) -> None:
    """linphonec writes Content-Length before Contact and User-Agent: its value ends at the CR."""
    stream, peer = pair
    head, body = message(b"hello").split(b"\r\n\r\n")
    first, length = head.rsplit(b"\r\n", 1)
    middle = first + b"\r\n" + length + b"\r\nContact: <sip:127.0.0.1:5999;transport=tcp>\r\n\r\n" + body
    peer.sendall(middle + message(b"world"))
    assert stream.on_ready(True, False, 1.0) == [middle, message(b"world")]


def test_a_double_crlf_is_a_ping_answered_with_one_crlf(pair: tuple[SipStream, socket.socket]) -> None:
    stream, peer = pair
    peer.sendall(b"\r\n\r")  # half a ping: nothing yet
    assert stream.on_ready(True, False, 1.0) == [] and not stream.wants_write
    peer.sendall(b"\n")
    assert stream.on_ready(True, False, 1.0) == []
    stream.on_ready(False, True, 1.0)
    assert peer.recv(10) == b"\r\n" and stream.pings == 1


def test_a_request_without_content_length_hears_400_and_the_stream_ends(
    pair: tuple[SipStream, socket.socket],
) -> None:
    stream, peer = pair
    peer.sendall(message().replace(b"Content-Length: 0\r\n", b""))
    assert stream.on_ready(True, False, 1.0) == []
    stream.on_ready(False, True, 1.0)
    assert peer.recv(4096).startswith(b"SIP/2.0 400 Missing Content-Length\r\n")
    assert stream.done


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "neither a SIP request nor a status line"),
        (b"\x16\x03\x01" + b"x" * (MAX_HEADERS + 10), "not SIP"),
        (message().replace(b"\r\n\r\n", b"\r\nX: " + b"y" * MAX_HEADERS), f"longer than {MAX_HEADERS}"),
        (message(length=str(MAX_MESSAGE)), f"over the {MAX_MESSAGE}-byte bound"),
        (message(length="ten"), "not a number"),
    ],
)
def test_what_cannot_be_sip_ends_the_stream(
    pair: tuple[SipStream, socket.socket], data: bytes, why: str
) -> None:
    stream, peer = pair
    peer.sendall(data)
    with pytest.raises(StreamError, match=why):
        for _ in range(10):  # a bounded number of readiness events
            stream.on_ready(True, False, 1.0)
