"""SIP in, and the arrival of a new call: a request checked on arrival, an INVITE refused or made a call
(100, 180), a retransmission or a merged copy told apart, CANCEL.
"""

from __future__ import annotations

import logging
import secrets

from ivr.line.inbound_call import CallState, InboundCall
from ivr.line.line_replies import ALLOW, SUPPORTED, Address
from ivr.line.line_tick import LineTick
from ivr.telephony import sdp, srtp
from ivr.telephony.answering_dialog import AnsweringDialog
from ivr.telephony.arrival import refusal
from ivr.telephony.bad_request import bad_request
from ivr.telephony.session_timer import negotiate
from ivr.telephony.sip_message import SipMessage, SipParseError, new_tag, parse
from ivr.telephony.transactions import ClientTransaction, ServerTransaction, server_key
from ivr.telephony.transport import Source
from ivr.telephony.uas_refusals import cannot_serve

log = logging.getLogger(__name__)
SUPPORTED_TAGS = tuple(tag.strip() for tag in SUPPORTED.split(","))
KNOWN_METHODS = {"REGISTER", "SUBSCRIBE", "NOTIFY", "MESSAGE", "INFO", "PRACK", "UPDATE", "REFER", "PUBLISH"}


class CallArrival(LineTick):
    """SIP in: each datagram to its call, its seat leg or the registration; a new INVITE made a call."""

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
            answer = bad_request(data, str(exc), source)  # 400 (505) when a reply can be addressed
            if answer is not None:
                self.transport.send(*answer)
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

    def _after_burst(self) -> None:
        """The SIP reader has handled what one wake-up brought (a burst of INVITEs: every 180 sent):
        now the media clock looks at what changed. Woken per message, an idle clock would tick
        in the middle of a burst (each new call's first tick, its console row) and hold the line's
        lock while the rest of the burst waits for its 180."""
        self.clock.wake()

    def _sip_fault(self, msg: SipMessage, source: Address, exc: Exception) -> None:
        call = self._calls.get(msg.call_id)
        if call is not None:
            self._fail(call, self._now(), exc)
        else:
            log.error("a SIP %s could not be handled", msg.method or "response", exc_info=exc)
        if msg.is_request and msg.method != "ACK":
            self._reply(msg, source, 500, "Server Internal Error", to_tag=new_tag())

    def _on_request(self, req: SipMessage, source: Address) -> None:
        method = req.method
        if method in ("INVITE", "ACK") and (refused_tx := self._refused.get(server_key(req))) is not None:
            if method == "ACK":  # the ACK of a refusal: it is not resent any more
                refused_tx.on_ack(self._now())
            elif (again := refused_tx.again()) is not None:  # that INVITE again: the refusal again
                self.transport.send(again, refused_tx.to)
            return
        if self.settings.mode == "direct" and method != "ACK" and not self.settings.allows(source[0]):
            self.stats.refused_forbidden += 1
            self._reply(req, source, 403, "Forbidden")
            return
        refused = refusal(req, SUPPORTED_TAGS)
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
                self._on_options(req, source)
        elif method in KNOWN_METHODS:
            self._reply(req, source, 405, "Method Not Allowed", headers=[("Allow", ALLOW)])
        else:
            self._reply(req, source, 501, "Not Implemented", headers=[("Allow", ALLOW)])

    def _on_options(self, req: SipMessage, source: Address) -> None:
        """200 with what we allow; out of a dialog while the line refuses new calls (draining), 503:
        a proxy probing its nodes (Kamailio's dispatcher) sends new calls elsewhere. A call's own
        OPTIONS (a keep-alive in its dialog) is answered 200 while the call lives."""
        if not self.accepting and req.to_tag is None:
            self._reply(req, source, 503, "Service Unavailable", headers=[("Retry-After", "60")])
            return
        self._reply(req, source, 200, "OK", headers=[("Allow", ALLOW), ("Accept", "application/sdp")])

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
                answered = call.invite_tx.status is not None and 200 <= call.invite_tx.status < 300
                if over and answered:
                    # the old INVITE after a hang-up (BYE): its dialog is gone, a 200 again would revive it
                    self._reply(
                        req, source, 481, "Call/Transaction Does Not Exist", to_tag=call.dialog.to_tag
                    )
                    return
                # a retransmission: say again what we last said (after its transaction too), start nothing new
                if again := call.invite_tx.again() or call.invite_tx.response:
                    self.transport.send(again, req.top_via.response_address(source))
                return
            if call.reinvite_tx is not None and req.top_via.branch == call.reinvite_branch:  # it again
                again = call.reinvite_tx.again() or call.reinvite_tx.response
                self.transport.send(again, req.top_via.response_address(source))
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
        # len() first: counting the live ones walks every call, ended ones too, and this is the SIP thread
        if len(self._calls) >= self.settings.max_calls and self.live_calls() >= self.settings.max_calls:
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
        dialog = AnsweringDialog(req, source)
        call = InboundCall(
            call_id=req.call_id,
            dialog=dialog,
            invite_tx=ServerTransaction.of(req, dialog.reply_to),
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
        # no 100 Trying: the 180 goes now, and RFC 3261 §17.2.1 asks for a 100 only from a UAS that will
        # not send a provisional response within 200 ms; one response less per INVITE in a burst
        ringing = [("Contact", self._contact(req))]
        if "100rel" in {tag.lower() for tag in req.all("Require")}:  # RFC 3262: the 180 goes reliably
            call.rseq = secrets.randbelow(1 << 31) + 1
            ringing += [("Require", "100rel"), ("RSeq", str(call.rseq))]
        ringing_data = self._answer_invite(call, 180, "Ringing", ringing)
        if call.rseq:  # RFC 3262 §3: resent like an INVITE on timer A (T1 doubling, 64·T1), end to end
            call.reliable_180 = ClientTransaction.start(
                ringing_data, call.dialog.reply_to, now, invite=True, transport="UDP"
            )
        if log.isEnabledFor(logging.DEBUG):  # not even its arguments on the way through a burst
            log.debug("call %s ringing; answering in %.2f s", call.call_id[:8], self.parts.flow.answer.at_s)

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

    def _on_cancel(self, req: SipMessage, source: Address) -> None:
        call = self._calls.get(req.call_id)
        if call is None or call.branch != (req.top_via.branch or ""):
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        self._reply(req, source, 200, "OK")
        if call.state is CallState.RINGING:
            self._answer_invite(call, 487, "Request Terminated")
            self._end(call, self._now(), outcome_note="cancelled")
