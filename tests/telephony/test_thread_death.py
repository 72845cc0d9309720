"""The line's two threads, when they die anyway: the owner hears of it at once, with why."""

from __future__ import annotations

import socket
import threading

from ivr.telephony.media_clock import MediaClock
from ivr.telephony.transport import SipTransport, Source


class Heard:
    def __init__(self) -> None:
        self.failure: BaseException | None = None
        self.told = threading.Event()

    def __call__(self, exc: BaseException) -> None:
        self.failure = exc
        self.told.set()


def test_a_media_clock_whose_tick_raises_stops_and_tells_its_owner() -> None:
    heard = Heard()
    ticks: list[float] = []

    def on_tick(due: float) -> None:
        ticks.append(due)
        if len(ticks) == 3:
            raise ValueError("a line-wide fault")

    clock = MediaClock(on_tick, lambda: True, on_failure=heard)
    clock.start()
    try:
        assert heard.told.wait(5), "the owner was not told"
    finally:
        clock.stop()
    assert isinstance(heard.failure, ValueError) and clock.failure is heard.failure
    assert len(ticks) == 3, "the clock ticked on after its tick raised"


class LineDead(BaseException):
    """What no handler catches (as a ``KeyboardInterrupt`` or a ``MemoryError`` might not be)."""


def test_a_sip_reader_that_dies_tells_its_owner_and_an_ordinary_handler_error_does_not_kill_it() -> None:
    heard = Heard()
    handled: list[bytes] = []

    def on_datagram(data: bytes, source: Source) -> None:
        handled.append(data)
        if data == b"bad":
            raise ValueError("one bad datagram")
        if data == b"fatal":
            raise LineDead("the reader cannot go on")

    transport = SipTransport(("127.0.0.1", 0), on_datagram, on_failure=heard)
    transport.start()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for data in (b"bad", b"fatal"):
            sender.sendto(data, transport.address)
        assert heard.told.wait(5), "the owner was not told"
    finally:
        sender.close()
        transport.stop()
    assert handled == [b"bad", b"fatal"] and transport.handler_errors == 1
    assert isinstance(heard.failure, LineDead) and transport.failure is heard.failure
