"""A seat's phone on a real SIP line: registers (or listens on its port), rings, answers, talks RTP.

The far end of a hand-off for the demo and the SIP tests: a UAS that answers
an INVITE after ``answer_after_s`` (never, if None), then runs a script of
phone actions (tones, words, silence, a hang-up) and keeps what it heard.
Like ``SipPhone`` it has two owned threads (SIP reader, media clock), both
stopped by ``close``; loopback only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from enum import Enum

from ivr.demo.phone import heard_speaking
from ivr.demo.phone_script import Action, Tick, run_script
from ivr.telephony import sdp
from ivr.telephony.answering_dialog import AnsweringDialog
from ivr.telephony.arrival import refusal
from ivr.telephony.call_media import CallMedia
from ivr.telephony.media_clock import MediaClock
from ivr.telephony.registration import Registration
from ivr.telephony.rtp_ports import RtpPorts
from ivr.telephony.sip_message import (
    SipMessage,
    SipParseError,
    format_hostport,
    new_tag,
    parse,
    response,
)
from ivr.telephony.transactions import NEVER, ClientTransaction, ServerTransaction
from ivr.telephony.transport import SipTransport, Source

log = logging.getLogger(__name__)
Address = tuple[str, int]


class SeatCallState(Enum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass
class SeatCall:
    call_id: str
    dialog: AnsweringDialog  # the line's INVITE, where it came from, our To tag, target and routes
    offer: sdp.Offer
    arrived: float
    answer_at: float | None
    invite_tx: ServerTransaction  # our responses to the line's INVITE; the 200 resent until its ACK
    state: SeatCallState = SeatCallState.RINGING
    bye: ClientTransaction | None = None
    media: CallMedia | None = None
    ticks: Generator[Tick, None, None] | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    ended_by: str | None = None  # 'line' (BYE or CANCEL from the line) | 'seat'
    hearing_speech: bool = False
    heard_audio: list[bytes] = field(default_factory=list)
    heard_keys: list[str] = field(default_factory=list)  # RFC 4733 keys the seat received
    sent_audio: list[bytes] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class SeatPhone:
    def __init__(
        self,
        user: str,
        *,
        rtp_ports: range,
        answer_after_s: float | None = 1.0,
        script: Sequence[Action] = (),
        registrar: Address | None = None,
        password: str = "secret",
        host: str = "127.0.0.1",
        port: int = 0,
        on_note: Callable[[str, float, str], None] = lambda who, t, text: None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user = user
        self.host = host
        self.answer_after_s = answer_after_s
        self.script = tuple(script)
        self._rtp = RtpPorts(rtp_ports, host)
        self._on_note = on_note
        self._now = now
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self.calls: list[SeatCall] = []
        self._by_id: dict[str, SeatCall] = {}
        self.transport = SipTransport((host, port), self._on_datagram)
        self.port = self.transport.address[1]
        self.registration = (
            None
            if registrar is None
            else Registration(registrar, user, password, (host, self.port), expires=300)
        )
        self.clock = MediaClock(self._on_tick, self._busy, self._next_deadline, now)
        self._began = now()

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@{format_hostport(self.host, self.port)}"

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.transport.start()
        self.clock.start()
        if self.registration is not None:
            with self._lock:
                self.registration.begin(self._now())
                self._flush_registration()
            self.clock.wake()

    def wait_registered(self, timeout: float = 5.0) -> bool:
        with self.changed:
            return self.changed.wait_for(
                lambda: self.registration is None or self.registration.registered, timeout
            )

    def wait_call(self, timeout: float) -> SeatCall | None:
        """The first call that reached this phone (ringing or later), within ``timeout``."""
        with self.changed:
            self.changed.wait_for(lambda: bool(self.calls), timeout)
            return self.calls[0] if self.calls else None

    def close(self, unregister_wait: float = 2.0) -> None:
        if self.registration is not None:
            with self._lock:
                self.registration.end(self._now())
                self._flush_registration()
            self.clock.wake()
            with self.changed:
                self.changed.wait_for(
                    lambda: self.registration is None or self.registration.unregistered, unregister_wait
                )
        self.clock.stop()
        self.transport.stop()
        with self._lock:
            for call in self.calls:
                if call.media is not None:
                    call.media.close()

    def _flush_registration(self) -> None:
        assert self.registration is not None
        for data, to in self.registration.take_outbox():
            self.transport.send(data, to)

    def _note(self, text: str) -> None:
        self._on_note(self.user, self._now() - self._began, text)

    # --- SIP in -------------------------------------------------------------------------

    def _on_datagram(self, data: bytes, came: Source) -> None:
        source = came.address
        if data.strip() == b"":
            return
        try:
            msg = parse(data)
        except SipParseError as exc:
            log.info("the seat phone got malformed SIP: %s", exc)
            return
        with self._lock:
            now = self._now()
            if not msg.is_request:
                if self.registration is not None and self.registration.owns(msg):
                    self.registration.on_response(msg, now)
                    self._flush_registration()
                else:
                    call = self._by_id.get(msg.call_id)
                    if call is not None and msg.cseq[1] == "BYE" and call.bye is not None:
                        call.bye.on_response(msg.status, now)
                self.changed.notify_all()
                return
            self._on_request(msg, source, now)
            self.changed.notify_all()
        self.clock.wake()

    def _reply(
        self,
        req: SipMessage,
        source: Address,
        status: int,
        reason: str,
        *,
        to_tag: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> bytes:
        data = response(req, status, reason, to_tag=to_tag, headers=headers, source=source).serialize()
        self.transport.send(data, req.top_via.response_address(source))
        return data

    def _answer_invite(
        self, call: SeatCall, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()
    ) -> bytes:
        data = call.dialog.answer(status, reason, headers)
        self.transport.send(data, call.dialog.reply_to)
        call.invite_tx.respond(data, status, self._now())
        return data

    def _on_request(self, req: SipMessage, source: Address, now: float) -> None:
        call = self._by_id.get(req.call_id)
        if req.method == "INVITE":
            if call is not None:  # a retransmission (or a re-INVITE): say again what we last said
                if again := call.invite_tx.again() or call.invite_tx.response:
                    self.transport.send(again, req.top_via.response_address(source))
                return
            self._on_invite(req, source, now)
        elif req.method == "ACK":
            if call is not None:
                call.invite_tx.on_ack(now)
        elif req.method == "CANCEL":
            self._reply(req, source, 200, "OK")
            if call is not None and call.state is SeatCallState.RINGING:
                self._answer_invite(call, 487, "Request Terminated")
                self._ended(call, now, "the line stops ringing", by="line")
        elif req.method == "BYE":
            self._reply(req, source, 200, "OK")
            if call is not None and call.state is SeatCallState.ANSWERED:
                self._ended(call, now, "the line hangs up", by="line")
        else:
            self._reply(req, source, 200, "OK")

    def _on_invite(self, req: SipMessage, source: Address, now: float) -> None:
        refused = refusal(req)
        if refused is not None:  # a header no dialog could use, no hops left, an option we lack
            self._reply(
                req, source, refused.status, refused.reason, to_tag=new_tag(), headers=[*refused.headers]
            )
            return
        if any(c.state is not SeatCallState.ENDED for c in self.calls):
            self._reply(req, source, 486, "Busy Here", to_tag=new_tag())
            return
        try:
            offer = sdp.parse_offer(req.body)
            sdp.choose(offer)
        except ValueError:
            self._reply(req, source, 488, "Not Acceptable Here", to_tag=new_tag())
            return
        answer_at = None if self.answer_after_s is None else now + self.answer_after_s
        dialog = AnsweringDialog(req, source)
        call = SeatCall(
            req.call_id, dialog, offer, now, answer_at, ServerTransaction.of(req, dialog.reply_to)
        )
        self.calls.append(call)
        self._by_id[call.call_id] = call
        self._reply(req, source, 100, "Trying")
        self._answer_invite(call, 180, "Ringing", [("Contact", self._contact())])
        self._note("rings")

    def _contact(self) -> str:
        return f"<sip:{self.user}@{format_hostport(self.host, self.port)}>"

    # --- the clock ----------------------------------------------------------------------

    def _busy(self) -> bool:
        with self._lock:
            return any(
                c.state is not SeatCallState.ENDED or any(tx.next_deadline() < NEVER for tx in _txs(c))
                for c in self.calls
            )

    def _next_deadline(self) -> float | None:
        with self._lock:
            if self.registration is None:
                return None
            deadline = self.registration.next_deadline()
            return deadline if deadline != float("inf") else None

    def _on_tick(self, now: float) -> None:
        with self._lock:
            if self.registration is not None:
                for data, to in self.registration.tick(now):
                    self.transport.send(data, to)
            for call in self.calls:
                for tx in _txs(call):
                    if (again := tx.due(now)) is not None:
                        self.transport.send(again, tx.to)
                if (
                    call.state is SeatCallState.RINGING
                    and call.answer_at is not None
                    and now >= call.answer_at
                ):
                    self._answer(call, now)
                elif call.state is SeatCallState.ANSWERED:
                    self._tick_media(call, now)

    def _answer(self, call: SeatCall, now: float) -> None:
        sock = self._rtp.open()
        codec, _ = sdp.choose(call.offer)
        call.media = CallMedia(
            sock, (call.offer.address, call.offer.port), codec, call.offer.dtmf_payload_type
        )
        body = sdp.answer(call.offer, self.host, call.media.local_port, session_id=len(self.calls))
        ok = call.dialog.ok(self._contact(), body)
        to = call.dialog.reply_to
        self.transport.send(ok, to)
        call.invite_tx.respond(ok, 200, now)
        call.state = SeatCallState.ANSWERED
        call.answered_at = now
        call.ticks = run_script(self.script, lambda: call.hearing_speech)
        self._note("answers")
        self.changed.notify_all()

    def _tick_media(self, call: SeatCall, now: float) -> None:
        assert call.media is not None and call.ticks is not None
        call.heard_keys += call.media.receive()
        heard = call.media.inbound_frame()
        call.heard_audio.append(heard)
        call.hearing_speech = heard_speaking(heard)
        tick = next(call.ticks)
        if tick.hang_up:
            self._send_bye(call, now)
            return
        if not tick.sends:
            return
        call.media.send(tick.frame)
        call.sent_audio.append(tick.frame)

    def _send_bye(self, call: SeatCall, now: float) -> None:
        bye, hop = call.dialog.bye((self.host, self.port))
        self.transport.send(bye, hop)
        call.bye = ClientTransaction.start(bye, hop, now, invite=False)
        self._ended(call, now, "hangs up", by="seat")

    def _ended(self, call: SeatCall, now: float, note: str, by: str) -> None:
        call.state = SeatCallState.ENDED
        call.ended_at = now
        call.ended_by = by
        self._note(note)
        call.done.set()
        self.changed.notify_all()


def _txs(call: SeatCall) -> list[ClientTransaction | ServerTransaction]:
    """The call's transactions: our responses to the INVITE, our BYE."""
    return [call.invite_tx, *([call.bye] if call.bye is not None else [])]
