"""Ending a desk-line call: the bot's BYE (or a failure to the INVITE), the record, and a fault that ends
one call alone.
"""

from __future__ import annotations

import logging
from collections import deque

from ivr.call.events import CallEvent, CallRecord, EventKind, Outcome
from ivr.flows.schema import Say
from ivr.line.inbound_call import CallState, InboundCall
from ivr.line.line_replies import LineReplies
from ivr.media import frames_in
from ivr.telephony.call_media import CallMedia
from ivr.telephony.transactions import ClientTransaction

log = logging.getLogger(__name__)


class CallEnding(LineReplies):
    """How a call ends: hung up by the bot, by the caller, or by a fault of its own."""

    # --- ending ------------------------------------------------------------------------

    def _hang_up(self, call: InboundCall, now: float) -> None:
        """The bot ends the call: BYE (retransmitted until answered), then the record."""
        if call.state is CallState.ANSWERED:
            bye, hop = call.dialog.bye((self.host, self.port))
            self.transport.send(bye, hop)
            call.bye = ClientTransaction.start(bye, hop, now, invite=False)
            if call.engine is not None and not call.engine.ended:
                call.engine.hang_up("bot")  # the line ends the call (drain, no ACK): the record says so
        elif call.state is CallState.RINGING:
            self._answer_invite(call, 480, "Temporarily Unavailable")
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
                call.bye = ClientTransaction.start(bye, hop, now, invite=False)
            else:
                self._answer_invite(call, 500, "Server Internal Error")
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


def fault_reason(exc: BaseException) -> str:
    """A fault's one line, for a record or a log: ``SipParseError: name-addr: '<' without a closing '>'``."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
