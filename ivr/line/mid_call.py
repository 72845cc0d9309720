"""Requests inside an answered call (RFC 3261 §14, RFC 3311, RFC 3262, RFC 4028): ACK, re-INVITE and
UPDATE offers (hold, resume, a new address), PRACK, BYE, our session refresh, responses to our requests.
"""

from __future__ import annotations

import logging

from ivr.line.call_ending import CallEnding
from ivr.line.inbound_call import CallState, InboundCall
from ivr.line.line_replies import ALLOW, SUPPORTED, Address
from ivr.telephony import sdp, srtp
from ivr.telephony.session_timer import SessionTimer
from ivr.telephony.sip_message import SipMessage, parse_name_addr
from ivr.telephony.transactions import ClientTransaction, ServerTransaction

log = logging.getLogger(__name__)


class MidCallRequests(CallEnding):
    """What comes inside a call's dialog, and our own requests in it."""

    def _on_ack(self, req: SipMessage) -> None:
        call = self._calls.get(req.call_id)
        if call is None:
            return
        acked = call.invite_tx if req.cseq[0] == call.invite.cseq[0] else call.reinvite_tx
        if acked is not None:
            acked.on_ack(self._now())  # our final response to that INVITE is not resent any more
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
            remember=False,
        )
        if invite:  # resent until its ACK (a 2xx as the first 200 was, a failure on timer G)
            call.reinvite_tx = ServerTransaction.of(req, req.top_via.response_address(source))
            call.reinvite_tx.respond(data, status, self._now())

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
        if call.refresh is not None:
            self._resend(call.refresh, now)
            if call.refresh.terminated:  # never answered: the next tick sends a new one
                call.refresh = None
        elif call.refresh is None and refresh_at is not None and now >= refresh_at:
            update, hop = call.dialog.request(
                "UPDATE", (self.host, self.port), [("Contact", self._contact(call.invite))]
            )
            self.transport.send(update, hop)
            call.refresh = ClientTransaction.start(update, hop, now, invite=False)
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

    def _on_bye(self, req: SipMessage, source: Address) -> None:
        call = self._calls.get(req.call_id)
        if call is None or req.to_tag != call.dialog.to_tag:
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        self._reply(req, source, 200, "OK")
        if call.state is CallState.ANSWERED:
            call.caller_hung_up = True  # the engine hears it on the next tick
            for tx in (call.invite_tx, call.reinvite_tx):  # an unACKed 200 is not resent any more
                if tx is not None and tx.status is not None and tx.status < 300:
                    tx.stop()

    def _on_response(self, resp: SipMessage) -> None:
        if self.registration is not None and self.registration.owns(resp):
            self.registration.on_response(resp, self._now())
            self._flush_registration()
            self.ended.notify_all()
            return
        call = self._calls.get(resp.call_id)
        if call is not None and call.bye is not None and resp.cseq[1] == "BYE":
            call.bye.on_response(resp.status, self._now())
        if call is not None and call.refresh is not None and resp.cseq[1] == "UPDATE" and resp.status >= 200:
            call.refresh = None  # our session refresh is answered: refreshed if 2xx, else it runs out
            if call.timer is not None and resp.status < 300:
                call.timer.refreshed_at = self._now()
