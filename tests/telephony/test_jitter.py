"""The jitter buffer, one pop per 20 ms tick: order restored, losses become gaps, restarts after jumps."""

from __future__ import annotations

import pytest

from ivr.telephony.jitter import JitterBuffer, JitterStats
from ivr.telephony.rtp import RtpPacket


def pkt(seq: int, *, ts: int | None = None, ssrc: int = 0x1234) -> RtpPacket:
    seq %= 65536
    return RtpPacket(
        payload_type=0, sequence=seq, timestamp=(seq * 160 if ts is None else ts) % (1 << 32), ssrc=ssrc
    )


def frame(seq: int) -> bytes:
    return seq.to_bytes(2, "big") * 160


def put(buffer: JitterBuffer, *seqs: int, ssrc: int = 0x1234, ts_offset: int = 0) -> None:
    for s in seqs:
        buffer.put(pkt(s, ts=s * 160 + ts_offset, ssrc=ssrc), frame(s % 65536))


def played(buffer: JitterBuffer, ticks: int) -> list[int | None]:
    out: list[int | None] = []
    for _ in range(ticks):
        f = buffer.pop()
        out.append(None if f is None else int.from_bytes(f[:2], "big"))
    return out


def test_playout_waits_for_depth_then_follows_sequence_order() -> None:
    jb = JitterBuffer(depth_frames=3)
    assert jb.pop() is None
    put(jb, 100)
    assert played(jb, 1) == [None]
    put(jb, 101, 102)
    assert played(jb, 1) == [100]
    for s in range(103, 110):
        put(jb, s)
        assert played(jb, 1) == [s - 2]
    assert jb.stats == JitterStats(received=10)
    assert jb.buffered == 2 and jb.playing


def test_packets_reordered_within_the_window_play_in_order() -> None:
    jb = JitterBuffer(depth_frames=3)
    put(jb, 1, 3, 2, 5, 4, 6)
    assert played(jb, 6) == [1, 2, 3, 4, 5, 6]
    assert jb.stats.lost == 0 and jb.stats.late == 0


def test_an_earlier_packet_arriving_second_while_filling_still_plays_first() -> None:
    jb = JitterBuffer(depth_frames=2)
    put(jb, 11, 10)
    assert played(jb, 2) == [10, 11]


def test_a_missing_packet_is_a_gap_at_its_turn_and_dropped_as_late_when_it_comes() -> None:
    jb = JitterBuffer(depth_frames=2)
    put(jb, 1, 2, 4, 5)
    assert played(jb, 3) == [1, 2, None]
    put(jb, 3)
    assert played(jb, 2) == [4, 5]
    assert jb.stats == JitterStats(received=5, lost=1, late=1)


def test_duplicates_of_waiting_and_of_played_packets_are_dropped() -> None:
    jb = JitterBuffer(depth_frames=2)
    put(jb, 1, 2, 2, 3)
    assert played(jb, 1) == [1]
    put(jb, 1)
    assert played(jb, 2) == [2, 3]
    assert jb.stats.duplicate == 2 and jb.stats.late == 0


def test_sequence_numbers_wrap_around() -> None:
    jb = JitterBuffer(depth_frames=2)
    put(jb, 65534, 65535, 65536, 65537)
    assert played(jb, 4) == [65534, 65535, 0, 1]
    assert jb.stats.lost == 0


def test_running_dry_waits_without_counting_losses_then_refills_to_depth() -> None:
    jb = JitterBuffer(depth_frames=2)
    put(jb, 1, 2)
    assert played(jb, 5) == [1, 2, None, None, None]
    put(jb, 3)
    assert played(jb, 1) == [None]
    put(jb, 4)
    assert played(jb, 2) == [3, 4]
    assert jb.stats.lost == 0 and jb.stats.resyncs == 0


def test_a_duplicate_arriving_while_refilling_is_not_played_again() -> None:
    jb = JitterBuffer(depth_frames=2)
    put(jb, 1, 2)
    assert played(jb, 3) == [1, 2, None]
    put(jb, 2, 3, 4)
    assert played(jb, 2) == [3, 4]
    assert jb.stats.duplicate == 1


def test_new_talk_spurt_after_a_long_pause_restarts_playout() -> None:
    jb = JitterBuffer(depth_frames=2, max_frames=50)
    put(jb, 1, 2)
    assert played(jb, 3) == [1, 2, None]
    # 3 s of silence suppression: sequence continues, timestamp jumps by 150 frames
    put(jb, 3, 4, ts_offset=150 * 160)
    assert played(jb, 2) == [3, 4]
    assert jb.stats.resyncs == 1 and jb.stats.lost == 0


def test_ssrc_change_restarts_playout_from_the_new_source() -> None:
    jb = JitterBuffer(depth_frames=2)
    put(jb, 1, 2, 3)
    assert played(jb, 1) == [1]
    put(jb, 900, 901, ssrc=0xBEEF)
    assert played(jb, 2) == [900, 901]
    assert jb.stats.resyncs == 1


@pytest.mark.parametrize("jump", [50, 1000, 30000, -60, -20000])
def test_a_big_sequence_jump_restarts_playout(jump: int) -> None:
    jb = JitterBuffer(depth_frames=2, max_frames=50)
    put(jb, 1000, 1001, 1002)
    assert played(jb, 1) == [1000]
    put(jb, 1002 + jump, 1003 + jump)
    assert played(jb, 2) == [(1002 + jump) % 65536, (1003 + jump) % 65536]
    assert jb.stats.resyncs == 1


def test_too_many_waiting_frames_drop_the_oldest() -> None:
    jb = JitterBuffer(depth_frames=2, max_frames=5)
    put(jb, *range(1, 9))
    assert jb.buffered == 5
    assert played(jb, 5) == [4, 5, 6, 7, 8]
    assert jb.stats.overflow == 3


def test_steady_stream_with_jitter_plays_every_frame_once_in_order() -> None:
    jb = JitterBuffer(depth_frames=3)
    arrivals = {0: [0], 1: [1], 2: [], 3: [2, 3, 4], 4: [6], 5: [5], 6: [7], 7: [], 8: [8, 9]}
    out: list[int | None] = []
    for tick in range(14):
        put(jb, *arrivals.get(tick, []))
        out.extend(played(jb, 1))
    assert [s for s in out if s is not None] == list(range(10))
    assert jb.stats.lost == 0 and jb.stats.late == 0


@pytest.mark.parametrize(
    ("depth", "maximum", "message"), [(0, 50, "at least 1 frame"), (5, 3, "must be at least")]
)
def test_bad_sizes_are_refused(depth: int, maximum: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JitterBuffer(depth_frames=depth, max_frames=maximum)


def test_a_burst_after_a_stall_does_not_leave_its_delay_in_the_call() -> None:
    """A 200 ms stall delivers 10 frames at once; within a second the delay is back at the depth."""
    jb = JitterBuffer(depth_frames=3)
    seq = 0
    put(jb, 0, 1, 2)
    seq = 3
    for _ in range(20):  # steady: one in, one out
        put(jb, seq)
        seq += 1
        played(jb, 1)
    steady = jb.buffered
    put(jb, *range(seq, seq + 10))  # the stall's frames arrive together
    seq += 10
    for _ in range(50):  # one second more of steady flow
        put(jb, seq)
        seq += 1
        played(jb, 1)
    assert jb.buffered <= jb.depth_frames + jb.slack_frames
    assert jb.buffered - steady <= jb.slack_frames
    assert 0 < jb.stats.trimmed < 10 and jb.stats.lost == 0


def test_ordinary_jitter_is_never_trimmed() -> None:
    """Packets two at a time or late by a frame or two: nothing skipped, nothing lost."""
    jb = JitterBuffer(depth_frames=3)
    put(jb, 0, 1, 2)
    seq = 3
    for tick in range(500):
        if tick % 2 == 0:
            put(jb, seq, seq + 1)
            seq += 2
        played(jb, 1)
    assert jb.stats.trimmed == 0 and jb.stats.lost == 0
