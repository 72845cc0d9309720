"""One outbound call from the line to a seat (RFC 3261 UAC): INVITE, CANCEL, ACK, BYE, and its RTP.

No thread and no socket for SIP of its own: the leg is a state machine that
the line's media clock ticks (``tick``) and the line's SIP reader feeds
(``on_response``, ``on_request``). What it wants sent is queued in an outbox
the owner flushes through the line's transport; what happened to it (ringing,
answered, refused, unreachable, hung up) is queued as ``LegEvent``\\ s the
owner reads on the next tick. It knows nothing of seats or queues.

- INVITE retransmitted on timer A (T1 doubling, no T2 cap) until a provisional
  or final response; no response at all until timer B (32 s): unreachable
  (RFC 3261 §17 client transactions, ``ivr.telephony.transactions``; over TCP
  and TLS nothing is resent);
- a 401/407 is answered once with digest credentials (a new INVITE, CSeq + 1);
- 2xx: ACK to the Contact through the route set (reversed Record-Route), RTP
  starts; a retransmitted 2xx is ACKed again;
- 3xx-6xx: ACK (same branch), refused; a 487 after our CANCEL is expected;
- ``cancel`` before the answer sends CANCEL (and BYEs a 2xx that crosses it);
  ``hang_up`` after it sends BYE, retransmitted until answered.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from enum import Enum

from ivr.telephony import sdp, srtp
from ivr.telephony.arrival import dialog_header_problem
from ivr.telephony.call_media import CallMedia
from ivr.telephony.digest import DigestError, authorization, parse_challenge
from ivr.telephony.sip_message import (
    SipMessage,
    format_hostport,
    new_branch,
    new_call_id,
    new_tag,
    parse_name_addr,
    request,
    response,
    uri_hostport,
    uri_transport,
)
from ivr.telephony.transactions import ClientTransaction

log = logging.getLogger(__name__)
Address = tuple[str, int]


class LegState(Enum):
    CALLING = "calling"  # INVITE sent, nothing heard yet
    PROCEEDING = "proceeding"  # a provisional response came (ringing)
    ANSWERED = "answered"  # 2xx ACKed: media flows
    ENDED = "ended"


class LegEvent(Enum):
    RINGING = "ringing"
    ANSWERED = "answered"
    REFUSED = "refused"  # a final 3xx-6xx (not the 487 of our own CANCEL)
    UNREACHABLE = "unreachable"  # no response to the INVITE at all (timer B)
    HUNG_UP = "hung_up"  # the seat sent BYE after answering


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class LegPlan:
    """Where the INVITE goes: ``uri`` is the Request-URI, ``hop`` the address it is sent to."""

    uri: str
    hop: Address
    from_uri: str  # our address of record
    contact: str  # our Contact URI (the line's SIP socket)
    credentials: Credentials | None = None
    srtp: srtp.SrtpMode = "offer"  # the line's [sip] srtp: "require" rings the seat with SRTP only


class SeatLeg:
    def __init__(
        self, plan: LegPlan, local: Address, rtp: socket.socket, now: float, session_id: int = 1
    ) -> None:
        self.plan = plan
        self.local = local
        self.call_id = new_call_id(local[0])
        self.from_tag = new_tag()
        self.to_tag: str | None = None
        self.cseq = 1
        self.state = LegState.CALLING
        self.remote_target = plan.uri
        self.route_set: list[str] = []
        self.outbox: list[tuple[bytes, Address]] = []
        self.events: list[LegEvent] = []
        self.status: int | None = None  # the final status of the INVITE
        self.cancelled = False
        self._rtp = rtp
        self._rtp_host = local[0]
        self.media: CallMedia | None = None
        self._auth_tried = False
        self._cancel_sent = False
        self._ack: bytes | None = None
        self._session_id = self._version = session_id  # our SDP's o= line (RFC 3264 §8)
        # SRTP (RTP/SAVP) only under "require": a seat is the company's own phone, and one set up without
        # SRTP answers an RTP/SAVP offer with 488 (an offer cannot fall back to plain RTP), so under "offer"
        # the caller would never reach it; under "require" the admin wants every leg encrypted, whatever
        # it costs a seat whose phone cannot do it
        self._offered = srtp.offered_keys() if plan.srtp == "require" else ()
        self._keys: srtp.Keys | None = None
        self._sdp = sdp.offer(self._rtp_host, self.rtp_port, session_id=session_id, crypto=self._offered)
        self._invite = self._build_invite(None)
        self._invite_tx: ClientTransaction | None = None
        self._cancel_tx: ClientTransaction | None = None
        self._bye_tx: ClientTransaction | None = None
        self._send_invite(now)

    @property
    def rtp_port(self) -> int:
        port: int = self._rtp.getsockname()[1]
        return port

    @property
    def over(self) -> bool:
        """Ended, with nothing left to retransmit: the leg can be forgotten."""
        waiting = [tx for tx in (self._cancel_tx, self._bye_tx) if tx is not None and tx.waiting]
        return self.state is LegState.ENDED and not waiting

    def close(self) -> None:
        """Close the leg's RTP socket: its port is free again."""
        self._rtp.close()

    def take_outbox(self) -> list[tuple[bytes, Address]]:
        out, self.outbox = self.outbox, []
        return out

    def take_events(self) -> list[LegEvent]:
        out, self.events = self.events, []
        return out

    # --- what the owner asks ------------------------------------------------------------

    def cancel(self, now: float) -> None:
        """Stop ringing (CANCEL); after the answer this is a hang-up."""
        if self.state is LegState.ANSWERED:
            self.hang_up(now)
            return
        if self.state is LegState.ENDED or self.cancelled:
            return
        self.cancelled = True
        if self.state is LegState.CALLING:
            # RFC 3261 §9.1: no provisional response yet, so no CANCEL may be sent; stop here and
            # CANCEL (or BYE) whatever comes back later
            if self._invite_tx is not None:
                self._invite_tx.stop()
            self._end()
            return
        self._send_cancel(now)
        self._end()

    def hang_up(self, now: float) -> None:
        if self.state is not LegState.ANSWERED:
            self.cancel(now)
            return
        self._send_bye(now)
        self._end()

    def abandon(self) -> None:
        """End the leg without a word (a fault left nothing sendable): nothing more is sent."""
        for tx in (self._invite_tx, self._cancel_tx, self._bye_tx):
            if tx is not None:
                tx.stop()
        self.outbox.clear()
        self._end()

    # --- the clock ------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        for tx in (self._invite_tx, self._cancel_tx, self._bye_tx):
            if tx is not None and (again := tx.due(now)) is not None:
                self.outbox.append((again, tx.to))
        if self._invite_tx is not None and self._invite_tx.timed_out:  # timer B: nothing came back
            self._invite_tx = None
            if self.state is LegState.CALLING:
                self._end()
                self.events.append(LegEvent.UNREACHABLE)

    # --- SIP in ---------------------------------------------------------------------------

    def on_response(self, resp: SipMessage, now: float) -> None:
        number, method = resp.cseq
        if method == "CANCEL":
            if self._cancel_tx is not None:
                self._cancel_tx.on_response(resp.status, now)
            return
        if method == "BYE":
            if self._bye_tx is not None:
                self._bye_tx.on_response(resp.status, now)
            return
        if method != "INVITE" or number != self.cseq:
            return
        if self._invite_tx is not None:
            self._invite_tx.on_response(resp.status, now)
        if resp.status < 200:  # timer A stopped (and B)
            if self.cancelled:
                if not self._cancel_sent:  # cancelled before anything came back: now the CANCEL may go
                    self._send_cancel(now)
                return
            if self.state is LegState.CALLING:
                self.state = LegState.PROCEEDING
                if resp.status in (180, 183):
                    self.events.append(LegEvent.RINGING)
            return
        if resp.status < 300:
            self._on_success(resp, now)
            return
        self._ack_failure(resp)
        challenged = resp.status in (401, 407) and not self._auth_tried
        if challenged and self.plan.credentials is not None and self._retry_with_credentials(resp, now):
            return
        if self.state in (LegState.CALLING, LegState.PROCEEDING):
            self.status = resp.status
            self._end()
            self.events.append(LegEvent.REFUSED)

    def on_request(self, req: SipMessage, source: Address, now: float) -> None:
        """The seat's in-dialog requests: BYE (hung up), a re-INVITE (its offer obeyed: a hold, a
        resume, a new port; without SDP our last description again), anything else 200."""
        to = req.top_via.response_address(source)
        if req.method == "ACK":
            return
        if req.method == "INVITE":
            body = self._sdp if not req.body else self._reoffered(req.body)
            if body is None:  # an offer we cannot take: the call goes on as it was
                self.outbox.append((response(req, 488, "Not Acceptable Here", source=source).serialize(), to))
                return
            reply = response(
                req,
                200,
                "OK",
                headers=[("Contact", f"<{self.plan.contact}>")],
                body=body,
                content_type="application/sdp",
                source=source,
            )
            self.outbox.append((reply.serialize(), to))
            return
        self.outbox.append((response(req, 200, "OK", source=source).serialize(), to))
        if req.method == "BYE" and self.state is LegState.ANSWERED:
            self._end()
            self.events.append(LegEvent.HUNG_UP)

    def _reoffered(self, body: bytes) -> bytes | None:
        """A seat's re-INVITE with an offer (a hold, a resume, a new port): obeyed as the desk line
        obeys a caller's (RTP goes where it says; held, we send nothing), and our answer, its version
        one up (RFC 3264 §8); ``None`` when it cannot be taken."""
        try:
            offer = sdp.parse_offer(body)
            codec, _ = sdp.choose(offer)
            keys = srtp.answer_keys(offer, self.plan.srtp, None if self._keys is None else self._keys.ours)
            answer = sdp.answer(
                offer,
                self._rtp_host,
                self.rtp_port,
                self._session_id,
                version=self._version + 1,
                crypto=None if keys is None else keys.ours,
            )
        except ValueError as exc:
            log.info("seat leg %s: a re-INVITE we cannot take: %s", self.call_id[:8], exc)
            return None
        if self.media is not None:
            direction = sdp.answer_direction(offer)
            self.media.renegotiate(
                (offer.address, offer.port), codec, offer.dtmf_payload_type, direction, keys
            )
        self._keys = keys
        self._version += 1
        self._sdp = answer
        return answer

    # --- inside ---------------------------------------------------------------------------

    def _on_success(self, resp: SipMessage, now: float) -> None:
        first = self.to_tag is None
        if first and (problem := dialog_header_problem(resp)) is not None:
            # no dialog can be built on it (no ACK, no BYE could be routed): the seat refused, in effect
            log.info("seat leg %s answered with a header we cannot use: %s", self.call_id[:8], problem)
            if self.state is not LegState.ENDED:
                self.status = 502
                self._end()
                self.events.append(LegEvent.REFUSED)
            return
        if first:
            self.to_tag = resp.to_tag
            contact = resp.header("Contact")
            self.remote_target = parse_name_addr(contact)[1] if contact else self.plan.uri
            self.route_set = list(reversed([v.strip() for v in resp.all("Record-Route")]))
        self._ack = self._in_dialog("ACK", self.cseq, resp.header("To") or "").serialize()
        self.outbox.append((self._ack, self._next_hop()))
        if not first or self.state is LegState.ANSWERED:
            return  # a retransmitted 2xx: ACKed again, nothing else
        if self.cancelled or self.state is LegState.ENDED:
            self.state = LegState.ANSWERED  # the answer crossed our CANCEL: end it properly
            self._send_bye(now)
            self._end()
            return
        try:
            answer = sdp.parse_offer(resp.body)
            codec, _ = sdp.choose(answer)
            self._keys = srtp.answered_keys(self._offered, answer)
        except ValueError as exc:
            log.info("seat leg %s answered without usable SDP: %s", self.call_id[:8], exc)
            self.state = LegState.ANSWERED
            self._send_bye(now)
            self._end()
            self.status = 488
            self.events.append(LegEvent.REFUSED)
            return
        # paced like every stream of the line: sent first thing in the next tick (SeatFloor.flush_media)
        self.media = CallMedia(
            self._rtp,
            (answer.address, answer.port),
            codec,
            answer.dtmf_payload_type,
            paced=True,
            srtp=self._keys,
        )
        self.state = LegState.ANSWERED
        self.events.append(LegEvent.ANSWERED)

    def _ack_failure(self, resp: SipMessage) -> None:
        """ACK for a non-2xx final response: same branch, same Request-URI and hop as the INVITE."""
        ack = request(
            "ACK",
            self.plan.uri,
            via=self._invite.header("Via") or "",
            from_=self._invite.header("From") or "",
            to=resp.header("To") or "",
            call_id=self.call_id,
            cseq=self.cseq,
        )
        self.outbox.append((ack.serialize(), self.plan.hop))

    def _retry_with_credentials(self, resp: SipMessage, now: float) -> bool:
        assert self.plan.credentials is not None
        self._auth_tried = True
        header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
        try:
            challenge = parse_challenge(resp.header(header) or "")
            value = authorization(
                challenge,
                "INVITE",
                self.plan.uri,
                self.plan.credentials.username,
                self.plan.credentials.password,
            )
        except DigestError as exc:
            log.info("seat leg %s: cannot answer the challenge: %s", self.call_id[:8], exc)
            return False
        self.cseq += 1
        name = "Authorization" if resp.status == 401 else "Proxy-Authorization"
        self._invite = self._build_invite((name, value))
        self._send_invite(now)
        return True

    def _build_invite(self, auth: tuple[str, str] | None) -> SipMessage:
        return request(
            "INVITE",
            self.plan.uri,
            via=self._via(new_branch()),
            from_=f"<{self.plan.from_uri}>;tag={self.from_tag}",
            to=f"<{self.plan.uri}>",
            call_id=self.call_id,
            cseq=self.cseq,
            contact=f"<{self.plan.contact}>",
            headers=[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"), *([auth] if auth else [])],
            body=self._sdp,
            content_type="application/sdp",
        )

    def _send_invite(self, now: float) -> None:
        data = self._invite.serialize()
        self.outbox.append((data, self.plan.hop))
        self._invite_tx = ClientTransaction.start(data, self.plan.hop, now, invite=True)

    def _send_cancel(self, now: float) -> None:
        self._cancel_sent = True
        cancel = request(
            "CANCEL",
            self.plan.uri,
            via=self._invite.header("Via") or "",
            from_=self._invite.header("From") or "",
            to=self._invite.header("To") or "",
            call_id=self.call_id,
            cseq=self.cseq,
        ).serialize()
        self.outbox.append((cancel, self.plan.hop))
        self._cancel_tx = ClientTransaction.start(cancel, self.plan.hop, now, invite=False)

    def _send_bye(self, now: float) -> None:
        self.cseq += 1
        to = f"<{self.plan.uri}>;tag={self.to_tag}" if self.to_tag else f"<{self.plan.uri}>"
        bye = self._in_dialog("BYE", self.cseq, to).serialize()
        hop = self._next_hop()
        self.outbox.append((bye, hop))
        self._bye_tx = ClientTransaction.start(bye, hop, now, invite=False)

    def _in_dialog(self, method: str, cseq: int, to: str) -> SipMessage:
        return request(
            method,
            self.remote_target,
            via=self._via(new_branch()),
            from_=self._invite.header("From") or "",
            to=to,
            call_id=self.call_id,
            cseq=cseq,
            headers=[("Route", r) for r in self.route_set],
        )

    def _next_hop(self) -> Address:
        target = parse_name_addr(self.route_set[0])[1] if self.route_set else self.remote_target
        try:
            return uri_hostport(target)
        except ValueError:
            return self.plan.hop

    def _via(self, branch: str) -> str:
        transport = uri_transport(self.plan.uri) or "UDP"  # the transport writes sent-by for TCP and TLS
        return f"SIP/2.0/{transport} {format_hostport(*self.local)};branch={branch};rport"

    def _end(self) -> None:
        self.state = LegState.ENDED
