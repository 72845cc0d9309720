"""The SIP socket: one UDP socket and the one thread that reads it.

The thread blocks in ``select`` on the socket and a wake-up pipe, so it spends
nothing while the line is quiet and stops at once when asked. A handler that
fails on one datagram is logged with its traceback and the next datagram is
read: one malformed packet never takes the line down. Should the thread itself
die anyway, ``failure`` keeps why and ``on_failure`` tells the owner at once.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
from collections.abc import Callable

from ivr.telephony.realtime import SIP_PRIORITY, ask_for_realtime

log = logging.getLogger(__name__)
Address = tuple[str, int]
MAX_DATAGRAM = 65535


class SipTransport:
    def __init__(
        self,
        bind: Address,
        on_datagram: Callable[[bytes, Address], None],
        realtime: bool = False,
        on_failure: Callable[[BaseException], None] = lambda exc: None,
    ) -> None:
        self._on_datagram = on_datagram
        self._on_failure = on_failure
        self.failure: BaseException | None = None
        self._realtime = realtime
        self.realtime = False  # the thread got real-time scheduling
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(bind)
        self.address: Address = self.sock.getsockname()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.handler_errors = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sip-transport", daemon=True)
        self._thread.start()

    def send(self, data: bytes, address: Address) -> None:
        try:
            self.sock.sendto(data, address)
        except OSError as exc:  # an unreachable peer must not take the line down; it is logged
            log.warning("could not send %d bytes to %s:%d: %s", len(data), address[0], address[1], exc)

    def stop(self) -> None:
        self._stopping = True
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.sock.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _run(self) -> None:
        try:
            self._read()
        except BaseException as exc:  # surfaced to the owner, who decides
            self.failure = exc
            log.exception("the SIP transport stopped on an error")
            self._on_failure(exc)  # the owner decides; not raised again into threading's hook

    def _read(self) -> None:
        if self._realtime:
            self.realtime = ask_for_realtime("the SIP transport", SIP_PRIORITY)
        while not self._stopping:
            readable, _, _ = select.select([self.sock.fileno(), self._wake_r], [], [])
            if self._wake_r in readable or self._stopping:
                return
            try:
                data, source = self.sock.recvfrom(MAX_DATAGRAM)
            except OSError as exc:  # e.g. ICMP port unreachable reported on the next read
                log.debug("SIP socket read failed: %s", exc)
                continue
            try:
                self._on_datagram(data, source)
            except Exception:
                self.handler_errors += 1
                log.exception("a SIP datagram from %s:%d could not be handled", source[0], source[1])
