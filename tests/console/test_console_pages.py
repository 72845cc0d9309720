"""The console in a real browser: what each role sees, live calls, pauses, flows, and what is refused."""

from __future__ import annotations

import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, expect

from ivr.call.events import CallRecord, Outcome
from ivr.records.callback_work import CallbackWork
from ivr.records.callbacks import CallbackBook, CallbackSource, CallbackTicket
from ivr.records.live_calls import LineStatus, LiveCall, LiveCallBoard, LiveState
from ivr.records.queue_figures import QueueFigures, RingResult, RingRow, TalkRow, WaitOutcome, WaitRow
from ivr.records.register import CallRegister
from ivr.records.reload_requests import ReloadRequests
from ivr.seats.board import SeatBoard
from ivr.seats.directory import load_seats
from ivr.seats.state import SeatState
from tests.console.conftest import (
    PASSWORD,
    Console,
    add_users,
    free_port,
    make_root,
    running_console,
    sign_in,
)

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def post(url: str, data: dict[str, str], cookie: str = "") -> int:
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(data).encode(), headers={"Cookie": cookie}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def test_sign_in_page_is_in_chinese_and_english_on_request(page: Page, console: Console) -> None:
    page.goto(console.url + "/")
    expect(page.locator("h1")).to_have_text("登录")
    shot(page, "sign-in")
    page.goto(console.url + "/sign-in?lang=en")
    expect(page.locator("h1")).to_have_text("Sign in")


def line_of(text: str, offset: int) -> int:
    """The 1-based line of ``offset`` in ``text``: what a checker's file:line names."""
    return text.count("\n", 0, offset) + 1


def test_each_role_lands_on_its_own_page(page: Page, console: Console) -> None:
    sign_in(page, console, "wang")
    expect(page).to_have_url(console.url + "/agent")
    expect(page.locator("h2").first).to_contain_text("我的座席 1001")
    expect(page.locator("nav")).not_to_contain_text("流程管理")
    page.context.clear_cookies()
    sign_in(page, console, "li")
    expect(page).to_have_url(console.url + "/wallboard")
    expect(page.locator("#seats tr")).to_have_count(
        len(load_seats(console.root / "flows" / "seats.yaml").seats)
    )
    page.context.clear_cookies()
    sign_in(page, console, "root")
    expect(page).to_have_url(console.url + "/admin")
    expect(page.locator("section.flow h2").first).to_have_text("flows/desk.yaml")


def test_an_agent_gets_403_on_admin_and_wallboard_pages(page: Page, console: Console) -> None:
    sign_in(page, console, "wang")
    expect(page).to_have_url(console.url + "/agent")
    for path in ("/admin", "/admin/edit?file=flows/desk.yaml", "/wallboard", "/wallboard.json"):
        response = page.goto(console.url + path)
        assert response is not None and response.status == 403, path
    expect(page.locator("p.error")).to_have_text("您没有权限查看此页")


def test_a_post_without_the_form_token_is_refused(page: Page, console: Console) -> None:
    sign_in(page, console, "wang")
    expect(page).to_have_url(console.url + "/agent")
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    assert post(console.url + "/agent/pause", {"reason": "吃饭"}, cookie) == 403
    assert post(console.url + "/agent/pause", {"reason": "吃饭", "csrf": "guess"}, cookie) == 403
    assert post(console.url + "/sign-in", {"name": "wang", "password": PASSWORD}) == 403
    with CallRegister(console.db) as reg:
        board = SeatBoard(load_seats(console.root / "flows" / "seats.yaml"), reg)
        assert board.get("1001").state is not SeatState.ON_BREAK
    session = next(c for c in page.context.cookies() if c["name"] == "ivr_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"


def test_six_wrong_passwords_lock_the_name(page: Page, console: Console) -> None:
    for _ in range(6):
        sign_in(page, console, "lockme", "wrong password")
    expect(page.locator("p.error")).to_have_text("错误次数太多，请一分钟后再试")
    sign_in(page, console, "lockme")  # the right password, but locked
    expect(page).to_have_url(console.url + "/sign-in")
    expect(page.locator("p.error")).to_have_text("错误次数太多，请一分钟后再试")


def _live_board(console: Console) -> LiveCallBoard:
    return LiveCallBoard(CallRegister(console.db), lambda: datetime.now(UTC))


def test_a_call_in_progress_appears_on_the_wallboard_within_a_second(page: Page, console: Console) -> None:
    now = datetime.now(UTC)
    with CallRegister(console.db) as reg:
        QueueFigures(reg).add(
            [
                WaitRow("w1", now, "reception", 10.0, WaitOutcome.ANSWERED, "1001"),
                WaitRow("w2", now, "reception", 30.0, WaitOutcome.ANSWERED, "1001"),
                WaitRow("w3", now, "reception", 15.0, WaitOutcome.ABANDONED),
                TalkRow("1001", "w1", now, "reception", 95.0),
                RingRow("1001", "w2", now, RingResult.NO_ANSWER, 15.0),
            ]
        )
        nine = datetime.now(ZoneInfo("Asia/Shanghai")).replace(hour=9, minute=5, second=0, microsecond=0)
        for n, at in enumerate((nine, nine + timedelta(minutes=35))):  # two calls at 09:xx, the desk's time
            reg.save(CallRecord(f"hour-{n}", "desk", None, at, 50, 500, Outcome.SERVED, []))
    sign_in(page, console, "li")
    expect(page).to_have_url(console.url + "/wallboard")
    board = _live_board(console)
    board.jobs.start()  # not start(): it would clear what other tests wrote
    try:
        now = datetime.now(UTC)
        board.update(LiveCall("call-wall-1", "13812345678", "desk", LiveState.IN_FLOW, now, step="greeting"))
        board.update(
            LiveCall(
                "call-wall-2",
                "<script>alert(1)</script>",
                "desk",
                LiveState.WAITING,
                now,
                step="put_through",
                intent="book",
                waiting_since=now,
            )
        )
        board.flush(2)
        written = time.monotonic()
        expect(page.locator("#calls tr")).to_have_count(2, timeout=1000)
        seen = time.monotonic() - written
        assert seen < 1.0
        expect(page.locator("#calls")).to_contain_text("13812345678")  # a shift leader sees the number
        expect(page.locator("#calls")).to_contain_text("机器人接待")
        expect(page.locator("#waiting tr")).to_have_count(1)
        expect(page.locator("#waiting td.caller")).to_have_text("<script>alert(1)</script>")
        expect(page.locator("#waiting")).to_contain_text("订房")
        expect(page.locator("#fig-service_level")).to_have_text("33%")  # 1 of 3 answered within 20 s
        expect(page.locator("#fig-abandoned")).to_have_text("33%")
        expect(page.locator("#fig-mean_wait")).to_have_text("0:18")
        expect(page.locator("#per-seat tr td")).to_have_text(
            ["1001", "1", "1", "1:35"]
        )  # handled, missed, talk
        # the charts: 24 hourly bars, the 09:00 one showing 2; seat 1001's answered and missed bars
        hourly = page.locator("#charts figure").nth(0)
        expect(hourly.locator("figcaption")).to_have_text("今日每小时来电")
        expect(hourly.locator("rect.bar")).to_have_count(24)
        assert hourly.locator("rect.bar").nth(9).get_attribute("data-value") == "2"
        assert (
            sum(
                int(v or 0)
                for v in hourly.locator("rect.bar").evaluate_all("bars => bars.map(b => b.dataset.value)")
            )
            == 2
        )
        by_seat = page.locator("#charts figure").nth(1)
        expect(by_seat.locator("figcaption")).to_contain_text("今日各座席接听与未接")
        expect(by_seat.locator("rect.bar")).to_have_count(2)
        expect(by_seat.locator("rect.bar.answered")).to_have_attribute("data-value", "1")
        expect(by_seat.locator("rect.bar.missed")).to_have_attribute("data-value", "1")
        desk_now = datetime.now(ZoneInfo("Asia/Shanghai"))  # times are the desk's
        shown = page.locator("#now").inner_text()
        assert shown[:5] in {desk_now.strftime("%H:%M"), (desk_now - timedelta(minutes=1)).strftime("%H:%M")}
        shot(page, "wallboard")
        page.goto(console.url + "/wallboard?lang=en")
        expect(page.locator("#charts figcaption").nth(0)).to_have_text("Calls per hour today")
        expect(page.locator("#charts figcaption").nth(1)).to_contain_text("Answered and missed by seat today")
        page.goto(console.url + "/wallboard?lang=zh")
    finally:
        board.ended("call-wall-1")
        board.ended("call-wall-2")
        board.close()
    expect(page.locator("#calls tr")).to_have_count(0, timeout=1000)


def test_a_ringing_seat_pops_the_call_on_that_agents_page(page: Page, console: Console) -> None:
    with CallRegister(console.db) as reg:
        CallbackBook(reg).add(
            CallbackTicket("ticket-1", "13900001111", CallbackSource.CALLER_ID, datetime.now(UTC), "max_wait")
        )
        reg.write(
            lambda conn: conn.execute("UPDATE callbacks SET seat_id = '1001' WHERE call_id = 'ticket-1'")
        )
        CallbackBook(reg).add(  # nobody's yet: not on an agent's page
            CallbackTicket("ticket-2", "13900002222", CallbackSource.CALLER_ID, datetime.now(UTC), "no_seat")
        )
    with CallRegister(console.db) as reg:
        reg.save(
            CallRecord(
                "earlier-1",
                "desk",
                "13812345678",
                datetime.now(UTC) - timedelta(minutes=5),
                50,
                500,
                Outcome.ABANDONED,
                ["start", "greet"],
            )
        )
    sign_in(page, console, "wang")
    expect(page).to_have_url(console.url + "/agent")
    expect(page.locator("#pop")).to_be_hidden()
    board = _live_board(console)
    board.jobs.start()
    try:
        now = datetime.now(UTC)
        board.update(
            LiveCall(
                "call-pop-1",
                "13812345678",
                "desk",
                LiveState.WAITING,
                now,
                step="put_through",
                intent="complaint",
                heard="我要投诉",
                path=("start", "menu", "put_through"),
                waiting_since=now,
            )
        )
        board.seat_ringing("call-pop-1", "1001")
        board.flush(2)
        written = time.monotonic()
        expect(page.locator("#pop")).to_be_visible(timeout=1000)
        assert time.monotonic() - written < 1.0
        expect(page.locator("#pop-caller")).to_have_text("13812345678")  # the seat taking it: in full
        expect(page.locator("#pop-intent")).to_have_text("投诉")
        expect(page.locator("#pop-heard")).to_have_text("我要投诉")
        expect(page.locator("#pop-path")).to_contain_text("menu")
        expect(page.locator("#pop-earlier li")).to_contain_text("来电挂断 start › greet")
        expect(page.locator("#callbacks tr")).to_have_count(1)
        shot(page, "agent")
        page.get_by_role("button", name="无人接听").click()
        expect(page.locator("#callbacks td").nth(3)).to_have_text("1")
        page.get_by_role("button", name="已回电").click()
        expect(page.locator("#callbacks tr")).to_have_count(0)
    finally:
        with CallRegister(console.db) as reg:
            CallbackWork(reg).called_back("ticket-2", datetime.now(UTC))
        board.ended("call-pop-1")
        board.close()
    expect(page.locator("#pop")).to_be_hidden(timeout=1000)


def test_pausing_from_the_page_is_on_the_seat_board_the_line_reads(page: Page, console: Console) -> None:
    sign_in(page, console, "wang")
    expect(page).to_have_url(console.url + "/agent")
    page.fill("#pause-reason", "去洗手间")
    page.click("#pause")
    expect(page.locator("#seat-state")).to_have_text("暂停服务")
    with CallRegister(console.db) as reg:
        board = SeatBoard(load_seats(console.root / "flows" / "seats.yaml"), reg)
        assert board.breaks() == {"1001": "去洗手间"}
    page.click("#resume")
    expect(page.locator("#seat-state")).to_have_text("空闲")
    with CallRegister(console.db) as reg:
        assert SeatBoard(load_seats(console.root / "flows" / "seats.yaml"), reg).breaks() == {}


def test_a_flow_with_a_mistake_is_refused_at_its_line_and_the_file_stays(
    page: Page, console: Console
) -> None:
    flow = console.root / "flows" / "desk.yaml"
    before = flow.read_text(encoding="utf-8")
    sign_in(page, console, "root")
    expect(page.locator("img.picture").first).to_be_visible()
    shot(page, "admin")
    page.goto(console.url + "/admin/edit?file=flows/desk.yaml")
    step_next = re.search(r"^ +next:", before, re.MULTILINE)
    assert step_next is not None
    broken = before[: step_next.start()] + before[step_next.start() :].replace("next:", "nxt:", 1)
    page.fill("#text", broken)
    page.click("#save")
    expect(page.locator("#result")).to_have_text("未保存：文件有问题，磁盘上的文件未改动")
    line = line_of(before, step_next.start())
    expect(page.locator("#problems")).to_contain_text(f"flows/desk.yaml:{line}: unknown key 'nxt'")
    assert flow.read_text(encoding="utf-8") == before
    shot(page, "flow-refused")
    page.fill("#text", before.replace("# ", "#  ", 1))
    page.click("#save")
    expect(page.locator("#result")).to_have_text("已保存，线路将在一秒内启用新流程")
    assert flow.read_text(encoding="utf-8") == before.replace("# ", "#  ", 1)


def test_a_prompt_catalog_change_that_breaks_a_flow_is_refused(page: Page, console: Console) -> None:
    catalog = console.root / "prompts" / "zh-CN.yaml"
    before = catalog.read_text(encoding="utf-8")
    sign_in(page, console, "root")
    page.goto(console.url + "/admin/edit?file=prompts/zh-CN.yaml")
    page.fill("#text", before.replace("  - id: greeting\n", "  - id: greetin\n", 1))
    page.click("#save")
    expect(page.locator("#result")).to_have_text("未保存：文件有问题，磁盘上的文件未改动")
    desk = (console.root / "flows" / "desk.yaml").read_text(encoding="utf-8")
    line = line_of(desk, desk.index("say: greeting"))  # the first step that says it
    expect(page.locator("#problems")).to_contain_text(f"flows/desk.yaml:{line}: unknown prompt 'greeting'")
    assert catalog.read_text(encoding="utf-8") == before


def _metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def test_metrics_need_no_sign_in(console: Console) -> None:
    with urllib.request.urlopen(console.url + "/metrics", timeout=5) as response:
        before = response.read().decode()
    with CallRegister(console.db) as reg:
        reg.save(
            CallRecord("metrics-1", "desk", "13700000000", datetime.now(UTC), 50, 500, Outcome.SERVED, [])
        )
        LineStatus(reg).put({"register_queue_depth": 2}, datetime.now(UTC))
    with urllib.request.urlopen(console.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'ivr_calls_total{outcome="served"}' in text
    assert "ivr_line_register_queue_depth 2.0" in text
    assert "13700000000" not in text
    assert 'ivr_calls_in_progress{state="waiting"}' in text
    assert 'ivr_seats{state="available"}' in text
    assert "ivr_queue_length" in text
    # answered 50 frames (1 s) after it arrived: in the 1 s bucket, not the 0.5 s one
    for name, more in (
        ('ivr_answer_delay_seconds_bucket{le="0.5"}', 0),
        ('ivr_answer_delay_seconds_bucket{le="1.0"}', 1),
        ("ivr_answer_delay_seconds_count", 1),
    ):
        assert _metric(text, name) == _metric(before, name) + more, name


def test_a_break_past_30_minutes_is_red_and_others_see_numbers_masked(page: Page, console: Console) -> None:
    seats = load_seats(console.root / "flows" / "seats.yaml")
    with CallRegister(console.db) as reg:
        SeatBoard(seats, reg).pause("1002", "培训", datetime.now(UTC) - timedelta(minutes=31))
    board = _live_board(console)
    board.jobs.start()
    try:
        board.update(LiveCall("call-mask-1", "13812345678", "desk", LiveState.IN_FLOW, datetime.now(UTC)))
        board.flush(2)
        sign_in(page, console, "root")  # an admin: not a leader, not the seat taking the call
        page.goto(console.url + "/wallboard")
        expect(page.locator("#calls td.caller")).to_have_text("138****5678")
        late = page.locator("#seats tr[data-seat='1002']")
        expect(late).to_have_class("late")
        expect(late).to_contain_text("暂停服务")
        expect(page.locator("#seats tr[data-seat='1001']")).not_to_have_class("late")
        page.goto(console.url + "/wallboard?lang=en")
        expect(page.locator("#seats tr[data-seat='1002']")).to_contain_text("on a break")
        expect(page.locator("h2").first).to_have_text("Today")
    finally:
        board.ended("call-mask-1")
        board.close()
        with CallRegister(console.db) as reg:
            SeatBoard(seats, reg).resume("1002", datetime.now(UTC))


def test_a_shift_leader_gives_a_callback_ticket_to_a_seat(page: Page, console: Console) -> None:
    with CallRegister(console.db) as reg:
        CallbackBook(reg).add(
            CallbackTicket(
                "ticket-lead", "13600002222", CallbackSource.KEYED, datetime.now(UTC), "after_hours"
            )
        )
    sign_in(page, console, "li")
    ticket = page.locator("#callbacks tr[data-ticket='ticket-lead']")
    expect(ticket).to_contain_text("13600002222")
    expect(ticket).to_contain_text("非工作时间")
    ticket.locator("select").select_option("1001")
    with CallRegister(console.db) as reg:
        work = CallbackWork(reg)
        deadline = time.monotonic() + 2
        while work.seat_of("ticket-lead") != "1001" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert work.seat_of("ticket-lead") == "1001"
        work.called_back("ticket-lead", datetime.now(UTC))


def test_a_pause_needs_a_reason(page: Page, console: Console) -> None:
    sign_in(page, console, "wang")
    expect(page).to_have_url(console.url + "/agent")
    page.fill("#pause-reason", "   ")
    page.click("#pause")
    expect(page.locator("#pause-error")).to_have_text("请填写暂停原因")
    expect(page.locator("#seat-state")).to_have_text("空闲")


def test_a_changed_prompt_is_rendered_before_the_line_is_asked_to_reload(
    browser: Browser, tmp_path: Path, rendered_audio: Path
) -> None:
    port = free_port()
    root = make_root(tmp_path, rendered_audio, port)
    audio = root / "audio" / "zh-CN"
    audio.unlink()
    shutil.copytree(rendered_audio, audio)  # its own audio: this test changes it
    add_users(root, [("root", "admin", None)])
    catalog = root / "prompts" / "zh-CN.yaml"
    before = catalog.read_text(encoding="utf-8")
    wavs = {p.relative_to(audio): p.read_bytes() for p in audio.rglob("*.wav")}
    with running_console(root, port) as console:
        context = browser.new_context(locale="zh-CN")
        try:
            page = context.new_page()
            sign_in(page, console, "root")
            page.goto(console.url + "/admin/edit?file=prompts/zh-CN.yaml")
            changed = before.replace('text: "您好,{company}!"', 'text: "您好,欢迎致电{company}!"', 1)
            assert changed != before
            page.fill("#text", changed)
            with CallRegister(console.db) as reg:
                asked = ReloadRequests(reg).latest()
            page.click("#save")
            expect(page.locator("#result")).to_have_text("已保存，线路将在一秒内启用新流程")
        finally:
            context.close()
    with CallRegister(console.db) as reg:
        request = ReloadRequests(reg).latest()
    assert request is not None and request != asked  # the line was asked to reload …
    after = {p.relative_to(audio): p.read_bytes() for p in audio.rglob("*.wav")}
    differ = sorted(str(name) for name in wavs if after.get(name) != wavs[name])
    assert differ == ["desk.greeting.short.wav"]  # … with the new words' audio already on disk, only it
