"""DTMF as RTP telephone-events (RFC 4733).

An event packet's payload is four bytes: event code, end bit and volume,
and a 16-bit duration in timestamp units. Every packet of one key press
carries the same RTP timestamp (the press's start); the sender repeats
updates as the press goes on and sends the end packet three times.

:class:`DtmfReceiver` reports each press once, as soon as its first packet
arrives, however many updates, end packets and retransmissions follow.
:func:`dtmf_packets` builds the packets for one press to send.

Digits are caller data: log them at debug level only.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from ivr.media import FRAME_MS, SAMPLE_RATE
from ivr.telephony.rtp import RtpPacket

DIGITS = "0123456789*#ABCD"
DEFAULT_VOLUME = 10  # -10 dBm0
END_REPEATS = 3
MAX_DURATION = 0xFFFF


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """One telephone-event payload. ``volume`` is in -dBm0 (0..63), ``duration`` in samples."""

    event: int
    end: bool = False
    volume: int = DEFAULT_VOLUME
    duration: int = 0

    @property
    def digit(self) -> str | None:
        """The DTMF key for events 0..15, ``None`` for other events (flash, tones)."""
        return DIGITS[self.event] if 0 <= self.event < len(DIGITS) else None

    @classmethod
    def parse(cls, payload: bytes) -> DtmfEvent:
        """Parse a telephone-event payload; malformed payloads raise ``ValueError``."""
        if len(payload) != 4:
            raise ValueError(f"telephone-event payload must be 4 bytes, got {len(payload)}")
        event, flags, duration = struct.unpack("!BBH", payload)
        return cls(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)

    @classmethod
    def for_digit(
        cls, digit: str, *, end: bool = False, volume: int = DEFAULT_VOLUME, duration: int = 0
    ) -> DtmfEvent:
        return cls(event=event_code(digit), end=end, volume=volume, duration=duration)

    def serialize(self) -> bytes:
        if not 0 <= self.event <= 255:
            raise ValueError(f"telephone-event code must be 0..255, got {self.event}")
        if not 0 <= self.volume <= 63:
            raise ValueError(f"telephone-event volume must be 0..63, got {self.volume}")
        if not 0 <= self.duration <= MAX_DURATION:
            raise ValueError(f"telephone-event duration must be 0..65535 samples, got {self.duration}")
        return struct.pack("!BBH", self.event, (0x80 if self.end else 0) | self.volume, self.duration)


def event_code(digit: str) -> int:
    """The RFC 4733 event code of a DTMF key (``0``-``9``, ``*``, ``#``, ``A``-``D``)."""
    code = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"not a DTMF key: {digit!r} (expected one of {DIGITS})")
    return code


def dtmf_packets(
    digit: str, start_ts: int, duration_ms: int = 100, *, volume: int = DEFAULT_VOLUME
) -> list[tuple[bool, bytes, int]]:
    """The packets of one key press, to send one per 20 ms tick, as ``(marker, payload, timestamp)``.

    The first carries the marker bit; updates follow every 20 ms with the
    duration so far; the last update is the end packet, sent three times. All
    share ``start_ts``. ``duration_ms`` is rounded up to whole 20 ms frames.
    """
    if duration_ms <= 0:
        raise ValueError(f"DTMF duration must be positive, got {duration_ms} ms")
    frames = -(-duration_ms // FRAME_MS)
    step = SAMPLE_RATE * FRAME_MS // 1000
    if frames * step > MAX_DURATION:
        raise ValueError(f"DTMF duration {duration_ms} ms exceeds one event's 65535 samples")
    code = event_code(digit)
    timestamp = start_ts % (1 << 32)
    out: list[tuple[bool, bytes, int]] = []
    for i in range(1, frames):
        payload = DtmfEvent(code, end=False, volume=volume, duration=i * step).serialize()
        out.append((i == 1, payload, timestamp))
    final = DtmfEvent(code, end=True, volume=volume, duration=frames * step).serialize()
    for i in range(END_REPEATS):
        out.append((frames == 1 and i == 0, final, timestamp))
    return out


class DtmfReceiver:
    """Turns telephone-event packets into key presses, each reported once.

    A press is known by its RTP timestamp: the first packet seen with a new
    timestamp reports the key; later updates, the three end packets and
    retransmissions of any of them (even arriving after the next press has
    begun) report nothing. A long press that RFC 4733 splits into segments
    (same key, next segment starting where the unfinished last one ended) is
    one press.
    """

    def __init__(self, memory: int = 16) -> None:
        self._seen: deque[int] = deque(maxlen=memory)
        self._last: tuple[int, DtmfEvent] | None = None

    def feed(self, timestamp: int, payload: bytes) -> str | None:
        """The key pressed, when this packet starts a new press; else ``None``.

        Raises ``ValueError`` for a malformed payload. Non-DTMF events
        (codes above 15) report nothing.
        """
        event = DtmfEvent.parse(payload)
        if self._last is not None and self._last[0] == timestamp:
            last = self._last[1]
            self._last = (
                timestamp,
                DtmfEvent(
                    last.event, last.end or event.end, event.volume, max(last.duration, event.duration)
                ),
            )
            return None
        if timestamp in self._seen:
            return None  # a late retransmission of an earlier press
        continuation = self._continues(timestamp, event)
        self._seen.append(timestamp)
        self._last = (timestamp, event)
        return None if continuation else event.digit

    def feed_packet(self, packet: RtpPacket) -> str | None:
        """:meth:`feed` with a parsed RTP packet of the telephone-event payload type."""
        return self.feed(packet.timestamp, packet.payload)

    def _continues(self, timestamp: int, event: DtmfEvent) -> bool:
        if self._last is None:
            return False
        last_ts, last = self._last
        return (
            not last.end
            and last.event == event.event
            and last.duration > 0
            and (timestamp - last_ts) % (1 << 32) == last.duration
        )
