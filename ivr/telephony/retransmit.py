"""RFC 3261 retransmission over UDP: T1 doubling to T2, until answered or timed out (timers E/G/H)."""

from __future__ import annotations

from dataclasses import dataclass

T1 = 0.5
T2 = 4.0
TIMEOUT = 64 * T1  # timer H / F: 32 s

Address = tuple[str, int]


@dataclass
class Retransmission:
    data: bytes
    to: Address
    next_at: float
    interval: float = T1
    give_up_at: float = 0.0

    @classmethod
    def first(cls, data: bytes, to: Address, now: float, timeout: float = TIMEOUT) -> Retransmission:
        return cls(data, to, now + T1, T1, now + timeout)

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def expired(self, now: float) -> bool:
        return now >= self.give_up_at

    def sent_again(self) -> None:
        self.interval = min(self.interval * 2, T2)
        self.next_at += self.interval
