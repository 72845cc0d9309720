"""RTCP packets (RFC 3550 §6): sender and receiver reports, SDES CNAME, BYE.

Pure and exact, as :mod:`ivr.telephony.rtp` is: :func:`parse_compound` reads a
compound packet into its parts (a kind we do not use is kept as
:class:`OtherPacket`, its bytes untouched) and each part's ``serialize`` writes
the bytes back. Every malformed input raises ``ValueError`` saying what is
wrong. Padding is read (and dropped) but never written.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTCP_VERSION = 2
SR, RR, SDES, BYE = 200, 201, 202, 203
SDES_CNAME = 1
_U32 = 1 << 32


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """What a receiver says of one source (§6.4.1). ``lost``: cumulative, signed 24 bits;
    ``fraction_lost``: of 256, since the last report; ``jitter`` in timestamp units."""

    ssrc: int
    fraction_lost: int
    lost: int
    highest_seq: int  # extended: cycles << 16 | the highest sequence number received
    jitter: int
    last_sr: int = 0  # the middle 32 bits of the NTP timestamp of the source's last SR
    delay_since_last_sr: int = 0  # in 1/65536 s

    def serialize(self) -> bytes:
        if not 0 <= self.fraction_lost <= 255:
            raise ValueError(f"RTCP fraction lost must be 0..255, got {self.fraction_lost}")
        if not -(1 << 23) <= self.lost < (1 << 23):
            raise ValueError(f"RTCP cumulative lost must fit 24 signed bits, got {self.lost}")
        for what, value in (
            ("SSRC", self.ssrc),
            ("highest sequence", self.highest_seq),
            ("jitter", self.jitter),
            ("LSR", self.last_sr),
            ("DLSR", self.delay_since_last_sr),
        ):
            if not 0 <= value < _U32:
                raise ValueError(f"RTCP {what} must be 0..2**32-1, got {value}")
        lost = self.lost & 0xFFFFFF
        return struct.pack(
            "!IIIIII",
            self.ssrc,
            self.fraction_lost << 24 | lost,
            self.highest_seq,
            self.jitter,
            self.last_sr,
            self.delay_since_last_sr,
        )

    @classmethod
    def parse(cls, data: bytes, at: int) -> ReportBlock:
        ssrc, word, highest, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", data, at)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 1 << 24
        return cls(ssrc, word >> 24, lost, highest, jitter, lsr, dlsr)


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp: int  # 64-bit NTP timestamp
    rtp_timestamp: int
    packets: int
    octets: int
    reports: tuple[ReportBlock, ...] = ()

    def serialize(self) -> bytes:
        body = struct.pack(
            "!IQIII", self.ssrc, self.ntp, self.rtp_timestamp, self.packets % _U32, self.octets % _U32
        )
        return _packet(SR, len(self.reports), body + b"".join(r.serialize() for r in self.reports))


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    def serialize(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + b"".join(r.serialize() for r in self.reports)
        return _packet(RR, len(self.reports), body)


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES with one chunk: a source's CNAME (the only item we write; others are skipped on reading)."""

    ssrc: int
    cname: str

    def serialize(self) -> bytes:
        name = self.cname.encode()
        if len(name) > 255:
            raise ValueError(f"RTCP CNAME is {len(name)} bytes; at most 255")
        chunk = struct.pack("!IBB", self.ssrc, SDES_CNAME, len(name)) + name + b"\0"
        chunk += bytes(-len(chunk) % 4)  # the item list ends with a null, padded to a 32-bit boundary
        return _packet(SDES, 1, chunk)


@dataclass(frozen=True, slots=True)
class Goodbye:
    sources: tuple[int, ...]

    def serialize(self) -> bytes:
        return _packet(BYE, len(self.sources), b"".join(struct.pack("!I", s) for s in self.sources))


@dataclass(frozen=True, slots=True)
class OtherPacket:
    """An RTCP packet of a kind we do not read (APP, XR, feedback): kept whole."""

    packet_type: int
    data: bytes

    def serialize(self) -> bytes:
        return self.data


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | OtherPacket


def _packet(packet_type: int, count: int, body: bytes) -> bytes:
    if count > 31:
        raise ValueError(f"an RTCP packet carries at most 31 items, got {count}")
    assert len(body) % 4 == 0
    return struct.pack("!BBH", RTCP_VERSION << 6 | count, packet_type, len(body) // 4) + body


def compound(*packets: RtcpPacket) -> bytes:
    """The packets as one compound packet (§6.1: a report first, then SDES)."""
    return b"".join(p.serialize() for p in packets)


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Every packet of a compound RTCP packet, in order."""
    if not data:
        raise ValueError("RTCP packet is empty")
    out: list[RtcpPacket] = []
    at = 0
    while at < len(data):
        if len(data) - at < 4:
            raise ValueError(f"RTCP header truncated: {len(data) - at} bytes at offset {at}")
        first, packet_type, words = struct.unpack_from("!BBH", data, at)
        if first >> 6 != RTCP_VERSION:
            raise ValueError(f"RTCP version must be 2, got {first >> 6}")
        end = at + 4 * (words + 1)
        if end > len(data):
            raise ValueError(
                f"RTCP packet at offset {at} declares {4 * (words + 1)} bytes; {len(data) - at} remain"
            )
        whole = data[at:end]
        if first & 0x20:
            pad = whole[-1]
            if pad == 0 or pad > len(whole) - 4:
                raise ValueError(f"RTCP padding count {pad} does not fit its packet")
            whole = whole[: len(whole) - pad]
        out.append(_parse_one(first & 0x1F, packet_type, whole, data[at:end]))
        at = end
    return out


def _parse_one(count: int, packet_type: int, whole: bytes, raw: bytes) -> RtcpPacket:
    if packet_type == SR:
        _need(whole, 28 + 24 * count, "SR")
        ssrc, ntp, rtp_ts, packets, octets = struct.unpack_from("!IQIII", whole, 4)
        blocks = tuple(ReportBlock.parse(whole, 28 + 24 * k) for k in range(count))
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, blocks)
    if packet_type == RR:
        _need(whole, 8 + 24 * count, "RR")
        (ssrc,) = struct.unpack_from("!I", whole, 4)
        return ReceiverReport(ssrc, tuple(ReportBlock.parse(whole, 8 + 24 * k) for k in range(count)))
    if packet_type == SDES and count >= 1:
        return _parse_sdes(whole)
    if packet_type == BYE:
        _need(whole, 4 + 4 * count, "BYE")
        return Goodbye(struct.unpack_from(f"!{count}I", whole, 4))
    return OtherPacket(packet_type, raw)


def _parse_sdes(whole: bytes) -> SourceDescription:
    """The first chunk's CNAME (an SDES without one reads as CNAME "")."""
    _need(whole, 8, "SDES")
    (ssrc,) = struct.unpack_from("!I", whole, 4)
    at = 8
    while at < len(whole) and whole[at] != 0:
        if at + 2 > len(whole) or at + 2 + whole[at + 1] > len(whole):
            raise ValueError("RTCP SDES item runs past its packet")
        kind, size = whole[at], whole[at + 1]
        if kind == SDES_CNAME:
            return SourceDescription(ssrc, whole[at + 2 : at + 2 + size].decode("utf-8", "replace"))
        at += 2 + size
    return SourceDescription(ssrc, "")


def _need(whole: bytes, size: int, what: str) -> None:
    if len(whole) < size:
        raise ValueError(f"RTCP {what} is {len(whole)} bytes; its count needs {size}")
