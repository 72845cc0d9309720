"""A relay in front of a phone's RTP socket that keeps a copy of every datagram: the wire as the
network sees it.

The phone's SDP names the tap's port; what arrives there is copied and passed
on to the phone's own socket. One thread, owned by the tap, blocked in
``select`` on the socket and a stop pipe; ``close`` wakes and joins it.
Loopback only; at most ``keep`` datagrams are kept.
"""

from __future__ import annotations

import os
import select
import socket
import threading
from types import TracebackType

from tests.telephony.harness.ports import LOOPBACK

Address = tuple[str, int]


class RtpTap:
    def __init__(self, keep: int = 5000) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.address: Address = self.sock.getsockname()
        self.to: Address | None = None  # the phone's socket, once known
        self.keep = keep
        self.captured: list[bytes] = []
        self._lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._relay, name="rtp-tap", daemon=True)
        self._thread.start()

    def wire(self) -> list[bytes]:
        with self._lock:
            return list(self.captured)

    def _relay(self) -> None:
        while True:
            ready, _, _ = select.select([self.sock.fileno(), self._stop_r], [], [])
            if self._stop_r in ready:
                return
            data = self.sock.recv(4096)
            with self._lock:
                if len(self.captured) < self.keep:
                    self.captured.append(data)
                to = self.to
            if to is not None:
                self.sock.sendto(data, to)

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        self.sock.close()
        os.close(self._stop_r)
        os.close(self._stop_w)

    def __enter__(self) -> RtpTap:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
