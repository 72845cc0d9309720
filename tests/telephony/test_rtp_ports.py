"""RTP ports are handed out in turn, even ports only, skipping ports in use (real sockets on loopback)."""

from __future__ import annotations

import socket

import pytest

from ivr.telephony.rtp_ports import RtpPorts
from tests.telephony.harness.ports import allocate_rtp_range, release_rtp_range


def test_ports_go_round_the_range_so_a_closed_port_is_the_last_used_again() -> None:
    block = allocate_rtp_range(6)
    try:
        ports = RtpPorts(range(block.low, block.high + 1), "127.0.0.1")
        first = ports.open()
        a = first.getsockname()[1]
        first.close()
        second = ports.open()
        b = second.getsockname()[1]
        assert a % 2 == 0 and b % 2 == 0 and b == a + 2, "not the port just closed"
        third = ports.open()
        fourth = ports.open()  # the range has three even ports: round again to the first, now free
        assert fourth.getsockname()[1] == a
        with pytest.raises(OSError, match=f"no free RTP port in {block.low}-{block.high}"):
            ports.open()
        for s in (second, third, fourth):
            s.close()
    finally:
        release_rtp_range(block)


def test_a_port_bound_by_someone_else_is_skipped() -> None:
    block = allocate_rtp_range(4)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        squatter.bind(("127.0.0.1", block.low))
        ports = RtpPorts(range(block.low, block.high + 1), "127.0.0.1")
        sock = ports.open()
        assert sock.getsockname()[1] == block.low + 2
        sock.close()
    finally:
        squatter.close()
        release_rtp_range(block)
