"""One call's fault is that call's alone (issue 9), over real SIP on loopback.

A request whose headers no dialog could use later is refused on arrival (400,
what is wrong in the reason phrase) and makes no call; a fault inside one
call's tick ends that call (BYE, a record with outcome failed and why) while
every other call keeps its audio and ends as its flow says, and the next caller
is answered. The arrival checks: 483 for no hops left, 420 for an option we do
not support, 482 for the same INVITE arriving by another path. Should the media
clock die anyway, ``ivr serve`` says why and exits 70.

The callers are ``RawCaller``s (bare UDP sockets that send exactly the SIP they
are told to); one line, with a short flow, serves the module. The one fault we
cannot cause over the wire (a hearing that breaks mid-call) is a hearing the
test's factory hands to one call.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from ivr.call.events import EventKind, Outcome
from ivr.call.ports import LineHearing
from ivr.commands.calls import render_call
from ivr.commands.serve import EXIT_LINE_FAILED, serve_until_stopped
from ivr.hearing.line_classifier import LineClassifier
from ivr.hearing.line_state import LineState
from ivr.line.open_line import OpenLine
from ivr.telephony import sdp
from ivr.telephony.sip_message import SipMessage, new_branch, new_call_id, new_tag, request
from tests.telephony.conftest import CallerNumbers, LineMaker, wait_for_record
from tests.telephony.harness.ports import LOOPBACK, PortRange, allocate_rtp_range, release_rtp_range
from tests.telephony.raw_sip import RawCaller, RawDialog

Address = tuple[str, int]

SHORT_CALL_FLOW = """\
flow: short_call
description: answered at once; the greeting, then goodbye and the bot's BYE
locale: zh-CN
answer:
  rings: 0
line:
  goodbye_wait: 0.5s
steps:
  start:
    say: greeting
    next: bye
  bye:
    hangup: goodbye
"""
BROKEN_AT = 25  # frames into a call whose hearing breaks: half a second


class BreakingHearing:
    """The line classifier, until frame ``BROKEN_AT``: then it raises, as a broken component would."""

    def __init__(self) -> None:
        self.inner = LineClassifier()
        self.frames = 0

    def hear(self, frame: bytes) -> LineState:
        self.frames += 1
        if self.frames >= BROKEN_AT:
            raise RuntimeError("the line classifier broke")
        return self.inner.hear(frame)


class Hearings:
    """The line's hearing factory: a working classifier per call, a breaking one when asked."""

    def __init__(self) -> None:
        self.break_next = False
        self.refuse_next = False

    def __call__(self) -> LineHearing:
        if self.refuse_next:
            self.refuse_next = False
            raise RuntimeError("no line classifier to be had")
        if self.break_next:
            self.break_next = False
            return BreakingHearing()
        return LineClassifier()


@pytest.fixture(scope="module")
def hearings() -> Hearings:
    return Hearings()


@pytest.fixture(scope="module")
def line(
    tmp_path_factory: pytest.TempPathFactory, rendered_audio: Path, hearings: Hearings
) -> Iterator[OpenLine]:
    directory = tmp_path_factory.mktemp("faults-line")
    flow = directory / "short-call.yaml"
    flow.write_text(SHORT_CALL_FLOW, encoding="utf-8")
    maker = LineMaker(directory)
    try:
        opened = maker(flow=flow, start=False)
        opened.line.parts = dataclasses.replace(opened.line.parts, hearing=hearings)
        opened.start()
        yield opened
    finally:
        maker.close()


class Callers:
    """Raw callers with numbers of their own, all closed at the end of the test."""

    def __init__(self, numbers: CallerNumbers) -> None:
        self.numbers = numbers
        self.open: list[tuple[RawCaller, PortRange]] = []

    def __call__(self) -> RawCaller:
        ports = allocate_rtp_range(4)
        caller = RawCaller(ports, user=self.numbers())
        self.open.append((caller, ports))
        return caller

    def close(self) -> None:
        while self.open:
            caller, ports = self.open.pop()
            caller.close()
            release_rtp_range(ports)


@pytest.fixture
def callers(caller_number: CallerNumbers) -> Iterator[Callers]:
    made = Callers(caller_number)
    try:
        yield made
    finally:
        made.close()


def answered_call(caller: RawCaller, target: Address) -> RawDialog:
    dialog = caller.invite(target)
    caller.answered(dialog)
    caller.send(caller.in_dialog(dialog, "ACK"), target)
    return dialog


def bot_hangs_up(caller: RawCaller, seconds: float) -> SipMessage:
    """The bot's BYE (answered 200 by the caller), within ``seconds``."""
    got = caller.listen(seconds, lambda m: m.is_request and m.method == "BYE")
    byes = [m for m in got if m.is_request and m.method == "BYE"]
    assert byes, f"no BYE from the bot within {seconds} s; got {[m.start_line for m in got]}"
    return byes[0]


def invite_with(
    caller: RawCaller, target: Address, *, max_forwards: int = 70, headers: dict[str, str] | None = None
) -> SipMessage:
    """An INVITE like ``RawCaller.invite``'s, with ``headers`` set (replaced, or added)."""
    uri = f"sip:desk@{target[0]}:{target[1]}"
    msg = request(
        "INVITE",
        uri,
        via=f"SIP/2.0/UDP {LOOPBACK}:{caller.port};branch={new_branch()};rport",
        from_=f"<sip:{caller.user}@{LOOPBACK}>;tag={new_tag()}",
        to=f"<{uri}>",
        call_id=new_call_id(LOOPBACK),
        cseq=1,
        contact=f"<sip:{caller.user}@{LOOPBACK}:{caller.port}>",
        body=sdp.offer(LOOPBACK, caller.rtp_port, session_id=4242),
        content_type="application/sdp",
        max_forwards=max_forwards,
    )
    for name, value in (headers or {}).items():
        msg = msg.with_header(name, value)
    return msg


def audio_keeps_flowing(caller: RawCaller, seconds: float = 1.0) -> None:
    caller.drain_rtp()
    packets = caller.rtp_packets(seconds)
    assert len(packets) >= 45 * seconds, f"{len(packets)} packets in {seconds} s: the call's audio stopped"


def next_caller_is_answered(line: OpenLine, callers: Callers) -> None:
    target = line.line.transport.address
    caller = callers()
    dialog = answered_call(caller, target)
    audio_keeps_flowing(caller, 0.5)
    caller.send(caller.in_dialog(dialog, "BYE"), target)
    caller.expect(200, "BYE")
    assert wait_for_record(line, caller.user).outcome is Outcome.ABANDONED


# --- headers a dialog cannot use: refused on arrival, nobody else notices ----------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("Record-Route", "<sip:127.0.0.1:5184;lr", "Bad Record-Route: '<' without a closing '>'"),
        ("Contact", "<sip:caller@127.0.0.1:5999", "Bad Contact: '<' without a closing '>'"),
        ("Contact", "<sip:caller@127.0.0.1:99999>", "Bad Contact: port '99999' is not 1..65535"),
    ],
)
def test_an_invite_whose_headers_no_dialog_could_use_gets_400_and_the_other_call_goes_on(
    line: OpenLine, callers: Callers, header: str, value: str, reason: str
) -> None:
    """Issue 9: the broken Record-Route was answered and the BYE built from it later killed the
    media clock; now it is refused with 400 at once, no call is made of it, the call already up
    keeps its audio and is ended by the bot's own BYE, and the next caller is answered."""
    target = line.line.transport.address
    other = callers()
    answered_call(other, target)
    calls_before = line.line.stats.calls

    broken = callers()
    broken.send(invite_with(broken, target, headers={header: value}), target)
    refused = broken.expect(400)
    assert refused.reason == reason
    assert refused.to_tag is not None
    assert [h.message.status for h in broken.heard if not h.message.is_request] == [400], "a call was started"
    assert line.line.stats.calls == calls_before and line.line.live_calls() == 1

    audio_keeps_flowing(other)
    bot_hangs_up(other, 10)
    assert wait_for_record(line, other.user).outcome is Outcome.SERVED
    next_caller_is_answered(line, callers)


# --- a fault inside one call's tick --------------------------------------------------------------


@pytest.mark.slow
def test_a_call_whose_hearing_breaks_is_hung_up_alone_and_its_record_says_why(
    line: OpenLine,
    callers: Callers,
    hearings: Hearings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = line.line.transport.address
    other = callers()
    answered_call(other, target)
    hearings.break_next = True
    unlucky = callers()
    with caplog.at_level(logging.ERROR, logger="ivr.line.desk_line"):
        answered_call(unlucky, target)
        bot_hangs_up(unlucky, 2.0)  # half a second in, its hearing breaks: BYE
    unlucky.drain_rtp()
    assert unlucky.rtp_packets(0.3) == [], "RTP after the failed call's BYE"

    audio_keeps_flowing(other)
    record = wait_for_record(line, unlucky.user)
    assert record.outcome is Outcome.FAILED
    fault = next(e for e in record.events if e.kind is EventKind.ERROR)
    assert fault.detail == {"what": "fault", "reason": "RuntimeError: the line classifier broke"}
    assert record.events[-1].kind is EventKind.HANGUP and record.events[-1].detail["outcome"] == "failed"
    shown = Console(record=True, width=200)
    render_call(record, shown)
    text = shown.export_text()  # what `ivr calls show` prints
    assert "reason=RuntimeError: the line classifier broke" in text and "outcome=failed" in text

    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged and logged[0].exc_info is not None, "the fault was not logged with its traceback"
    assert all(unlucky.user not in r.getMessage() for r in caplog.records), "the caller's number was logged"

    bot_hangs_up(other, 10)
    assert wait_for_record(line, other.user).outcome is Outcome.SERVED
    next_caller_is_answered(line, callers)


def test_a_call_whose_engine_cannot_start_is_hung_up_and_recorded_as_failed(
    line: OpenLine, callers: Callers, hearings: Hearings
) -> None:
    """The fault comes as the call is answered, before its engine exists: BYE all the same, and a
    record of its own (outcome failed, the fault its one event)."""
    target = line.line.transport.address
    hearings.refuse_next = True
    unlucky = callers()
    answered_call(unlucky, target)
    bot_hangs_up(unlucky, 1.0)
    record = wait_for_record(line, unlucky.user)
    assert record.outcome is Outcome.FAILED
    assert [(e.kind, e.detail) for e in record.events] == [
        (EventKind.ERROR, {"what": "fault", "reason": "RuntimeError: no line classifier to be had"})
    ]
    next_caller_is_answered(line, callers)


def test_a_fault_handling_one_calls_request_gets_it_500_and_ends_that_call_alone(
    line: OpenLine, callers: Callers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-INVITE whose answer cannot be made (a fault no message can cause, injected): 500 for
    it, BYE for the call, its record failed with why; the line's SIP reader goes on."""
    target = line.line.transport.address
    other = callers()
    answered_call(other, target)
    unlucky = callers()
    dialog = answered_call(unlucky, target)

    def no_answer(call: object) -> bytes:
        raise ValueError("no SDP answer today")

    monkeypatch.setattr(line.line, "_sdp_answer", no_answer)
    unlucky.send(unlucky.in_dialog(dialog, "INVITE", body=dialog.invite.body), target)
    assert unlucky.expect(500, "INVITE").reason == "Server Internal Error"
    if not any(h.message.is_request and h.message.method == "BYE" for h in unlucky.heard):
        bot_hangs_up(unlucky, 1.0)  # the BYE goes first, the 500 after: it may already be heard
    monkeypatch.undo()
    record = wait_for_record(line, unlucky.user)
    assert record.outcome is Outcome.FAILED
    fault = next(e for e in record.events if e.kind is EventKind.ERROR)
    assert fault.detail["reason"] == "ValueError: no SDP answer today"

    audio_keeps_flowing(other)
    bot_hangs_up(other, 10)
    next_caller_is_answered(line, callers)


# --- arrival checks: 483, 420, 482 ---------------------------------------------------------------


def test_an_invite_with_no_hops_left_gets_483(line: OpenLine, callers: Callers) -> None:
    caller = callers()
    target = line.line.transport.address
    calls = line.line.stats.calls
    caller.send(invite_with(caller, target, max_forwards=0), target)
    assert caller.expect(483).reason == "Too Many Hops"
    assert line.line.stats.calls == calls


def test_an_invite_requiring_an_option_we_lack_gets_420_naming_it(line: OpenLine, callers: Callers) -> None:
    caller = callers()
    target = line.line.transport.address
    calls = line.line.stats.calls
    required = "100rel, precondition, timer, sec-agree"  # 100rel and timer we have (issue 9 part 3)
    caller.send(invite_with(caller, target, headers={"Require": required}), target)
    refused = caller.expect(420)
    assert refused.reason == "Bad Extension"
    assert refused.all("Unsupported") == ["precondition", "sec-agree"]
    assert line.line.stats.calls == calls


def test_the_same_invite_arriving_by_another_path_gets_482_and_the_call_goes_on(
    line: OpenLine, callers: Callers
) -> None:
    """RFC 3261 §8.2.2.2: same From tag, Call-ID and CSeq, another branch (forked upstream, say)."""
    caller = callers()
    target = line.line.transport.address
    calls = line.line.stats.calls
    dialog = caller.invite(target)
    caller.answered(dialog)
    via = f"SIP/2.0/UDP {LOOPBACK}:{caller.port};branch={new_branch()};rport"
    caller.send(dialog.invite.with_header("Via", via), target)
    assert caller.expect(482).reason == "Loop Detected"
    assert line.line.stats.calls == calls + 1, "the merged copy made a second call"
    caller.send(caller.in_dialog(dialog, "ACK"), target)
    audio_keeps_flowing(caller, 0.5)
    caller.send(caller.in_dialog(dialog, "BYE"), target)
    caller.expect(200, "BYE")


def test_a_retransmitted_invite_is_still_no_merge(line: OpenLine, callers: Callers) -> None:
    caller = callers()
    target = line.line.transport.address
    dialog = caller.invite(target)
    first = caller.answered(dialog)
    caller.send(dialog.invite, target)  # same branch: a retransmission, answered as before
    assert caller.answered(dialog).to_tag == first.to_tag
    caller.send(caller.in_dialog(dialog, "ACK"), target)
    caller.send(caller.in_dialog(dialog, "BYE"), target)
    caller.expect(200, "BYE")


# --- the line's own threads: a dead one ends the process ------------------------------------------


def test_ivr_serve_exits_70_saying_why_when_the_media_clock_dies(
    open_line: LineMaker, caplog: pytest.LogCaptureFixture
) -> None:
    """A fault no call contains (here: the seat floor's break check on the tick, its queue log
    never started) stops the media clock; the serve loop wakes at once, logs why and returns 70,
    so the service manager restarts the line instead of leaving it up and deaf."""
    opened = open_line(seats="flows/seats.yaml", start=False)
    stop = threading.Event()
    opened.on_failure(stop.set)
    opened.writer.start()  # everything but the queue log, which the floor's first tick needs
    opened.line.start()
    with caplog.at_level(logging.ERROR):
        assert stop.wait(5), "the serve loop was not woken by the dead clock"
        code = serve_until_stopped(opened, stop, grace=1.0)
    assert code == EXIT_LINE_FAILED
    assert opened.failure is not None and opened.failure.startswith("the media clock stopped: RuntimeError")
    assert any(opened.failure in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
