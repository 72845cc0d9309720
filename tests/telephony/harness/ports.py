"""Free UDP ports on 127.0.0.1 for SIP peers, and non-overlapping RTP port ranges.

A port is "free" when a UDP socket can bind it right now. Between the check and
the real bind another process may take it; the harness keeps that window short
and a peer that loses the race fails loudly at start-up, never silently.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"

# RTP ranges are carved from here, away from Linux's ephemeral range (32768-60999)
# that bind(port 0) hands out for SIP sockets.
RTP_FLOOR = 20000
RTP_CEILING = 32000


def free_udp_port(host: str = LOOPBACK, tries: int = 20) -> int:
    """A UDP port on ``host`` that the kernel just handed out for a port-0 bind, free for TCP too
    (a SIP peer listens on both: a port whose TCP side is taken would fail its start)."""
    for _ in range(tries):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, socket.socket() as tcp:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
            try:
                tcp.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no port on {host} free for both UDP and TCP in {tries} tries")


def free_udp_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct free UDP ports (all sockets are held until every port is picked)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(sock)
            sock.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def udp_port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class PortRange:
    """An inclusive range of UDP ports, ``low``-``high``, as pyVoIP's rtpPortLow/rtpPortHigh take it."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high < 65536:
            raise ValueError(f"bad port range {self.low}-{self.high}")

    def __len__(self) -> int:
        return self.high - self.low + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.low <= port <= self.high

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"

    def overlaps(self, other: PortRange) -> bool:
        return self.low <= other.high and other.low <= self.high


class RtpPortAllocator:
    """Hands out RTP port ranges that do not overlap each other and are free when handed out.

    Ranges are aligned blocks of ``block`` ports between ``floor`` and ``ceiling``; the
    search starts at a block derived from the process id, so two test processes
    running side by side rarely probe the same ports first. Thread-safe.
    """

    def __init__(
        self,
        floor: int = RTP_FLOOR,
        ceiling: int = RTP_CEILING,
        block: int = 200,
        host: str = LOOPBACK,
    ) -> None:
        if block < 2 or block % 2:
            raise ValueError(f"block must be an even number of ports, got {block}")
        if ceiling - floor < block:
            raise ValueError(f"{floor}-{ceiling} holds no block of {block} ports")
        self._floor = floor
        self._block = block
        self._blocks = (ceiling - floor) // block
        self._host = host
        self._start = os.getpid() % self._blocks
        self._lock = threading.Lock()
        self._taken: set[int] = set()

    def allocate(self, size: int | None = None) -> PortRange:
        """A range of ``size`` ports (default: one block); every port in it binds right now."""
        want = self._block if size is None else size
        if not 2 <= want <= self._block:
            raise ValueError(f"size must be 2..{self._block}, got {want}")
        with self._lock:
            for step in range(self._blocks):
                index = (self._start + step) % self._blocks
                if index in self._taken:
                    continue
                low = self._floor + index * self._block
                candidate = PortRange(low, low + want - 1)
                if all(udp_port_is_free(p, self._host) for p in range(candidate.low, candidate.high + 1)):
                    self._taken.add(index)
                    return candidate
        raise RuntimeError(f"no free RTP range of {want} ports on {self._host}")

    def release(self, ports: PortRange) -> None:
        with self._lock:
            self._taken.discard((ports.low - self._floor) // self._block)


_DEFAULT_ALLOCATOR = RtpPortAllocator()


def allocate_rtp_range(size: int = 100) -> PortRange:
    """A free, not yet handed out RTP range from the process-wide allocator."""
    return _DEFAULT_ALLOCATOR.allocate(size)


def release_rtp_range(ports: PortRange) -> None:
    _DEFAULT_ALLOCATOR.release(ports)
