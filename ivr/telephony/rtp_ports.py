"""The RTP ports of a range, handed out in turn (the desk line, its seat legs and the phones).

RTP takes even ports (RFC 3550 §11). Ports are offered round the range, so a
port just closed is the last one used again: late packets of a call that has
ended meet no new call. A port is in use while its socket is bound; closing
the socket gives it back, so there is nothing else to return.
"""

from __future__ import annotations

import socket


class RtpPorts:
    def __init__(self, ports: range, host: str) -> None:
        self.ports = ports
        self.host = host
        self._even = ports[::2]
        self._next = 0

    def open(self) -> socket.socket:
        """A UDP socket bound to the next free even port; OSError when every port is in use."""
        count = len(self._even)
        for k in range(count):
            at = (self._next + k) % count
            sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((self.host, self._even[at]))
            except OSError:
                sock.close()
                continue
            self._next = (at + 1) % count
            return sock
        raise OSError(f"no free RTP port in {self.ports.start}-{self.ports.stop - 1}")
