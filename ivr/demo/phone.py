"""A caller's phone on a real SIP line: places calls, talks RTP, and notes what it heard when.

Used by ``ivr demo`` and by the SIP tests as the far end of a call. It has the
same two owned threads as the line (SIP reader, media clock) and records both
directions of each call for the demo's WAV files.

Its RTP has RTCP beside it (the RTP port + 1: reports of what it hears, read
reports of what it sends), and ``drop_every`` makes it a phone on a lossy
network: every Nth audio packet is never sent (its sequence number is used up),
and ``delay_every`` a jittery one: every Nth goes out a tick late, after the
next (RFC 3550 A.8 then measures 20 ms of jitter for N = 2); for tests of what
RTCP and the call register say of loss and jitter.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ivr.demo.phone_script import Action, Tick, run_script
from ivr.hearing.sounds import level_dbfs
from ivr.media import FRAME_SAMPLES, SILENT_FRAME
from ivr.telephony import sdp
from ivr.telephony.call_media import CallMedia
from ivr.telephony.media_clock import MediaClock
from ivr.telephony.rtp_ports import RtpPorts
from ivr.telephony.sdp import Crypto
from ivr.telephony.sip_message import (
    SipMessage,
    SipParseError,
    format_hostport,
    new_branch,
    new_call_id,
    new_tag,
    parse,
    parse_name_addr,
    request,
    uri_hostport,
)
from ivr.telephony.srtp import answered_keys, offered_keys
from ivr.telephony.transactions import ClientTransaction
from ivr.telephony.transport import SipTransport, Source

log = logging.getLogger(__name__)
Address = tuple[str, int]
SPEAKING_DBFS = -45.0  # audio louder than this counts as speech (the bot's, or a seat's)


class PhoneCallState(Enum):
    CALLING = "calling"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass
class PhoneCall:
    name: str
    call_id: str
    target: Address
    uri: str
    from_tag: str
    script: Sequence[Action]
    on_note: Callable[[PhoneCall, float, str], None]
    invite: SipMessage | None = None
    invite_branch: str = ""
    state: PhoneCallState = PhoneCallState.CALLING
    to_tag: str | None = None
    cseq: int = 1
    media: CallMedia | None = None
    sent_at: float = 0.0
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    ended_by: str | None = None
    final_status: int | None = None
    invite_tx: ClientTransaction | None = None
    bye_tx: ClientTransaction | None = None
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    ticks: object = None  # the script's generator once answered
    bot_speaking: bool = False
    bot_speech: list[list[float]] = field(default_factory=list)  # [start, end] seconds after the answer
    sent_audio: list[bytes] = field(default_factory=list)
    heard_audio: list[bytes] = field(default_factory=list)
    responses: list[int] = field(default_factory=list)
    offered_keys: tuple[Crypto, ...] = ()  # our SRTP keys in the INVITE's offer (none: plain RTP)
    done: threading.Event = field(default_factory=threading.Event)

    def since_answer(self, now: float) -> float:
        return now - (self.answered_at or now)


class SipPhone:
    def __init__(
        self,
        host: str = "127.0.0.1",
        user: str = "13800000000",
        rtp_ports: range = range(40000, 41000),
        now: Callable[[], float] = time.monotonic,
        *,
        transport: str = "udp",
        tls_client: ssl.SSLContext | None = None,
        drop_every: int = 0,
        delay_every: int = 0,
        srtp: bool = False,
    ) -> None:
        """A caller on ``host`` (IPv4 or IPv6); ``transport`` ("udp", "tcp" or "tls") is how it places
        calls: over a connection it opens to the target (TLS: checked with ``tls_client``); with
        ``srtp`` its offers are RTP/SAVP with SDES keys (RFC 4568) and its audio SRTP."""
        self.srtp = srtp
        self.host = host
        self.drop_every = drop_every  # 0: none; N: every Nth audio packet is lost on the way
        self.delay_every = delay_every  # 0: none; N: every Nth audio packet arrives 20 ms late
        self.via_transport = transport.upper()
        self.user = user
        self._rtp = RtpPorts(rtp_ports, host)
        self._now = now
        self._lock = threading.RLock()
        self._calls: dict[str, PhoneCall] = {}
        self.transport = SipTransport((host, 0), self._on_datagram, tls_client=tls_client)
        self.port = self.transport.address[1]
        self.clock = MediaClock(self._on_tick, self._busy, now=now)
        self.received: list[SipMessage] = []  # every SIP message that reached the phone, for tests

    def start(self) -> None:
        self.transport.start()
        self.clock.start()

    def close(self) -> None:
        self.clock.stop()
        self.transport.stop()
        with self._lock:
            for call in self._calls.values():
                if call.media is not None:
                    call.media.close()

    # --- placing calls -----------------------------------------------------------------

    def call(
        self,
        target: Address,
        script: Sequence[Action],
        *,
        name: str = "caller",
        uri: str | None = None,
        on_note: Callable[[PhoneCall, float, str], None] = lambda c, t, s: None,
        media_at: Address | None = None,
    ) -> PhoneCall:
        """Dial ``target``; ``media_at``: where the offer says the phone's RTP is (a relay in front of
        its socket, which tests read the wire at), by default its own socket."""
        uri = uri or f"sip:desk@{format_hostport(*target)}{self._uri_param}"
        with self._lock:
            call = PhoneCall(name, new_call_id(self.host), target, uri, new_tag(), script, on_note)
            sock = self._rtp.open()
            call.media = CallMedia(sock, ("0.0.0.0", 0), "PCMU", 101)
            call.offered_keys = offered_keys() if self.srtp else ()
            host, port = media_at or (self.host, call.media.local_port)
            body = sdp.offer(host, port, session_id=int(self._now() * 1000) % 10**9, crypto=call.offered_keys)
            call.invite_branch = new_branch()
            call.invite = request(
                "INVITE",
                uri,
                via=self._via(call.invite_branch),
                from_=f"<sip:{self.user}@{format_hostport(self.host)}>;tag={call.from_tag}",
                to=f"<{uri}>",
                call_id=call.call_id,
                cseq=call.cseq,
                contact=f"<sip:{self.user}@{format_hostport(self.host, self.port)}{self._uri_param}>",
                body=body,
                content_type="application/sdp",
            )
            data = call.invite.serialize()
            call.sent_at = self._now()
            call.invite_tx = ClientTransaction.start(data, target, call.sent_at, invite=True)
            self._calls[call.call_id] = call
            self.transport.send(data, target)
            call.on_note(call, 0.0, "dials the desk")
        self.clock.wake()
        return call

    def resend_invite(self, call: PhoneCall) -> None:
        """The same INVITE again, as a lossy network would deliver it (a retransmission)."""
        assert call.invite is not None
        self.transport.send(call.invite.serialize(), call.target)

    def cancel(self, call: PhoneCall) -> None:
        with self._lock:
            assert call.invite is not None
            msg = request(
                "CANCEL",
                call.uri,
                via=self._via(call.invite_branch),
                from_=call.invite.header("From") or "",
                to=f"<{call.uri}>",
                call_id=call.call_id,
                cseq=call.cseq,
            )
            self.transport.send(msg.serialize(), call.target)

    def hang_up(self, call: PhoneCall) -> None:
        with self._lock:
            self._send_bye(call, self._now())

    def press(self, call: PhoneCall, digits: str) -> None:
        """Press keys now, outside the script (RFC 4733, one packet a tick, as the script's keys go)."""
        with self._lock:
            if call.media is None:
                raise RuntimeError("the call is not answered: no media to press keys on")
            call.media.press(digits)

    @property
    def _uri_param(self) -> str:
        return "" if self.via_transport == "UDP" else f";transport={self.via_transport.lower()}"

    def _via(self, branch: str) -> str:
        """The transport writes the sent-by for TCP and TLS; the Via's transport says which to use."""
        return f"SIP/2.0/{self.via_transport} {format_hostport(self.host, self.port)};branch={branch};rport"

    # --- SIP in ------------------------------------------------------------------------

    def _on_datagram(self, data: bytes, came: Source) -> None:
        source = came.address
        try:
            msg = parse(data)
        except SipParseError as exc:
            log.info("the phone got malformed SIP: %s", exc)
            return
        with self._lock:
            self.received.append(msg)
            call = self._calls.get(msg.call_id)
            if call is None:
                return
            now = self._now()
            if msg.is_request:
                self._on_request(call, msg, source, now)
            else:
                self._on_response(call, msg, now)
        self.clock.wake()

    def _on_response(self, call: PhoneCall, msg: SipMessage, now: float) -> None:
        method = msg.cseq[1]
        call.responses.append(msg.status)
        if method == "BYE":
            if call.bye_tx is not None:
                call.bye_tx.on_response(msg.status, now)
            return
        if method != "INVITE":
            return
        if call.invite_tx is not None:
            call.invite_tx.on_response(msg.status, now)
        if msg.status in (180, 183) and call.ringing_at is None:
            call.ringing_at = now
            if call.state is PhoneCallState.CALLING:  # a 180 overtaken by the 200 (a proxy's TLS workers)
                call.state = PhoneCallState.RINGING
            call.on_note(
                call,
                now - call.sent_at,
                f"hears ringing ({msg.status}, {1000 * (now - call.sent_at):.0f} ms)",
            )
        elif 200 <= msg.status < 300:
            call.to_tag = msg.to_tag
            contact = msg.header("Contact")
            call.remote_target = parse_name_addr(contact)[1] if contact else call.uri
            call.route_set = list(reversed([v.strip() for v in msg.all("Record-Route")]))
            self._send_ack(call, msg)
            if call.state is not PhoneCallState.ANSWERED and call.state is not PhoneCallState.ENDED:
                answer = sdp.parse_offer(msg.body)
                codec, _ = sdp.choose(answer)
                keys = answered_keys(call.offered_keys, answer)
                assert call.media is not None
                call.media = CallMedia(
                    call.media.sock,
                    (answer.address, answer.port),
                    codec,
                    answer.dtmf_payload_type,
                    rtcp=True,
                    srtp=keys,
                )
                call.state = PhoneCallState.ANSWERED
                call.answered_at = now
                call.ticks = run_script(
                    call.script,
                    lambda: call.bot_speaking,
                    lambda a: call.on_note(call, call.since_answer(self._now()), _describe(a)),
                )
                call.on_note(call, now - call.sent_at, f"answered after {now - call.sent_at:.2f} s")
        elif msg.status >= 300:
            call.final_status = msg.status
            self._send_ack(call, msg)
            self._ended(call, now, f"call refused: {msg.status} {msg.reason}", by="bot")

    def _on_request(self, call: PhoneCall, msg: SipMessage, source: Address, now: float) -> None:
        from ivr.telephony.sip_message import response

        reply = response(msg, 200, "OK", source=source)
        self.transport.send(reply.serialize(), msg.top_via.response_address(source))
        if msg.method == "BYE" and call.state is not PhoneCallState.ENDED:
            self._ended(call, now, "the bot hangs up", by="bot")

    def _send_ack(self, call: PhoneCall, final: SipMessage) -> None:
        assert call.invite is not None
        two_xx = 200 <= final.status < 300
        branch = new_branch() if two_xx else call.invite_branch
        uri = call.remote_target if two_xx else call.uri
        ack = request(
            "ACK",
            uri,
            via=self._via(branch),
            from_=call.invite.header("From") or "",
            to=final.header("To") or "",
            call_id=call.call_id,
            cseq=call.cseq,
            headers=[("Route", r) for r in (call.route_set if two_xx else [])],
        )
        self.transport.send(ack.serialize(), self._next_hop(call) if two_xx else call.target)

    def _send_bye(self, call: PhoneCall, now: float) -> None:
        if call.state is not PhoneCallState.ANSWERED or call.invite is None:
            return
        call.cseq += 1
        bye = request(
            "BYE",
            call.remote_target,
            via=self._via(new_branch()),
            from_=call.invite.header("From") or "",
            to=f"<{call.uri}>;tag={call.to_tag}",
            call_id=call.call_id,
            cseq=call.cseq,
            headers=[("Route", r) for r in call.route_set],
        ).serialize()
        hop = self._next_hop(call)
        self.transport.send(bye, hop)
        call.bye_tx = ClientTransaction.start(bye, hop, now, invite=False)
        self._ended(call, now, "the call is over", by="caller")

    def _next_hop(self, call: PhoneCall) -> Address:
        target = parse_name_addr(call.route_set[0])[1] if call.route_set else call.remote_target
        try:
            return uri_hostport(target)
        except ValueError:
            return call.target

    def _ended(self, call: PhoneCall, now: float, note: str, by: str) -> None:
        if call.bot_speaking and call.bot_speech:
            call.bot_speech[-1][1] = call.since_answer(now)
            call.bot_speaking = False
        call.state = PhoneCallState.ENDED
        call.ended_at = now
        call.ended_by = by
        call.on_note(call, call.since_answer(now), note)
        call.done.set()

    # --- the clock ---------------------------------------------------------------------

    def _busy(self) -> bool:
        with self._lock:
            return any(
                c.state is not PhoneCallState.ENDED or (c.bye_tx is not None and c.bye_tx.waiting)
                for c in self._calls.values()
            )

    def _on_tick(self, now: float) -> None:
        with self._lock:
            for call in list(self._calls.values()):
                for tx in (call.invite_tx, call.bye_tx):
                    if tx is not None and (again := tx.due(now)) is not None:
                        self.transport.send(again, tx.to)
                if call.invite_tx is not None and call.invite_tx.timed_out:  # timer B: nothing came back
                    call.invite_tx = None
                    if call.state is not PhoneCallState.ENDED:
                        self._ended(call, now, "no answer from the desk", by="network")
                if call.state is PhoneCallState.ANSWERED:
                    self._tick_media(call, now)

    def _tick_media(self, call: PhoneCall, now: float) -> None:
        assert call.media is not None
        call.media.receive()
        heard = call.media.inbound_frame()
        call.heard_audio.append(heard)
        speaking = heard_speaking(heard)
        t = call.since_answer(now)
        if speaking and not call.bot_speaking:
            call.bot_speech.append([t, t])
        if speaking:
            call.bot_speech[-1][1] = t + 0.02
        call.bot_speaking = speaking
        tick: Tick = next(call.ticks)  # type: ignore[call-overload]
        if tick.hang_up:
            self._send_bye(call, now)
            return
        if not tick.sends:
            call.sent_audio.append(SILENT_FRAME)
            return
        if tick.key is not None:
            call.media.press(tick.key)
        elif self.drop_every and call.media.sender.sequence % self.drop_every == 0:
            call.media.sender.next_audio(b"")  # lost on the way: its sequence number and time are used up
            call.sent_audio.append(SILENT_FRAME)
            return
        late = bool(self.delay_every) and call.media.sender.sequence % self.delay_every == 0
        call.media.paced = late  # a paced packet waits in the outbox for the next flush
        sent = call.media.send(tick.frame)
        call.media.paced = False
        if not late:
            call.media.flush()  # one held back last tick goes now, after this tick's
        call.sent_audio.append(tick.frame if sent else SILENT_FRAME)


def _describe(action: Action) -> str:
    from ivr.demo.phone_script import describe

    return describe(action)


def heard_speaking(frame: bytes) -> bool:
    """Whether a received 20 ms frame is loud enough to count as someone speaking."""
    x = np.frombuffer(frame, "<i2").astype(np.float64)
    return x.size == FRAME_SAMPLES and level_dbfs(x) > SPEAKING_DBFS
