"""A fixed-depth jitter buffer, driven by the 20 ms media tick.

Packets go in as they arrive (:meth:`JitterBuffer.put`), in any order; the
media clock takes one frame out per tick (:meth:`JitterBuffer.pop`). Playout
starts once ``depth_frames`` frames are waiting, then follows sequence
numbers: a frame that has not arrived when its turn comes is lost (``None``:
the caller plays silence or repeats the last frame), and if it turns up later
it is dropped as late.

When the buffer runs dry (the sender paused, or the network stalled), playout
waits, without counting losses, until ``depth_frames`` are waiting again. It
starts over from the next packet (throwing away what is waiting) when the
SSRC changes, the sequence number jumps by ``max_frames`` or more from the
newest packet's, or the timestamp jumps out of step with the sequence number
by more than ``max_frames`` frames while nothing is waiting (a new talk
spurt after a long pause). When more than ``max_frames`` frames wait, the oldest are
dropped so delay cannot grow without bound.

Delay does not creep either: a burst (the sender or this side stalled for a
moment) leaves more frames waiting than the depth, and every frame of that
surplus would be heard as added delay for the rest of the call, which a
bridged seat and caller notice as talking over each other. While more than
``depth_frames + slack_frames`` wait for ``trim_after`` ticks in a row, one frame is
skipped every ``trim_after`` ticks until the surplus is gone.

Pure: no clock, no locks. One owner (the media clock) calls both methods.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ivr.media import FRAME_SAMPLES
from ivr.telephony.rtp import RtpPacket, seq_diff, ts_diff


@dataclass(frozen=True, slots=True)
class JitterStats:
    """Counts since the buffer was made.

    received: packets put; lost: ticks whose frame never came while later ones
    had; late: packets that came after their turn; duplicate: packets already
    waiting or already played; overflow: frames dropped because too many
    waited; resyncs: times playout started over; trimmed: frames skipped to
    bring a delay that had crept up back to the depth.
    """

    received: int = 0
    lost: int = 0
    late: int = 0
    duplicate: int = 0
    overflow: int = 0
    resyncs: int = 0
    trimmed: int = 0


class JitterBuffer:
    def __init__(
        self,
        depth_frames: int = 3,
        max_frames: int = 50,
        samples_per_frame: int = FRAME_SAMPLES,
        slack_frames: int = 2,
        trim_after: int = 5,
    ) -> None:
        if depth_frames < 1:
            raise ValueError(f"jitter buffer depth must be at least 1 frame, got {depth_frames}")
        if max_frames < depth_frames:
            raise ValueError(
                f"jitter buffer max_frames ({max_frames}) must be at least depth_frames ({depth_frames})"
            )
        self.depth_frames = depth_frames
        self.max_frames = max_frames
        self.samples_per_frame = samples_per_frame
        self.slack_frames = slack_frames
        self.trim_after = trim_after
        self._surplus_ticks = 0
        self._frames: dict[int, bytes] = {}
        self._next: int | None = None  # sequence number to play next
        self._playing = False
        self._ssrc: int | None = None
        self._anchor: tuple[int, int] | None = None  # (sequence, timestamp) of the newest packet
        self._played: deque[int] = deque(maxlen=max_frames)
        self._received = self._lost = self._late = self._duplicate = self._overflow = self._resyncs = 0
        self._trimmed = 0

    @property
    def stats(self) -> JitterStats:
        return JitterStats(
            received=self._received,
            lost=self._lost,
            late=self._late,
            duplicate=self._duplicate,
            overflow=self._overflow,
            resyncs=self._resyncs,
            trimmed=self._trimmed,
        )

    @property
    def buffered(self) -> int:
        """Frames waiting to be played."""
        return len(self._frames)

    @property
    def playing(self) -> bool:
        """Whether playout has started (``False`` while filling to depth)."""
        return self._playing

    def put(self, packet: RtpPacket, decoded_pcm: bytes) -> None:
        """Take in one arrived packet and its decoded 16-bit PCM frame."""
        self._received += 1
        seq = packet.sequence
        if self._next is None or packet.ssrc != self._ssrc or self._jumped(packet):
            if self._next is not None:
                self._resyncs += 1
            self._restart(packet)
        assert self._next is not None  # set by _restart
        offset = seq_diff(seq, self._next)
        if offset < 0:
            if seq in self._played:
                self._duplicate += 1
                return
            if self._played or self._playing:
                self._late += 1
                return
            self._next = seq  # filling the first time: an earlier packet arrived out of order
        if seq in self._frames:
            self._duplicate += 1
            return
        self._frames[seq] = decoded_pcm
        self._note_anchor(packet)
        while len(self._frames) > self.max_frames:
            self._drop_oldest()

    def pop(self) -> bytes | None:
        """The next frame in sequence order, once per 20 ms tick; ``None`` when there is none to play."""
        if self._next is None:
            return None
        if not self._playing:
            if len(self._frames) < self.depth_frames:
                return None
            self._playing = True
        if not self._frames:
            self._playing = False  # ran dry: refill to depth before playing again
            return None
        self._trim_surplus()
        seq = self._next
        self._next = (seq + 1) % 65536
        frame = self._frames.pop(seq, None)
        if frame is None:
            self._lost += 1
            return None
        self._played.append(seq)
        return frame

    def _trim_surplus(self) -> None:
        if len(self._frames) <= self.depth_frames + self.slack_frames:
            self._surplus_ticks = 0
            return
        self._surplus_ticks += 1
        if self._surplus_ticks < self.trim_after:
            return
        self._surplus_ticks = 0
        assert self._next is not None
        skipped = self._next
        self._frames.pop(skipped, None)
        self._played.append(skipped)
        self._next = (skipped + 1) % 65536
        self._trimmed += 1

    def _jumped(self, packet: RtpPacket) -> bool:
        if self._anchor is None:
            return False
        anchor_seq, anchor_ts = self._anchor
        if abs(seq_diff(packet.sequence, anchor_seq)) >= self.max_frames:
            return True
        if self._frames:
            return False
        expected = seq_diff(packet.sequence, anchor_seq) * self.samples_per_frame
        return abs(ts_diff(packet.timestamp, anchor_ts) - expected) > self.max_frames * self.samples_per_frame

    def _restart(self, packet: RtpPacket) -> None:
        self._frames.clear()
        self._played.clear()
        self._next = packet.sequence
        self._playing = False
        self._ssrc = packet.ssrc
        self._anchor = (packet.sequence, packet.timestamp)

    def _note_anchor(self, packet: RtpPacket) -> None:
        if self._anchor is None or seq_diff(packet.sequence, self._anchor[0]) > 0:
            self._anchor = (packet.sequence, packet.timestamp)

    def _drop_oldest(self) -> None:
        start = self._next
        assert start is not None
        oldest = min(self._frames, key=lambda s: seq_diff(s, start))
        del self._frames[oldest]
        self._overflow += 1
        self._next = (oldest + 1) % 65536
