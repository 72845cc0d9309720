"""One call's RTCP (RFC 3550 §6): reports every ~5 s of media time, and what the far end reports.

:class:`ReceptionStats` is the receiver's arithmetic of RFC 3550 appendix A,
pure: sequence numbers extended over wraps (A.1), packets expected and lost,
the fraction lost since the last report (A.3) and the interarrival jitter
(A.8), each packet's arrival given in RTP timestamp units.

:class:`RtcpSession` owns the call's RTCP socket (the RTP port + 1, the SDP
default; no rtcp-mux) and no thread: :meth:`RtcpSession.tick` runs on the
media clock with the call's RTP, reads what arrived and, every
``INTERVAL_TICKS`` (5 s; the first after half that, §6.2), sends a compound
SR (we sent audio since the last) or RR, with SDES CNAME. :meth:`close` sends
the last report with a BYE. A full or unreachable socket loses one report,
never the call. With ``srtp`` (the call's SRTP streams, set by its RTP) reports
go out as SRTCP and come in checked; one that fails is dropped and counted there.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass

from ivr.telephony import rtcp
from ivr.telephony.rtp import SEQ_MOD, TS_MOD, ts_diff
from ivr.telephony.srtp import SrtpStreams

log = logging.getLogger(__name__)
Address = tuple[str, int]
CLOCK_RATE = 8000
INTERVAL_TICKS = 250  # 5 s of 20 ms ticks (RFC 3550 §6.2's minimum interval)
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 to 1970
MAX_DROPOUT = 3000
MAX_MISORDER = 100


@dataclass(frozen=True, slots=True)
class FarReport:
    """What the far end last said of our stream: loss (fraction of 256, cumulative) and jitter."""

    fraction_lost: int
    lost: int
    jitter: int  # timestamp units


class ReceptionStats:
    """One source's reception (RFC 3550 A.1, A.3, A.8). ``arrival`` in RTP timestamp units."""

    def __init__(self, ssrc: int, seq: int) -> None:
        self.ssrc = ssrc
        self.base_seq = seq
        self.max_seq = seq
        self.cycles = 0
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter = 0.0
        self._transit: int | None = None

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Packets expected and not received (duplicates can make it negative, §6.4.1)."""
        return self.expected - self.received

    def update(self, seq: int, rtp_timestamp: int, arrival: int) -> None:
        delta = (seq - self.max_seq) % SEQ_MOD
        if delta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += SEQ_MOD
            self.max_seq = seq
        elif delta <= SEQ_MOD - MAX_MISORDER:  # a big jump: the sender restarted; count afresh
            self.base_seq = seq
            self.max_seq = seq
            self.cycles = 0
            self.received = self.expected_prior = self.received_prior = 0
        self.received += 1
        transit = (arrival - rtp_timestamp) % TS_MOD
        if self._transit is not None:
            d = abs(ts_diff(transit, self._transit))
            self.jitter += (d - self.jitter) / 16
        self._transit = transit

    def report(self, last_sr: int = 0, delay_since_last_sr: int = 0) -> rtcp.ReportBlock:
        """A report block, and the interval's counts start over (A.3)."""
        expected_interval = self.expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior, self.received_prior = self.expected, self.received
        lost_interval = expected_interval - received_interval
        fraction = (
            0 if expected_interval <= 0 or lost_interval <= 0 else (lost_interval << 8) // expected_interval
        )
        lost = max(-(1 << 23), min(self.lost, (1 << 23) - 1))
        return rtcp.ReportBlock(
            self.ssrc,
            min(fraction, 255),
            lost,
            self.extended_max % (1 << 32),
            int(self.jitter),
            last_sr,
            delay_since_last_sr,
        )


def ntp_now() -> int:
    """The wall clock as a 64-bit NTP timestamp (an SR's; nothing else reads it)."""
    now = time.time() + NTP_EPOCH_OFFSET
    return int(now * (1 << 32)) % (1 << 64)


class RtcpSession:
    def __init__(self, sock: socket.socket, remote: Address, ssrc: int, cname: str) -> None:
        self.sock = sock
        self.sock.setblocking(False)
        self.remote = remote
        self.ssrc = ssrc
        self.cname = cname
        self.source: ReceptionStats | None = None  # the far end's stream, once a packet came
        self.far: FarReport | None = None
        self.reports_sent = 0
        self.reports_read = 0
        self.malformed = 0
        self.closed = False
        self.srtp: SrtpStreams | None = None
        self._ticks = INTERVAL_TICKS // 2  # the first report comes after half an interval
        self._last_sr = 0  # the middle 32 bits of the far end's last SR's NTP timestamp
        self._ticks_since_sr = 0

    def received(self, ssrc: int, seq: int, rtp_timestamp: int, arrival: int) -> None:
        """An RTP packet from the far end (arrival in timestamp units)."""
        if self.source is None or self.source.ssrc != ssrc:
            self.source = ReceptionStats(ssrc, seq)  # a new source (or the far end restarted)
        self.source.update(seq, rtp_timestamp, arrival)

    def tick(self, sent_packets: int, sent_octets: int, rtp_timestamp: int, sending: bool) -> None:
        """One media tick: read reports; send ours when it is time."""
        self._ticks_since_sr += 1
        self._read()
        self._ticks -= 1
        if self._ticks <= 0:
            self._ticks = INTERVAL_TICKS
            self._send(self._report(sent_packets, sent_octets, rtp_timestamp, sending))

    def close(self, sent_packets: int, sent_octets: int, rtp_timestamp: int, sending: bool) -> None:
        """The last report and BYE, then the socket is closed."""
        last = self._report(sent_packets, sent_octets, rtp_timestamp, sending)
        self._send(last + rtcp.Goodbye((self.ssrc,)).serialize())
        self.sock.close()
        self.closed = True

    def _report(self, packets: int, octets: int, rtp_timestamp: int, sending: bool) -> bytes:
        blocks: tuple[rtcp.ReportBlock, ...] = ()
        if self.source is not None:
            dlsr = self._ticks_since_sr * 65536 // 50 if self._last_sr else 0  # 1/65536 s, from ticks
            blocks = (self.source.report(self._last_sr, dlsr),)
        head: rtcp.RtcpPacket
        if sending:
            head = rtcp.SenderReport(self.ssrc, ntp_now(), rtp_timestamp, packets, octets, blocks)
        else:
            head = rtcp.ReceiverReport(self.ssrc, blocks)
        return rtcp.compound(head, rtcp.SourceDescription(self.ssrc, self.cname))

    def _send(self, data: bytes) -> None:
        if self.srtp is not None:
            data = self.srtp.protect_rtcp(data)
        try:
            self.sock.sendto(data, self.remote)
            self.reports_sent += 1
        except OSError as exc:  # a lost report; the next one says it all again
            log.debug("an RTCP report was not sent: %s", exc)

    def _read(self) -> None:
        for _ in range(4):
            try:
                data = self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP unreachable: the far end has no RTCP port
                return
            if self.srtp is not None:
                plain = self.srtp.unprotect_rtcp(data)
                if plain is None:  # forged, damaged or replayed: dropped (counted by the streams)
                    continue
                data = plain
            try:
                packets = rtcp.parse_compound(data)
            except ValueError:
                self.malformed += 1
                continue
            self.reports_read += 1
            for packet in packets:
                if isinstance(packet, rtcp.SenderReport):
                    self._last_sr = (packet.ntp >> 16) & 0xFFFFFFFF
                    self._ticks_since_sr = 0
                if isinstance(packet, (rtcp.SenderReport, rtcp.ReceiverReport)):
                    for block in packet.reports:
                        if block.ssrc == self.ssrc:
                            self.far = FarReport(block.fraction_lost, block.lost, block.jitter)
