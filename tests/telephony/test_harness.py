"""The loopback SIP harness itself: a real Kamailio, sipp, and the mini UAS."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.telephony.harness.kamailio import Kamailio, kamailio_available, kamailio_server, sip_options_ping
from tests.telephony.harness.mini_uas import MiniUas
from tests.telephony.harness.ports import (
    RtpPortAllocator,
    allocate_rtp_range,
    free_udp_port,
    release_rtp_range,
    udp_port_is_free,
)
from tests.telephony.harness.sipp import (
    SippResult,
    parse_sipp_duration_ms,
    run_sipp,
    sipp_available,
    start_sipp,
)

needs_kamailio = pytest.mark.skipif(not kamailio_available(), reason="kamailio is not installed")
needs_sipp = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")


@pytest.fixture(scope="module")
def registrar() -> Iterator[Kamailio]:
    if not kamailio_available():
        pytest.skip("kamailio is not installed")
    with kamailio_server() as server:
        yield server


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_free_ports_and_rtp_ranges_do_not_collide() -> None:
    port = free_udp_port()
    assert udp_port_is_free(port)
    allocator = RtpPortAllocator(floor=40000, ceiling=41000, block=100)
    first, second = allocator.allocate(), allocator.allocate(50)
    assert not first.overlaps(second)
    assert len(first) == 100 and len(second) == 50
    allocator.release(first)
    shared = allocate_rtp_range(10)
    release_rtp_range(shared)


def test_sipp_durations_read_as_milliseconds() -> None:
    assert parse_sipp_duration_ms("00:00:01:250000") == 1250.0
    assert parse_sipp_duration_ms("") is None


@needs_kamailio
@needs_sipp
def test_kamailio_answers_options_and_is_gone_after_stop() -> None:
    with kamailio_server() as server:
        pid = server.pid
        assert pid is not None
        assert sip_options_ping(*server.address) == 200
        result = run_sipp("uac_options", server.address, timeout_s=5)
        assert result.ok, result.report()
    assert _process_gone(pid)
    assert udp_port_is_free(server.port)


@needs_sipp
def test_register_with_the_right_password_is_accepted(registrar: Kamailio) -> None:
    result = run_sipp(
        "uac_register_auth", registrar.address, from_user="caller", password="secret", timeout_s=5
    )
    assert result.ok, result.report()


@needs_sipp
def test_register_with_a_wrong_password_is_refused(registrar: Kamailio) -> None:
    result = run_sipp(
        "uac_register_auth", registrar.address, from_user="caller", password="wrong", timeout_s=5
    )
    assert not result.ok
    assert result.failed_calls == 1
    assert "401" in result.errors, result.report()


@needs_sipp
def test_calling_an_unregistered_user_gets_404(registrar: Kamailio) -> None:
    result = run_sipp("uac_options", registrar.address, user="nobody", timeout_s=5)
    assert result.failed_calls == 1
    assert "404" in result.errors, result.report()


@needs_kamailio
@needs_sipp
def test_registrar_restart_keeps_its_port_and_answers_again() -> None:
    with kamailio_server() as server:
        port, first_pid = server.port, server.pid
        server.restart()
        assert server.port == port
        assert server.pid != first_pid
        assert first_pid is not None and _process_gone(first_pid)
        assert sip_options_ping(*server.address) == 200
        result = run_sipp(
            "uac_register_auth", server.address, from_user="ivr", password="secret", timeout_s=5
        )
        assert result.ok, result.report()


@needs_sipp
def test_sipp_wrapper_counts_calls_against_a_minimal_uas() -> None:
    with MiniUas() as uas:
        result = run_sipp("uac_options", uas.address, calls=3, rate=50, timeout_s=5)
    assert result.ok, result.report()
    assert result.successful_calls == 3
    assert result.response_time_ms is not None
    assert uas.requests["OPTIONS"] >= 3


@needs_sipp
def test_sipp_wrapper_reports_failed_calls() -> None:
    with MiniUas(options_status=503) as uas:
        result = run_sipp("uac_options", uas.address, timeout_s=5)
    assert not result.ok
    assert result.exit_code == 1
    assert result.failed_calls == 1
    assert "503" in result.errors


@needs_sipp
@pytest.mark.parametrize(
    ("scenario", "pause_ms"),
    [
        ("uac_call_hold_bye", 50),
        ("uac_cancel", 20),
        ("uac_unknown_method", 0),
    ],
)
def test_call_scenarios_pass_against_a_minimal_uas(scenario: str, pause_ms: int) -> None:
    with MiniUas(answer_after_s=0.2) as uas:
        result = run_sipp(scenario, uas.address, user="ivr", pause_ms=pause_ms, timeout_s=5)
    assert result.ok, result.report()


@needs_sipp
def test_a_retransmitted_invite_makes_one_dialog_at_a_correct_uas() -> None:
    with MiniUas(answer_after_s=0.2) as uas:
        result = run_sipp("uac_invite_retransmit", uas.address, user="ivr", pause_ms=50, timeout_s=5)
    assert result.ok, result.report()
    assert uas.requests["INVITE"] == 2
    assert len(uas.dialogs) == 1


@needs_sipp
def test_a_registered_sipp_seat_takes_calls_through_kamailio(registrar: Kamailio) -> None:
    seat_port = free_udp_port()
    registered = run_sipp(
        "uac_register_auth",
        registrar.address,
        from_user="seat1001",
        password="secret",
        local_port=seat_port,
        timeout_s=5,
    )
    assert registered.ok, registered.report()
    with start_sipp(
        "uas_answer", registrar.address, from_user="seat1001", local_port=seat_port, calls=2, timeout_s=10
    ) as seat:
        caller = run_sipp("uac_call_hold_bye", registrar.address, user="seat1001", calls=2, timeout_s=10)
        answered = seat.wait(timeout=10)
    assert caller.ok, caller.report()
    assert answered.ok, answered.report()
    assert answered.successful_calls == 2


_CANCEL_TRACE = """\
----------------------------------------------- 2026-12-06 01:53:43.247000
UDP message sent (300 bytes):

CANCEL sip:desk@127.0.0.1:57121 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:36487;branch=z9hG4bK-28732-1-0
CSeq: 1 CANCEL

----------------------------------------------- 2026-12-06 01:53:43.247200
UDP message received [300] bytes :

SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:36487;branch=z9hG4bK-28732-1-0;rport=36487
CSeq: 1 CANCEL

----------------------------------------------- 2026-12-06 01:53:43.247361
UDP message received [318] bytes :

SIP/2.0 487 Request Terminated
Via: SIP/2.0/UDP 127.0.0.1:36487;branch=z9hG4bK-28732-1-0;rport=36487
cseq:   1 invite
"""


def test_responses_heard_reads_status_and_method_not_digits_elsewhere() -> None:
    """A port such as 36487 once made a substring check mistake the 200 to CANCEL for a 200 after 487."""
    result = SippResult(
        scenario="uac_cancel", command=(), exit_code=0, killed=False, successful_calls=1, failed_calls=0,
        created_calls=1, retransmissions=0, unexpected_messages=0, recv_timeouts=0, response_time_ms=None,
        response_time_stdev_ms=None, call_length_ms=None, response_time_histogram={}, stats={}, errors="",
        messages=_CANCEL_TRACE, output="",
    )  # fmt: skip
    assert result.responses_heard() == [(200, "CANCEL"), (487, "INVITE")]
