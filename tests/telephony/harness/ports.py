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

# Ports handed to another process (a SIP peer, Kamailio, PostgreSQL, a web console) come from
# SIP_FLOOR-SIP_CEILING, and RTP ranges are carved from RTP_FLOOR-RTP_CEILING: both lie below
# Linux's ephemeral range (32768-60999). A port picked there with a port-0 bind can be taken,
# before the peer binds it, as the source port of any outgoing connection (a node's PostgreSQL
# pool connecting, a softphone's TCP): CI lost a whole run to exactly that. 20000-22999 is left
# to the product's own fixed ranges (the default ``rtp_ports`` and ``ivr demo``'s).
SIP_FLOOR = 10000
SIP_CEILING = 20000
RTP_FLOOR = 23000
RTP_CEILING = 32000


def worker_share(floor: int, ceiling: int) -> tuple[int, int]:
    """This test process's own slice of ``floor``-``ceiling``: under pytest-xdist each worker
    (``PYTEST_XDIST_WORKER`` gwN of ``PYTEST_XDIST_WORKER_COUNT``) gets a part no other worker
    hands out, so two workers never give one port to two peers; otherwise the whole window."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count < 2:
        return floor, ceiling
    index = int(worker[2:]) % count
    size = (ceiling - floor) // count
    return floor + index * size, floor + (index + 1) * size


class _PortCursor:
    """Walks the even ports of SIP_FLOOR-SIP_CEILING from a place set by the process id, never
    handing out a port twice until the window is used up (so a port one peer just closed is not
    given to the next). The odd port above each stays the peer's own: baresip listens for TLS
    one port above its UDP and TCP."""

    def __init__(self, floor: int, ceiling: int) -> None:
        self._floor = floor
        self._pairs = (ceiling - floor) // 2
        self._next = os.getpid() * 7919 % self._pairs
        self._lock = threading.Lock()

    def __str__(self) -> str:
        return f"{self._floor}-{self._floor + 2 * self._pairs - 1}"

    def take(self) -> int:
        with self._lock:
            port = self._floor + 2 * self._next
            self._next = (self._next + 1) % self._pairs
            return port


_SIP_PORTS = _PortCursor(*worker_share(SIP_FLOOR, SIP_CEILING))


def _binds_udp_and_tcp(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        try:
            udp.bind((host, port))
            tcp.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = LOOPBACK, tries: int = 200) -> int:
    """A port on ``host``, outside the ephemeral range, that binds right now for UDP and TCP
    alike (a SIP peer listens on both; a server may take either)."""
    for _ in range(tries):
        port = _SIP_PORTS.take()
        if _binds_udp_and_tcp(host, port):
            return port
    raise RuntimeError(
        f"no port in {SIP_FLOOR}-{SIP_CEILING} on {host} free for UDP and TCP in {tries} tries"
    )


def free_udp_port(host: str = LOOPBACK, tries: int = 200) -> int:
    """A port for a SIP peer: free for UDP and TCP, outside the ephemeral range (see ``free_port``)."""
    return free_port(host, tries)


def free_udp_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct free ports (see ``free_port``)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    return [free_port(host) for _ in range(count)]


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


_DEFAULT_ALLOCATOR = RtpPortAllocator(*worker_share(RTP_FLOOR, RTP_CEILING))


def allocate_rtp_range(size: int = 100) -> PortRange:
    """A free, not yet handed out RTP range from the process-wide allocator."""
    return _DEFAULT_ALLOCATOR.allocate(size)


def release_rtp_range(ports: PortRange) -> None:
    _DEFAULT_ALLOCATOR.release(ports)
