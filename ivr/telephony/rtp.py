"""RTP packets (RFC 3550) and a sender's sequence and timestamp state.

:meth:`RtpPacket.parse` and :meth:`RtpPacket.serialize` are pure and exact:
a packet parsed from the wire serializes back to the same bytes, header
extension and padding included (padding is rebuilt as zeros ending in its
count, which is what every sender we have seen writes).
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass, field

from ivr.media import FRAME_SAMPLES

RTP_VERSION = 2
HEADER_SIZE = 12
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. ``padding`` counts the padding bytes (0: no padding bit)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension: bytes = b""
    padding: int = 0
    version: int = field(default=RTP_VERSION)

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one packet; every malformed input raises ``ValueError`` saying what is wrong."""
        if len(data) < HEADER_SIZE:
            raise ValueError(f"RTP packet is {len(data)} bytes, shorter than the 12-byte header")
        first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
        version = first >> 6
        if version != RTP_VERSION:
            raise ValueError(f"RTP version must be 2, got {version}")
        has_padding = bool(first & 0x20)
        has_extension = bool(first & 0x10)
        cc = first & 0x0F
        pos = HEADER_SIZE + 4 * cc
        if len(data) < pos:
            raise ValueError(f"RTP packet is {len(data)} bytes, too short for its {cc} CSRC identifiers")
        csrc = struct.unpack_from(f"!{cc}I", data, HEADER_SIZE)
        profile: int | None = None
        extension = b""
        if has_extension:
            if len(data) < pos + 4:
                raise ValueError("RTP header extension is truncated: no room for its 4-byte header")
            profile, words = struct.unpack_from("!HH", data, pos)
            pos += 4
            if len(data) < pos + 4 * words:
                raise ValueError(
                    f"RTP header extension declares {4 * words} bytes but only {len(data) - pos} remain"
                )
            extension = data[pos : pos + 4 * words]
            pos += 4 * words
        end = len(data)
        padding = 0
        if has_padding:
            padding = data[-1]
            if padding == 0:
                raise ValueError("RTP padding bit is set but the padding count is 0")
            if padding > end - pos:
                raise ValueError(
                    f"RTP padding count {padding} exceeds the {end - pos} bytes after the header"
                )
            end -= padding
        return cls(
            payload_type=second & 0x7F,
            sequence=sequence,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=data[pos:end],
            marker=bool(second & 0x80),
            csrc=tuple(csrc),
            extension_profile=profile,
            extension=extension,
            padding=padding,
            version=version,
        )

    def serialize(self) -> bytes:
        """The packet's bytes on the wire."""
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"RTP payload type must be 0..127, got {self.payload_type}")
        _check_range("sequence", self.sequence, SEQ_MOD)
        _check_range("timestamp", self.timestamp, TS_MOD)
        _check_range("SSRC", self.ssrc, TS_MOD)
        _check_range("version", self.version, 4)
        for source in self.csrc:
            _check_range("CSRC", source, TS_MOD)
        if self.extension_profile is not None:
            _check_range("extension profile", self.extension_profile, 1 << 16)
            _check_range("extension length in words", len(self.extension) // 4, 1 << 16)
        if len(self.csrc) > 15:
            raise ValueError(f"RTP carries at most 15 CSRC identifiers, got {len(self.csrc)}")
        if len(self.extension) % 4:
            raise ValueError(
                f"RTP header extension must be whole 32-bit words, got {len(self.extension)} bytes"
            )
        if not 0 <= self.padding <= 255:
            raise ValueError(f"RTP padding must be 0..255 bytes, got {self.padding}")
        first = (self.version << 6) | len(self.csrc)
        if self.padding:
            first |= 0x20
        if self.extension_profile is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | self.payload_type
        out = bytearray(struct.pack("!BBHII", first, second, self.sequence, self.timestamp, self.ssrc))
        for source in self.csrc:
            out += struct.pack("!I", source)
        if self.extension_profile is not None:
            out += struct.pack("!HH", self.extension_profile, len(self.extension) // 4)
            out += self.extension
        out += self.payload
        if self.padding:
            out += bytes(self.padding - 1) + bytes([self.padding])
        return bytes(out)


def _check_range(what: str, value: int, limit: int) -> None:
    if not 0 <= value < limit:
        raise ValueError(f"RTP {what} must be 0..{limit - 1}, got {value}")


def seq_diff(a: int, b: int) -> int:
    """``a - b`` for 16-bit sequence numbers, in -32768..32767 (wrap-around aware)."""
    return (a - b + SEQ_MOD // 2) % SEQ_MOD - SEQ_MOD // 2


def ts_diff(a: int, b: int) -> int:
    """``a - b`` for 32-bit RTP timestamps, in -2**31..2**31-1 (wrap-around aware)."""
    return (a - b + TS_MOD // 2) % TS_MOD - TS_MOD // 2


class RtpSender:
    """One outgoing stream's state: SSRC, next sequence number and next timestamp.

    ``next_audio`` stamps a frame with the current timestamp and advances it by
    one frame (160 samples at 8 kHz). ``next_event`` stamps a packet with a
    timestamp the caller gives (telephone-events keep their start timestamp)
    and advances only the sequence number; the caller keeps the media clock
    moving with ``advance``. Initial values are random (RFC 3550 §5.1) unless
    given.
    """

    def __init__(
        self,
        payload_type: int,
        *,
        ssrc: int | None = None,
        sequence: int | None = None,
        timestamp: int | None = None,
        samples_per_frame: int = FRAME_SAMPLES,
    ) -> None:
        self.payload_type = payload_type
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbits(16) if sequence is None else sequence % SEQ_MOD
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp % TS_MOD
        self.samples_per_frame = samples_per_frame

    def next_audio(self, payload: bytes, marker: bool = False) -> bytes:
        """The next audio packet's bytes; advances sequence by 1 and timestamp by one frame."""
        data = self._packet(payload, self.payload_type, self.timestamp, marker)
        self.advance()
        return data

    def next_event(self, payload: bytes, *, payload_type: int, timestamp: int, marker: bool = False) -> bytes:
        """A packet with an explicit timestamp (telephone-event); advances only the sequence."""
        return self._packet(payload, payload_type, timestamp % TS_MOD, marker)

    def advance(self, samples: int | None = None) -> None:
        """Move the timestamp on by ``samples`` (default: one frame) without sending."""
        step = self.samples_per_frame if samples is None else samples
        self.timestamp = (self.timestamp + step) % TS_MOD

    def _packet(self, payload: bytes, payload_type: int, timestamp: int, marker: bool) -> bytes:
        packet = RtpPacket(
            payload_type=payload_type,
            sequence=self.sequence,
            timestamp=timestamp,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
        )
        self.sequence = (self.sequence + 1) % SEQ_MOD
        return packet.serialize()
