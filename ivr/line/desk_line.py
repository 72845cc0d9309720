"""The desk line on a real SIP socket: answers, runs each call's engine on the media clock, hangs up.

Threads: the SIP transport's reader and the media clock, both owned here and
stopped by ``close()``. Both take ``_lock`` for the call table; the SIP side
only changes call state, the clock side runs timers and media for every call.
What RFC 3261 asks of a UAS is done here and not left to luck: responses
follow the top Via (received/rport), 100 and 180 go out at once, the 200 OK is
retransmitted until its ACK, CANCEL before the answer gets 200 and 487, a
retransmitted INVITE or a re-INVITE never starts a second media stream.

Mid-call, what PBXs send is obeyed: a re-INVITE or UPDATE with a new offer is
answered (RFC 3264 §8) and RTP goes where it says; ``sendonly``/``inactive`` is a
hold: we answer ``recvonly``/``inactive`` and send nothing, the flow waits with the
caller (``CallEngine.held_tick``: the prompt pauses, the silence and noise ladders
do not count, the record's clock does), the media timeout is suspended, and
``sendrecv`` resumes. Session timers (RFC 4028) end an unrefreshed call with BYE;
a ``Require: 100rel`` INVITE gets its 180 reliably (RFC 3262). Each call's RTP
has RTCP beside it; its loss and jitter go into the record (a ``media`` event).

A request is checked on arrival (``arrival.refusal``: 400 for a header a dialog
could not use later, 483, 420; 482 for a merged INVITE) before any call is made
of it. One call's fault ends that call only: whatever raises in its tick or in
its SIP handling is logged with its traceback, the call gets its BYE (or a 500
before the answer) and a record whose outcome is ``failed`` with the fault's one
line, and the clock goes on for every other call. Should a thread die anyway,
``failure`` says why and ``on_failure`` tells the owner, who exits: a line must
never stay up deaf.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from ivr.call.engine import CallEngine
from ivr.call.events import CallEvent, CallRecord, EventKind, Outcome
from ivr.call.inputs import CallContext, CallerHangup, CallInput, Dtmf
from ivr.call.ports import LineHearing, PromptSource
from ivr.config import SipSettings
from ivr.flows.schema import Flow, Say
from ivr.hearing.caller_speech import SpeechGate, SpeechInput
from ivr.line.call_progress import CallProgress, ProgressWatch
from ivr.line.call_tickets import CallTickets, WriteTicket
from ivr.line.cross_line import CrossLine
from ivr.line.inbound_call import CallState, InboundCall
from ivr.line.seat_floor import SeatDialing, SeatFloor
from ivr.line.seat_leg import Credentials
from ivr.media import SILENT_FRAME, frames_in, seconds_of
from ivr.prompts.voice_worker import VoiceWorker
from ivr.seats.directory import Seat
from ivr.seats.queue import QueueAction, SeatQueue
from ivr.telephony import sdp, srtp
from ivr.telephony.answering_dialog import AnsweringDialog
from ivr.telephony.arrival import refusal
from ivr.telephony.call_media import CallMedia
from ivr.telephony.media_clock import PERIOD_S, MediaClock
from ivr.telephony.registration import Registration
from ivr.telephony.retransmit import Retransmission
from ivr.telephony.rtp_ports import RtpPorts
from ivr.telephony.session_timer import SessionTimer, negotiate
from ivr.telephony.sip_message import (
    SipMessage,
    SipParseError,
    format_hostport,
    new_tag,
    parse,
    parse_name_addr,
    response,
)
from ivr.telephony.transport import SipTransport, Source, TlsListen
from ivr.telephony.uas_refusals import cannot_serve

log = logging.getLogger(__name__)
Address = tuple[str, int]
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK"
SUPPORTED = (
    "timer, 100rel"  # RFC 4028 session timers, RFC 3262 reliable 180 (a Require of anything else: 420)
)
KNOWN_METHODS = {"REGISTER", "SUBSCRIBE", "NOTIFY", "MESSAGE", "INFO", "PRACK", "UPDATE", "REFER", "PUBLISH"}
SERVER = "ivr/0.1"
KEEP_ENDED_S = 32.0  # an ended call's transaction stays to absorb retransmissions
CLOSING_MARGIN_S = 0.5  # a put-through call's goodbye ends this long before the closing line's grace does


@dataclass
class LineStats:
    calls: int = 0
    refused_busy: int = 0
    refused_forbidden: int = 0
    malformed: int = 0
    refused_on_arrival: int = 0  # 400, 420, 482, 483: a request that could not be taken as it came
    failed: int = 0  # calls a fault ended (each alone)
    rtp_lost: int = 0  # callers' frames that never came in time (ended calls)
    rtp_late: int = 0  # callers' packets that came after their turn (ended calls)


@dataclass
class SeatParts:
    """Human seats for transfers: who they are, their queue, the voice of the whisper, where actions go."""

    seats: list[Seat]
    queue: SeatQueue
    voice: VoiceWorker
    on_action: Callable[[QueueAction], object] = lambda action: None  # records, the board (off the tick)
    ask_breaks: Callable[[SeatFloor], object] | None = None  # read the board's breaks on a worker
    crossing: CrossLine | None = None  # other lines sharing the seats: claim a seat before ringing it


@dataclass
class LineParts:
    """What the line needs besides SIP: the flow, its prompts, hearing, and where records go."""

    flow: Flow
    prompts: PromptSource
    hearing: Callable[[], LineHearing]
    record: Callable[[CallRecord], object] = lambda record: None
    seconds_since_last_call: Callable[[str | None], float | None] = lambda caller: None
    dropped_path: Callable[[str | None], list[str]] = lambda caller: []  # where a dropped call was
    # seats can take transfers (the seats issue); without them a transfer step runs the flow's fallback
    transfers: bool = False
    wall_clock: Callable[[], datetime] = datetime.now  # now, for the register (and hours rules, by default)
    hours_clock: Callable[[], datetime] | None = None  # the time hours rules read; None: wall_clock
    speech: Callable[[str | None], SpeechInput] | None = None  # None: keys and line handling only
    seats: SeatParts | None = None  # None: transfers follow ``transfers`` (no queue)
    goodbye: str = "goodbye"  # said to a put-through caller whose seat hung up, before the BYE
    tickets: WriteTicket | None = None  # writes callback tickets off the tick; None: none is promised
    progress: Callable[[CallProgress], object] | None = (
        None  # each call's state and step (the console's table)
    )


class DeskLine:
    def __init__(
        self, settings: SipSettings, parts: LineParts, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.parts = parts
        self._now = now
        self._lock = threading.RLock()
        self._calls: dict[str, InboundCall] = {}
        self.stats = LineStats()
        self.accepting = True
        self.failure: str | None = None  # why a thread of the line died: it takes no more calls
        self.on_failure: Callable[[], object] = lambda: None  # the owner, told at once (on the dying thread)
        tls = settings.tls_listen()
        self.transport = SipTransport(
            settings.bind_address,
            self._on_datagram,
            realtime=settings.realtime,
            on_failure=lambda exc: self._thread_died("the SIP transport", exc),
            transports=settings.transports,
            tls=None if tls is None else TlsListen(*tls),
            idle_s=settings.tcp_idle,
        )
        self.host, self.port = self.transport.address
        self._rtp = RtpPorts(settings.rtp_range, self.host)
        self._media_limit = frames_in(settings.media_timeout) if settings.media_timeout else None
        self.registration: Registration | None = None
        if settings.mode == "register":
            server = settings.server_address
            assert server is not None and settings.username and settings.password
            self.registration = Registration(
                server, settings.username, settings.password, (self.host, self.port), settings.expires
            )
        self.clock = MediaClock(
            self._on_tick,
            self._busy,
            self._next_deadline,
            now,
            realtime=settings.realtime,
            on_failure=lambda exc: self._thread_died("the media clock", exc),
        )
        self.ended = threading.Condition(self._lock)
        self.frame = 0  # the line's media clock in 20 ms frames (the seat queue's time)
        self._t0 = now()
        self.floor: SeatFloor | None = None
        self.progress = (
            None if parts.progress is None else ProgressWatch(parts.progress, self._flow, parts.wall_clock)
        )
        if parts.seats is not None:
            self.floor = self._seat_floor(parts.seats)

    def _seat_floor(self, seats: SeatParts) -> SeatFloor:
        s = self.settings
        credentials = Credentials(s.username, s.password) if s.username and s.password else None
        dialing = SeatDialing(
            s.mode, (self.host, self.port), s.username or "ivr", s.server_address, credentials, s.srtp
        )
        flow = self.parts.flow
        ring_timeouts = {
            step.transfer.skill: step.transfer.ring_timeout
            for step in flow.steps.values()
            if step.transfer is not None
        }
        ask = seats.ask_breaks
        floor = SeatFloor(
            seats.seats,
            seats.queue,
            dialing,
            send=self.transport.send,
            open_rtp=self._rtp.open,
            voice=seats.voice,
            ring_timeouts=ring_timeouts,
            max_wait_s=flow.hold.max_wait,
            on_action=seats.on_action,
            ask_breaks=None if ask is None else lambda: ask(floor),
            crossing=seats.crossing,
        )
        return floor

    # --- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        if self.floor is not None:
            self.floor.start()
        self.transport.start()
        self.clock.start()
        if self.registration is not None:
            with self._lock:
                self.registration.begin(self._now())
                self._flush_registration()
            self.clock.wake()

    def _thread_died(self, thread: str, exc: BaseException) -> None:
        self.failure = f"{thread} stopped: {fault_reason(exc)}"
        self.on_failure()

    def live_calls(self) -> int:
        with self._lock:
            return sum(1 for c in self._calls.values() if c.state is not CallState.ENDED)

    def refuse_new_calls(self) -> None:
        """From now on a new INVITE gets 503 (``drain`` does this first too)."""
        with self._lock:
            self.accepting = False

    def drain(self, grace: float) -> None:
        """Refuse new calls (503); live ones say goodbye and have ``grace`` seconds to finish it.

        A call put through to a seat goes on while it can: just in time for the goodbye to end
        before the grace does, the seat's leg gets BYE and the caller hears the goodbye, then BYE.
        """
        deadline = self._now() + grace
        with self._lock:
            self.accepting = False
            last_words_s = (
                seconds_of(len(self._goodbye_frames(None)))
                + self.parts.flow.line.goodbye_wait
                + CLOSING_MARGIN_S
            )
            for call in list(self._calls.values()):  # each live call says goodbye now, then hangs up
                if call.engine is not None and call.engine.ended_by == "transfer":
                    call.closing_at = max(self._now(), deadline - last_words_s)
                elif call.engine is not None and call.state is CallState.ANSWERED:
                    call.engine.close_line()
                elif call.state is CallState.RINGING:  # not answered yet: never will be
                    self._hang_up(call, self._now())
            while self.live_calls() and (left := deadline - self._now()) > 0:
                self.ended.wait(left)
            for call in list(self._calls.values()):
                if call.state is not CallState.ENDED:
                    self._hang_up(call, self._now())

    def close(self, unregister_wait: float = 2.0) -> None:
        if self.registration is not None:
            with self._lock:
                self.registration.end(self._now())
                self._flush_registration()
            self.clock.wake()
            deadline = self._now() + unregister_wait
            with self._lock:
                while not self.registration.unregistered and (left := deadline - self._now()) > 0:
                    self.ended.wait(left)
        self.clock.stop()
        with self._lock:
            if self.floor is not None:
                self.floor.close(self._now())  # BYE to seats still on a call, the voice worker stopped
        self.transport.stop()
        with self._lock:
            for call in self._calls.values():
                if call.media is not None:
                    call.media.close()

    def _flush_registration(self) -> None:
        assert self.registration is not None
        for data, to in self.registration.take_outbox():
            self.transport.send(data, to)

    # --- SIP in ------------------------------------------------------------------------

    def _on_datagram(self, data: bytes, came: Source) -> None:
        source = came.address  # a response goes back the way its request came: the transport sees to it
        if data in (b"\r\n\r\n", b"\r\n"):  # keep-alive
            return
        try:
            msg = parse(data)
        except SipParseError as exc:
            self.stats.malformed += 1
            log.info("malformed SIP from %s:%d: %s", source[0], source[1], exc)
            return
        with self._lock:
            if self.floor is not None and self.floor.owns(msg.call_id):
                if msg.is_request:
                    self.floor.on_request(msg, source, self._now())
                else:
                    self.floor.on_response(msg, self._now())
                return
            try:
                if msg.is_request:
                    self._on_request(msg, source)
                else:
                    self._on_response(msg)
            except Exception as exc:  # one call's fault: that call ends, the line goes on
                self._sip_fault(msg, source, exc)
        self.clock.wake()

    def _sip_fault(self, msg: SipMessage, source: Address, exc: Exception) -> None:
        call = self._calls.get(msg.call_id)
        if call is not None:
            self._fail(call, self._now(), exc)
        else:
            log.error("a SIP %s could not be handled", msg.method or "response", exc_info=exc)
        if msg.is_request and msg.method != "ACK":
            self._reply(msg, source, 500, "Server Internal Error", to_tag=new_tag())

    def _reply(
        self,
        req: SipMessage,
        source: Address,
        status: int,
        reason: str,
        *,
        to_tag: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> bytes:
        resp = response(
            req,
            status,
            reason,
            to_tag=to_tag,
            headers=[("Server", SERVER), *(headers or [])],
            body=body,
            content_type=content_type,
            source=source,  # RFC 3581 §4: the top Via comes back with received and the rport filled
        )
        data = resp.serialize()
        self.transport.send(data, req.top_via.response_address(source))
        return data

    def _answer_invite(
        self, call: InboundCall, status: int, reason: str, headers: list[tuple[str, str]] | None = None
    ) -> bytes:
        """A response to the call's INVITE in its dialog (our To tag), sent where its Via says."""
        data = call.dialog.answer(status, reason, [("Server", SERVER), *(headers or [])])
        self.transport.send(data, call.dialog.reply_to)
        return data

    def _on_request(self, req: SipMessage, source: Address) -> None:
        method = req.method
        if self.settings.mode == "direct" and method != "ACK" and not self.settings.allows(source[0]):
            self.stats.refused_forbidden += 1
            self._reply(req, source, 403, "Forbidden")
            return
        refused = refusal(req, [tag.strip() for tag in SUPPORTED.split(",")])
        if refused is not None:  # a header no dialog could use, no hops left, an option we lack
            self.stats.refused_on_arrival += 1
            log.info("%s refused on arrival: %d %s", method, refused.status, refused.reason)
            self._reply(
                req, source, refused.status, refused.reason, to_tag=new_tag(), headers=[*refused.headers]
            )
            return
        if method == "INVITE":
            self._on_invite(req, source)
        elif method == "ACK":
            self._on_ack(req)
        elif method == "CANCEL":
            self._on_cancel(req, source)
        elif method == "BYE":
            self._on_bye(req, source)
        elif method == "UPDATE":
            self._on_update(req, source)
        elif method == "PRACK":
            self._on_prack(req, source)
        elif method == "OPTIONS":
            if not self._refused_unservable(req, source):
                self._reply(req, source, 200, "OK", headers=[("Allow", ALLOW), ("Accept", "application/sdp")])
        elif method in KNOWN_METHODS:
            self._reply(req, source, 405, "Method Not Allowed", headers=[("Allow", ALLOW)])
        else:
            self._reply(req, source, 501, "Not Implemented", headers=[("Allow", ALLOW)])

    def _refused_unservable(self, req: SipMessage, source: Address) -> bool:
        """Refuse (416, 415, 406) a request out of a dialog that the line cannot serve; whether it was."""
        refused = cannot_serve(req) if req.to_tag is None else None
        if refused is not None:
            self._reply(req, source, refused.status, refused.reason, headers=list(refused.headers))
        return refused is not None

    def _on_invite(self, req: SipMessage, source: Address) -> None:
        if self._refused_unservable(req, source):
            return
        call = self._calls.get(req.call_id)
        if call is not None:
            if self._merged(req, call):  # RFC 3261 §8.2.2.2: the same INVITE, arrived by another path
                self.stats.refused_on_arrival += 1
                self._reply(req, source, 482, "Loop Detected", to_tag=new_tag())
                return
            if req.to_tag is None or req.top_via.branch == call.branch:
                over = call.state is CallState.ENDED or call.caller_hung_up
                if over and call.last_response.startswith(b"SIP/2.0 2"):
                    # the old INVITE after a hang-up (BYE): its dialog is gone, a 200 again would revive it
                    self._reply(
                        req, source, 481, "Call/Transaction Does Not Exist", to_tag=call.dialog.to_tag
                    )
                    return
                # a retransmission: say again what we last said, start nothing new
                if call.last_response:
                    self.transport.send(call.last_response, req.top_via.response_address(source))
                return
            if call.reinvite_branch and req.top_via.branch == call.reinvite_branch:  # that re-INVITE again
                self.transport.send(call.reinvite_response, req.top_via.response_address(source))
                return
            if call.state is CallState.ANSWERED and req.to_tag == call.dialog.to_tag:
                self._mid_call_offer(call, req, source)  # a re-INVITE
            else:
                self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        if req.to_tag is not None:
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        if not self.accepting:
            self._reply(req, source, 503, "Service Unavailable", headers=[("Retry-After", "60")])
            return
        if self.live_calls() >= self.settings.max_calls:
            self.stats.refused_busy += 1
            self._reply(req, source, 486, "Busy Here")
            return
        try:
            offer = sdp.parse_offer(req.body)
            sdp.choose(offer)
            keys = srtp.answer_keys(offer, self.settings.srtp)
        except ValueError as exc:
            log.info("INVITE without a usable offer: %s", exc)
            self._reply(req, source, 488, "Not Acceptable Here")
            return
        timer = negotiate(req, self.settings.session_min_se)
        if isinstance(timer, int):  # RFC 4028 §8.1: the interval asked for is under our minimum
            self._reply(req, source, 422, "Session Interval Too Small", headers=[("Min-SE", str(timer))])
            return
        now = self._now()
        call = InboundCall(
            call_id=req.call_id,
            dialog=AnsweringDialog(req, source),
            branch=req.top_via.branch or "",
            offer=offer,
            arrived=now,
            arrived_wall=self.parts.wall_clock(),
            answer_at=now + self.parts.flow.answer.at_s,
            timer=timer,
            srtp=keys,
        )
        self._calls[call.call_id] = call
        self.stats.calls += 1
        self._saw(call)
        self._reply(req, source, 100, "Trying")
        ringing = [("Contact", self._contact(req))]
        if "100rel" in {tag.lower() for tag in req.all("Require")}:  # RFC 3262: the 180 goes reliably
            call.rseq = secrets.randbelow(1 << 31) + 1
            ringing += [("Require", "100rel"), ("RSeq", str(call.rseq))]
        call.last_response = self._answer_invite(call, 180, "Ringing", ringing)
        if call.rseq:
            call.reliable_180 = Retransmission.first(call.last_response, call.dialog.reply_to, now)
        log.info("call %s ringing; answering in %.2f s", call.call_id[:8], self.parts.flow.answer.at_s)

    @staticmethod
    def _merged(req: SipMessage, call: InboundCall) -> bool:
        """No To tag, the From tag, Call-ID and CSeq of the call's INVITE, but another branch: a copy
        of that INVITE that came by another path (forked upstream), not a retransmission."""
        invite = call.invite
        return (
            req.to_tag is None
            and (req.top_via.branch or "") != call.branch
            and req.from_tag == invite.from_tag
            and req.cseq == invite.cseq
        )

    def _on_ack(self, req: SipMessage) -> None:
        call = self._calls.get(req.call_id)
        if call is None:
            return
        call.ok = None
        if call.offer_pending is not None and req.cseq[0] == call.offer_pending:
            call.offer_pending = None  # the answer to the offer in our 200 (a re-INVITE came without SDP)
            try:
                answer = sdp.parse_offer(req.body)
                sdp.choose(answer)
                keys = srtp.answered_keys(() if call.srtp is None else (call.srtp.ours,), answer)
            except ValueError as exc:  # no usable answer: the media stays as it was
                log.info("call %s: the ACK carries no usable answer: %s", call.call_id[:8], exc)
                return
            self._take_sdp(call, answer, keys)

    # --- mid-call: re-INVITE and UPDATE (RFC 3261 §14, RFC 3311, RFC 3264 §8) ------------------

    def _on_update(self, req: SipMessage, source: Address) -> None:
        call = self._calls.get(req.call_id)
        if call is None or req.to_tag != call.dialog.to_tag or call.state is CallState.ENDED:
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
        elif call.state is CallState.RINGING and req.body:  # RFC 3311 §5.2: the INVITE's offer is unanswered
            self._reply(req, source, 500, "Server Internal Error", headers=[("Retry-After", "1")])
        elif call.state is CallState.RINGING:
            self._reply(req, source, 200, "OK", headers=[("Contact", self._contact(req))])
        else:
            self._mid_call_offer(call, req, source)

    def _on_prack(self, req: SipMessage, source: Address) -> None:
        """RFC 3262 §3: the PRACK of our reliable 180 (its RAck names the RSeq and the INVITE's CSeq)."""
        call = self._calls.get(req.call_id)
        rack = (req.header("RAck") or "").split()
        invite_cseq = call.invite.cseq if call is not None else None
        if (
            call is None
            or req.to_tag != call.dialog.to_tag
            or not call.rseq
            or rack != [str(call.rseq), str(invite_cseq[0] if invite_cseq else ""), "INVITE"]
        ):
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        call.reliable_180 = None
        self._reply(req, source, 200, "OK", to_tag=call.dialog.to_tag)

    def _mid_call_offer(self, call: InboundCall, req: SipMessage, source: Address) -> None:
        """A re-INVITE or UPDATE in an answered call: its offer answered and obeyed (new address, codec,
        hold, resume); no offer: a re-INVITE gets ours in the 200 (its ACK answers), an UPDATE just 200
        (a session refresh). Our own offer still unanswered: 491 (the offers crossed); an offer we
        cannot take: 488, and the call goes on as it was."""
        invite = req.method == "INVITE"
        if invite:
            call.reinvite_branch = req.top_via.branch or ""
        status, reason, body = 200, "OK", b""
        if req.body and call.offer_pending is not None:
            status, reason = 491, "Request Pending"
        elif req.body:
            try:
                offer = sdp.parse_offer(req.body)
                sdp.choose(offer)
                if offer.port == 0:
                    raise sdp.SdpError("the audio stream is disabled (port 0)")
                keys = srtp.answer_keys(
                    offer, self.settings.srtp, None if call.srtp is None else call.srtp.ours
                )
            except ValueError as exc:
                log.info("call %s: a mid-call offer we cannot take: %s", call.call_id[:8], exc)
                status, reason = 488, "Not Acceptable Here"
            else:
                self._take_sdp(call, offer, keys)
                body = self._sdp_answer(call)
        elif invite:
            body = self._sdp_offer(call)
            call.offer_pending = req.cseq[0]
        headers = [("Allow", ALLOW), ("Supported", SUPPORTED)]
        if status == 200:
            headers.append(("Contact", self._contact(req)))
            if call.timer is not None:  # a 2xx to a re-INVITE or UPDATE: the session is refreshed
                call.timer.refreshed(req, self._now())
                headers += call.timer.headers()
            if invite and (contact := req.header("Contact")):
                call.dialog.remote_target = parse_name_addr(contact)[1]  # a target refresh (§12.2.2)
        data = self._reply(
            req,
            source,
            status,
            reason,
            to_tag=call.dialog.to_tag,
            headers=headers,
            body=body,
            content_type="application/sdp" if body else None,
        )
        if invite:
            call.reinvite_response = data
            if status == 200:  # retransmitted until its ACK, as the first 200 was
                call.ok = Retransmission.first(data, req.top_via.response_address(source), self._now())

    def _ok_headers(self, call: InboundCall, now: float) -> list[tuple[str, str]]:
        """Our 200 to the INVITE says what we allow and support, and starts the session timer."""
        headers = [("Allow", ALLOW), ("Supported", SUPPORTED)]
        if call.timer is not None:
            call.timer.refreshed_at = now
            headers += call.timer.headers()
        return headers

    def _session_ran_out(self, call: InboundCall, timer: SessionTimer, now: float) -> bool:
        """RFC 4028 §10: a session not refreshed in time ends with BYE (whether it did); when we are
        the refresher, an UPDATE without SDP at half the interval (retransmitted over UDP)."""
        if now >= timer.expires_at():
            log.info("call %s: its session was not refreshed in time; BYE", call.call_id[:8])
            if call.engine is not None and not call.engine.ended:
                call.engine.hang_up("session expired")
            self._hang_up(call, now)
            return True
        refresh_at = timer.refresh_at()
        if call.refresh is not None and call.refresh.due(now):
            if call.refresh.expired(now):
                call.refresh = None
            else:
                self.transport.send(call.refresh.data, call.refresh.to)
                call.refresh.sent_again()
        elif call.refresh is None and refresh_at is not None and now >= refresh_at:
            update, hop = call.dialog.request(
                "UPDATE", (self.host, self.port), [("Contact", self._contact(call.invite))]
            )
            self.transport.send(update, hop)
            call.refresh = Retransmission.first(update, hop, now)
        return False

    def _take_sdp(self, call: InboundCall, description: sdp.Offer, keys: srtp.Keys | None) -> None:
        """The far end's new offer (or its answer to ours): where RTP goes, the codec, hold or resume,
        the SRTP keys."""
        assert call.media is not None
        was_held = call.media.held
        codec, _ = sdp.choose(description)
        call.offer = description
        call.srtp = keys
        call.media.renegotiate(
            (description.address, description.port),
            codec,
            description.dtmf_payload_type,
            sdp.answer_direction(description),
            keys,
        )
        if call.media.held != was_held:
            state = "held" if call.media.held else "resumed"
            if call.engine is not None:
                call.engine.hold_event(state)
            log.info("call %s: %s by the caller", call.call_id[:8], state)

    def _on_cancel(self, req: SipMessage, source: Address) -> None:
        call = self._calls.get(req.call_id)
        if call is None or call.branch != (req.top_via.branch or ""):
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        self._reply(req, source, 200, "OK")
        if call.state is CallState.RINGING:
            call.last_response = self._answer_invite(call, 487, "Request Terminated")
            self._end(call, self._now(), outcome_note="cancelled")

    def _on_bye(self, req: SipMessage, source: Address) -> None:
        call = self._calls.get(req.call_id)
        if call is None or req.to_tag != call.dialog.to_tag:
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        self._reply(req, source, 200, "OK")
        if call.state is CallState.ANSWERED:
            call.caller_hung_up = True  # the engine hears it on the next tick
            call.ok = None

    def _on_response(self, resp: SipMessage) -> None:
        if self.registration is not None and self.registration.owns(resp):
            self.registration.on_response(resp, self._now())
            self._flush_registration()
            self.ended.notify_all()
            return
        call = self._calls.get(resp.call_id)
        if call is not None and call.bye is not None and resp.cseq[1] == "BYE" and resp.status >= 200:
            call.bye = None
        if call is not None and call.refresh is not None and resp.cseq[1] == "UPDATE" and resp.status >= 200:
            call.refresh = None  # our session refresh is answered: refreshed if 2xx, else it runs out
            if call.timer is not None and resp.status < 300:
                call.timer.refreshed_at = self._now()

    # --- the clock ---------------------------------------------------------------------

    def _busy(self) -> bool:
        with self._lock:
            if self.floor is not None and self.floor.busy():
                return True
            return any(c.state is not CallState.ENDED or c.bye is not None for c in self._calls.values())

    def _next_deadline(self) -> float | None:
        with self._lock:
            # an ended call is forgotten once KEEP_ENDED_S have passed since it *ended* (see _tick_call);
            # waking before that would find nothing to do and, the deadline being past, spin
            deadlines = [
                (c.ended_at if c.ended_at is not None else c.arrived) + KEEP_ENDED_S + PERIOD_S
                for c in self._calls.values()
            ]
            if self.registration is not None:
                deadlines.append(self.registration.next_deadline())  # inf: nothing pending
            if self.floor is not None and (floor_due := self.floor.next_deadline()) is not None:
                deadlines.append(floor_due)
            return min(deadlines) if deadlines else None

    def _on_tick(self, now: float) -> None:
        with self._lock:
            # first, last tick's frames for every call, in one tight loop: on the 20 ms grid
            for live in list(self._calls.values()):
                if live.media is not None and live.state is CallState.ANSWERED and not live.caller_hung_up:
                    try:
                        live.media.flush()
                    except Exception as exc:  # one call's fault: that call ends, the line goes on
                        self._fail(live, now, exc)
            if self.floor is not None:
                self.floor.flush_media()
            self.frame = max(self.frame + 1, round((now - self._t0) / PERIOD_S))
            if self.floor is not None:
                self.floor.tick(now, self.frame)
            if self.registration is not None:
                for data, to in self.registration.tick(now):
                    self.transport.send(data, to)
            for call in list(self._calls.values()):
                try:
                    self._tick_call(call, now)
                except Exception as exc:  # one call's fault: that call ends, the line goes on
                    self._fail(call, now, exc)

    def _tick_call(self, call: InboundCall, now: float) -> None:
        if call.state is not CallState.RINGING:
            call.reliable_180 = None  # a final response went: the 180 needs no PRACK any more
        for pending in (call.ok, call.bye, call.reliable_180):
            if pending is not None and pending.due(now):
                if pending.expired(now):
                    if pending is call.ok:  # no ACK in 32 s: the caller never got our answer
                        call.ok = None
                        self._hang_up(call, now)
                    elif pending is call.bye:
                        call.bye = None
                    else:
                        call.reliable_180 = None
                    continue
                self.transport.send(pending.data, pending.to)
                pending.sent_again()
        if call.state is CallState.ENDED:
            if now - (call.ended_at or now) > KEEP_ENDED_S and call.bye is None:
                del self._calls[call.call_id]
            return
        call.ticks_since_arrival += 1
        if (
            call.timer is not None
            and call.state is CallState.ANSWERED
            and self._session_ran_out(call, call.timer, now)
        ):
            return
        if call.state is CallState.RINGING:
            # the tick nearest the answer moment: the 20 ms grid puts the answer within ±10 ms of it
            if now >= call.answer_at - PERIOD_S / 2:
                self._answer(call, now)
            return
        self._step_media(call, now)

    def _answer(self, call: InboundCall, now: float) -> None:
        try:
            sock = self._rtp.open()
        except OSError as exc:
            log.error("cannot answer: %s", exc)
            call.last_response = self._answer_invite(call, 503, "Service Unavailable")
            self._end(call, now, outcome_note="no RTP port")
            return
        codec, _ = sdp.choose(call.offer)
        call.media = CallMedia(
            sock,
            (call.offer.address, call.offer.port),
            codec,
            call.offer.dtmf_payload_type,
            paced=True,
            rtcp=True,
            srtp=call.srtp,
        )
        ok = call.dialog.ok(
            self._contact(call.invite),
            self._sdp_answer(call),
            [("Server", SERVER), *self._ok_headers(call, now)],
        )
        to = call.dialog.reply_to
        self.transport.send(ok, to)
        call.last_response = ok
        call.ok = Retransmission.first(ok, to, now)
        call.state = CallState.ANSWERED
        call.answered_tick = call.ticks_since_arrival
        flow = self.parts.flow
        dropped_path = self.parts.dropped_path(call.caller_number)
        dropped_in = [n for n in dropped_path if n in flow.steps and flow.steps[n].listen]
        context = CallContext(
            call.caller_number,
            (self.parts.hours_clock or self.parts.wall_clock)(),
            self.parts.seconds_since_last_call(call.caller_number),
            resume_step=dropped_in[-1] if dropped_in else None,
            call_id=call.call_id,
            record_id=call.record_id,
            last_call_dropped=bool(dropped_path),  # line 141: only a cut-off call is apologised for
        )
        if self.parts.speech is not None:
            call.speech = SpeechGate(self.parts.speech(call.caller_number))
        if self.parts.tickets is not None:
            call.tickets = CallTickets(self.parts.tickets)
        call.engine = CallEngine(
            self.parts.flow,
            self.parts.prompts,
            self.parts.hearing(),
            context,
            transfers=self.parts.transfers or self.floor is not None,
            seats=None if self.floor is None else self.floor.desk,
            tickets=call.tickets,
        )
        log.info("call %s answered (%s%s)", call.call_id[:8], codec, "" if call.srtp is None else ", SRTP")
        self._saw(call)

    def _step_media(self, call: InboundCall, now: float) -> None:
        assert call.media is not None and call.engine is not None
        if call.engine.ended_by == "transfer" and self.floor is not None:
            self._step_handed_off(call, now)
            return
        inputs: list[CallInput] = [Dtmf(d) for d in call.media.receive()]
        if self._media_lost(call.media):
            self._caller_phone_gone(call, now)
            return
        if call.media.held and not call.caller_hung_up:  # the flow waits with the caller (see held_tick)
            call.media.inbound_frame()  # what a holding phone sends (music on hold) is not heard
            call.engine.held_tick()
            return
        if call.speech is not None:
            inputs += call.speech.poll()
        if call.tickets is not None:
            inputs += call.tickets.answers()
        if call.caller_hung_up:
            inputs.append(CallerHangup())
        inbound = call.media.inbound_frame()
        frame = call.engine.tick(inbound, inputs)
        self._saw(call)
        if call.speech is not None:
            call.speech.speech.on_step(
                call.engine.step
            )  # a listening step may switch the recogniser's grammar
            call.speech.hear(inbound, call.engine.line)
        if not call.engine.ended:
            call.media.send(frame)
            return
        if call.engine.ended_by == "caller":
            self._end(call, now)
        elif call.engine.ended_by == "transfer" and self.floor is not None:
            call.media.send(SILENT_FRAME)  # put through: the bridge carries the call from the next tick
        else:
            self._hang_up(call, now)

    def _step_handed_off(self, call: InboundCall, now: float) -> None:
        """A caller put through to a seat: frames cross the bridge. When the seat hangs up, or the
        line is closing, the caller hears the goodbye, then BYE. The call's record goes on throughout."""
        assert call.media is not None and call.engine is not None and self.floor is not None
        engine = call.engine
        engine.put_through_tick()
        keys = call.media.receive()  # passed on to the seat
        if call.caller_hung_up or self._media_lost(call.media):
            if call.farewell:  # words still to say
                engine.put_through_event(EventKind.PROMPT_INTERRUPTED, prompt=self.parts.goodbye, by="hangup")
            if call.caller_hung_up:
                self._end(call, now)  # the floor hangs up the seat's leg
            else:
                self._caller_phone_gone(call, now)
            return
        seat = self.floor.bridged_to(call.call_id)
        seat_lost = seat is not None and self._media_lost(self.floor.seat_media(call.call_id))
        if seat is not None and call.seat is None:
            call.seat = seat
            engine.put_through_event(EventKind.SEAT, seat=seat, state="talking")
            self._saw(call)
        closing = call.closing_at is not None and now >= call.closing_at
        if call.farewell is None and (seat is None or closing or seat_lost):
            if seat is not None:
                self.floor.release(call.call_id)  # closing, or the seat's phone is gone: its leg ends first
            why = "seat" if seat is None else "no media from the seat" if seat_lost else "line closing"
            engine.put_through_event(EventKind.SEAT, seat=call.seat, state="left", by=why)
            call.farewell = self._goodbye_frames(call)
            call.farewell_wait = frames_in(self.parts.flow.line.goodbye_wait)
            if call.farewell:
                engine.put_through_event(EventKind.PROMPT_STARTED, prompt=self.parts.goodbye)
            log.info("call %s: the seat left (%s); goodbye", call.call_id[:8], why)
        if call.farewell is not None:  # nobody is dropped without a goodbye
            call.media.inbound_frame()
            if call.farewell:
                call.media.send(call.farewell.popleft())
                if not call.farewell:
                    engine.put_through_event(EventKind.PROMPT_FINISHED, prompt=self.parts.goodbye)
            elif call.farewell_wait > 0:  # then the caller may hang up first (line 35)
                call.farewell_wait -= 1
                call.media.send(SILENT_FRAME)
            else:
                self._hang_up(call, now)
            return
        self.floor.bridge(call.call_id, call.media, keys)

    def _caller_phone_gone(self, call: InboundCall, now: float) -> None:
        """No RTP from the caller for the media timeout: the line ends the call, in the flow or put through."""
        log.info("call %s: no RTP from the caller; their phone is gone", call.call_id[:8])
        call.media_lost = True
        if call.engine is not None:
            call.engine.hang_up("no media")  # a put-through call's engine has ended: its record ends in _end
        self._hang_up(call, now)  # BYE all the same: the phone may come back to read it

    def _media_lost(self, media: CallMedia | None) -> bool:
        """No RTP from that far end for ``[sip] media_timeout``: its phone is gone without a BYE."""
        return self._media_limit is not None and media is not None and media.quiet_ticks >= self._media_limit

    def _goodbye_frames(self, call: InboundCall | None) -> deque[bytes]:
        try:
            return deque(self.parts.prompts.frames(Say(prompt=self.parts.goodbye, barge_in=False)))
        except (KeyError, ValueError, OSError) as exc:
            who = f"call {call.call_id[:8]}" if call is not None else "the line"
            log.error("%s: no goodbye to play (%s); hanging up without it", who, exc)
            return deque()

    # --- ending ------------------------------------------------------------------------

    def _hang_up(self, call: InboundCall, now: float) -> None:
        """The bot ends the call: BYE (retransmitted until answered), then the record."""
        if call.state is CallState.ANSWERED:
            bye, hop = call.dialog.bye((self.host, self.port))
            self.transport.send(bye, hop)
            call.bye = Retransmission.first(bye, hop, now)
            if call.engine is not None and not call.engine.ended:
                call.engine.hang_up("bot")  # the line ends the call (drain, no ACK): the record says so
        elif call.state is CallState.RINGING:
            call.last_response = self._answer_invite(call, 480, "Temporarily Unavailable")
        self._end(call, now)

    def _end(self, call: InboundCall, now: float, outcome_note: str | None = None) -> None:
        if call.state is CallState.ENDED:
            return
        call.state = CallState.ENDED
        call.ended_at = now
        if self.progress is not None:
            self.progress.ended(call)
        if call.media is not None:
            jitter = call.media.jitter.stats
            self.stats.rtp_lost += jitter.lost
            self.stats.rtp_late += jitter.late
            call.media.close()
        if call.speech is not None:
            call.speech.close()
        if self.floor is not None:
            self.floor.release(call.call_id)
        self._record(call)
        log.info("call %s ended%s", call.call_id[:8], f" ({outcome_note})" if outcome_note else "")
        self.ended.notify_all()

    def _record(self, call: InboundCall) -> None:
        """The call's record, once: the engine's events; a call a fault ended before its engine
        ran is recorded too, with outcome failed and the fault."""
        if call.recorded or (call.engine is None and call.failure is None):
            return
        call.recorded = True
        engine = call.engine
        if engine is not None and engine.ended_by == "transfer":  # the put-through part ends here, and who
            by = "caller" if call.caller_hung_up else "no media" if call.media_lost else "bot"
            outcome = engine.outcome.value if engine.outcome else None
            engine.put_through_event(EventKind.HANGUP, by=by, outcome=outcome)
        fault = [CallEvent(0, EventKind.ERROR, {"what": "fault", "reason": call.failure})]
        events = list(engine.events) if engine is not None else fault
        if engine is not None and call.media is not None:  # what RTCP said of the audio, before the hang-up
            at = len(events) - 1 if events and events[-1].kind is EventKind.HANGUP else len(events)
            events.insert(at, CallEvent(engine.frame, EventKind.MEDIA, dict(call.media.quality())))
        self.parts.record(
            CallRecord(
                call_id=call.record_id,
                flow=engine.flow.flow
                if engine is not None
                else self.parts.flow.flow,  # a reload may have come since
                caller=call.caller_number,
                started_at=call.arrived_wall,
                answered_frame=frames_in(call.answer_at - call.arrived) if engine is not None else None,
                ended_frame=engine.frame if engine is not None else 0,
                outcome=engine.outcome if engine is not None else Outcome.FAILED,
                path=list(engine.path) if engine is not None else [],
                events=events,
            )
        )

    def _fail(self, call: InboundCall, now: float, exc: Exception) -> None:
        """A fault in one call's tick or SIP handling: that call ends, alone, and says why.

        Logged with its traceback (ids only); the engine records outcome failed with the fault's
        line; the caller gets BYE (a 500 before the answer), or, if even that cannot be built,
        the call just ends. A call already ended that faults again is forgotten.
        """
        self.stats.failed += 1
        reason = fault_reason(exc)
        log.error(
            "call %s failed (%s); it ends, the line goes on",
            call.call_id[:8],
            type(exc).__name__,
            exc_info=exc,
        )
        if call.state is CallState.ENDED:
            self._calls.pop(call.call_id, None)
            return
        call.failure = reason
        if call.engine is not None:
            try:
                call.engine.fail(reason)
            except Exception:
                log.exception("call %s: its engine could not be stopped cleanly", call.call_id[:8])
        try:
            if call.state is CallState.ANSWERED:
                bye, hop = call.dialog.bye((self.host, self.port))
                self.transport.send(bye, hop)
                call.bye = Retransmission.first(bye, hop, now)
            else:
                call.last_response = self._answer_invite(call, 500, "Server Internal Error")
        except Exception:
            log.exception("call %s: no BYE could be sent; it just ends", call.call_id[:8])
        try:
            self._end(call, now, outcome_note="failed")
        except Exception:
            log.exception("call %s: ending it failed too; it is dropped", call.call_id[:8])
            call.state = CallState.ENDED
            call.ended_at = call.ended_at or now
            try:
                self._record(call)
            except Exception:
                log.exception("call %s: no record could be made of it", call.call_id[:8])
            self.ended.notify_all()

    def take_flow(self, flow: Flow, prompts: PromptSource) -> None:
        """A reloaded flow and its prompts, for calls that arrive from now on (live calls keep theirs)."""
        with self._lock:
            self.parts = replace(self.parts, flow=flow, prompts=prompts)

    def _saw(self, call: InboundCall) -> None:
        if self.progress is not None:
            self.progress.saw(call)

    def _flow(self) -> Flow:
        return self.parts.flow

    def _sdp_answer(self, call: InboundCall) -> bytes:
        assert call.media is not None
        port = call.media.local_port
        ours = None if call.srtp is None else call.srtp.ours
        return self._versioned(
            call,
            lambda sid, v: sdp.answer(call.offer, self.host, port, session_id=sid, version=v, crypto=ours),
        )

    def _sdp_offer(self, call: InboundCall) -> bytes:
        """Our offer in the 200 to a re-INVITE without SDP: the stream as it is (SRTP with our key), sendrecv."""
        assert call.media is not None
        media = call.media
        keys = () if call.srtp is None else (call.srtp.ours,)
        dtmf = media.dtmf_pt if media.dtmf_pt is not None and 96 <= media.dtmf_pt <= 127 else None
        return self._versioned(
            call,
            lambda sid, v: sdp.offer(
                self.host, media.local_port, sid, codecs=(media.codec,), dtmf_pt=dtmf, version=v, crypto=keys
            ),
        )

    @staticmethod
    def _versioned(call: InboundCall, describe: Callable[[int, int], bytes]) -> bytes:
        """Our next session description: the same session id all call long, its version one up on the
        last one's when it says anything new, the same when it does not (RFC 3264 §8)."""
        session_id = abs(hash(call.call_id)) % 10**9
        version = session_id if call.sdp_version is None else call.sdp_version
        body = describe(session_id, version)
        if call.sdp_sent and body != call.sdp_sent:
            version += 1
            body = describe(session_id, version)
        call.sdp_version, call.sdp_sent = version, body
        return body

    def _contact(self, invite: SipMessage) -> str:
        """Our Contact for a call: over the transport its INVITE came (in-dialog requests come back on it)."""
        user = self.settings.username or "ivr"
        transport = invite.top_via.transport
        if transport not in ("TCP", "TLS"):
            return f"<sip:{user}@{format_hostport(self.host, self.port)}>"
        host, port = self.transport.local(transport)
        return f"<sip:{user}@{format_hostport(host, port)};transport={transport.lower()}>"


def fault_reason(exc: BaseException) -> str:
    """A fault's one line, for a record or a log: ``SipParseError: name-addr: '<' without a closing '>'``."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
