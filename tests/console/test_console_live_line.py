"""The console beside a running line over real SIP: a caller who asks for a person shows on the wallboard,
and the seat rung for them sees the call pop up on its page while its phone rings."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from ivr.demo.phone import SipPhone
from ivr.demo.phone_script import Press, Tone, WaitForBot
from ivr.demo.seat_phone import SeatPhone
from tests.console.conftest import add_users, free_port, make_root, running_console, sign_in
from tests.telephony.conftest import REPO, LineMaker, started_phone
from tests.telephony.harness.ports import allocate_rtp_range, release_rtp_range

pytestmark = pytest.mark.slow

CALLER = "13812345678"


@pytest.fixture
def seat_1001() -> Iterator[SeatPhone]:
    ports = allocate_rtp_range(20)
    seat = SeatPhone("1001", rtp_ports=range(ports.low, ports.high + 1), answer_after_s=2.0)
    try:
        seat.start()
        yield seat
    finally:
        try:
            seat.close()
        finally:
            release_rtp_range(ports)


@pytest.fixture
def caller_phone() -> Iterator[SipPhone]:
    with started_phone(user=CALLER) as phone:
        yield phone


def test_a_caller_over_sip_is_on_the_wallboard_and_pops_on_the_rung_seats_page(
    tmp_path: Path, rendered_audio: Path, browser: Browser, seat_1001: SeatPhone, caller_phone: SipPhone
) -> None:
    flow_text = (REPO / "flows" / "desk.yaml").read_text(encoding="utf-8")
    flow = tmp_path / "desk.yaml"
    flow.write_text(flow_text, encoding="utf-8")
    seats = tmp_path / "seats.yaml"
    seats.write_text(
        f'seats:\n  - id: "1001"\n    name: 王小明\n    uri: "{seat_1001.uri}"\n    skills: [reception, business, home_decor]\n'
        '  - id: "1002"\n    name: 李华\n    uri: "sip:1002@127.0.0.1:9"\n    role: shift_leader\n',
        encoding="utf-8",
    )
    maker = LineMaker(tmp_path)
    try:
        line = maker(flow=flow, seats=seats)
        db = line.register.path
        port = free_port()
        (tmp_path / "console").mkdir()
        root = make_root(tmp_path / "console", rendered_audio, port, db=str(db), seats=str(seats))
        add_users(root, [("wang", "agent", "1001"), ("li", "shift_leader", None)])
        with running_console(root, port, db) as console:
            leader = browser.new_context(locale="zh-CN")
            agent = browser.new_context(locale="zh-CN")
            try:
                wall = leader.new_page()
                sign_in(wall, console, "li")
                expect(wall).to_have_url(console.url + "/wallboard")
                seat_page = agent.new_page()
                sign_in(seat_page, console, "wang")
                expect(seat_page).to_have_url(console.url + "/agent")
                expect(seat_page.locator("#pop")).to_be_hidden()

                dialled = time.monotonic()
                call = caller_phone.call(
                    line.line.transport.address, (WaitForBot(), Press("0"), Tone(400, 600.0))
                )
                # answered at the end of the first ring (1 s); then within a second on the wallboard
                expect(wall.locator("#calls td.caller")).to_have_text(CALLER, timeout=2500)
                assert time.monotonic() - dialled < 2.5
                # after the greeting the caller presses 0 and waits while seat 1001 rings (2 s before it answers)
                expect(seat_page.locator("#pop")).to_be_visible(timeout=10000)
                expect(seat_page.locator("#pop-caller")).to_have_text(CALLER)
                expect(seat_page.locator("#pop-path")).to_contain_text("start")
                expect(wall.locator("#calls tr")).to_have_count(1)
                # the seat answers and hears who is calling (the whisper); then put through: the wallboard says so
                expect(wall.locator("#calls")).to_contain_text("通话中", timeout=15000)
                expect(wall.locator("#seats tr[data-seat='1001']")).to_have_attribute(
                    "data-state", "talking", timeout=3000
                )
                caller_phone.hang_up(call)
                expect(wall.locator("#calls tr")).to_have_count(0, timeout=3000)
                expect(seat_page.locator("#pop")).to_be_hidden(timeout=3000)
                # /metrics: the call's answer delay (answered at the end of the first ring, 1 s) and the
                # line's error counters; the caller's number nowhere
                text = ""
                deadline = time.monotonic() + 5
                while "ivr_answer_delay_seconds_count 1.0" not in text and time.monotonic() < deadline:
                    with urllib.request.urlopen(console.url + "/metrics", timeout=5) as response:
                        text = response.read().decode()
                    time.sleep(0.2)
                assert 'ivr_answer_delay_seconds_bucket{le="2.0"} 1.0' in text
                assert "ivr_answer_delay_seconds_count 1.0" in text
                for counter in (
                    "ivr_line_sip_handler_errors_total 0.0",
                    "ivr_line_sip_malformed_total 0.0",
                    "ivr_line_calls_failed_total 0.0",
                    "ivr_line_media_late_ticks_total",
                    "ivr_line_rtp_lost_total",
                    "ivr_line_rtp_late_total",
                    "ivr_line_register_queue_depth",
                ):
                    assert counter in text
                assert CALLER not in text
            finally:
                leader.close()
                agent.close()
    finally:
        maker.close()


@pytest.fixture
def seat_1003() -> Iterator[SeatPhone]:
    ports = allocate_rtp_range(20)
    seat = SeatPhone("1003", rtp_ports=range(ports.low, ports.high + 1), answer_after_s=2.0)
    try:
        seat.start()
        yield seat
    finally:
        try:
            seat.close()
        finally:
            release_rtp_range(ports)


def test_a_seat_paused_from_its_page_is_not_rung_and_is_rung_again_once_resumed(
    tmp_path: Path,
    rendered_audio: Path,
    browser: Browser,
    seat_1001: SeatPhone,
    seat_1003: SeatPhone,
    caller_phone: SipPhone,
) -> None:
    flow = tmp_path / "desk.yaml"
    flow.write_text((REPO / "flows" / "desk.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    seats = tmp_path / "seats.yaml"
    skills = "skills: [reception, business, home_decor]"
    seats.write_text(
        f'seats:\n  - id: "1001"\n    name: 王小明\n    uri: "{seat_1001.uri}"\n    {skills}\n'
        f'  - id: "1003"\n    name: 赵敏\n    uri: "{seat_1003.uri}"\n    {skills}\n',
        encoding="utf-8",
    )
    maker = LineMaker(tmp_path)
    try:
        line = maker(flow=flow, seats=seats)
        db = line.register.path
        port = free_port()
        (tmp_path / "console").mkdir()
        root = make_root(tmp_path / "console", rendered_audio, port, db=str(db), seats=str(seats))
        add_users(root, [("wang", "agent", "1001"), ("zhao", "agent", "1003")])
        with running_console(root, port, db) as console:
            contexts = [browser.new_context(locale="zh-CN") for _ in range(2)]
            try:
                page_a, page_b = (context.new_page() for context in contexts)
                sign_in(page_a, console, "wang")
                sign_in(page_b, console, "zhao")
                expect(page_a).to_have_url(console.url + "/agent")
                expect(page_b).to_have_url(console.url + "/agent")

                def a_call_rings(rung: SeatPhone, quiet: SeatPhone) -> None:
                    """A caller asks for a person: ``rung`` rings, ``quiet`` never gets an INVITE."""
                    before = len(quiet.calls)
                    call = caller_phone.call(
                        line.line.transport.address, (WaitForBot(), Press("0"), Tone(400, 600.0))
                    )
                    try:
                        assert rung.wait_call(20.0) is not None
                        assert len(quiet.calls) == before
                    finally:
                        caller_phone.hang_up(call)
                    with line.line.ended:
                        assert line.line.ended.wait_for(lambda: line.line.live_calls() == 0, 5.0)
                    assert len(quiet.calls) == before

                page_a.fill("#pause-reason", "开会")
                page_a.click("#pause")
                expect(page_a.locator("#seat-state")).to_have_text("暂停服务")
                a_call_rings(seat_1003, seat_1001)

                page_a.click("#resume")
                expect(page_a.locator("#seat-state")).to_have_text("空闲")
                page_b.fill("#pause-reason", "吃饭")
                page_b.click("#pause")
                expect(page_b.locator("#seat-state")).to_have_text("暂停服务")
                a_call_rings(seat_1001, seat_1003)
            finally:
                for context in contexts:
                    context.close()
    finally:
        maker.close()
