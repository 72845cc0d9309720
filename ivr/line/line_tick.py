"""The desk line's 20 ms tick: every call's timers and retransmissions, the answer moment, the media step
(in the flow, or put through to a seat).
"""

from __future__ import annotations

import logging

from ivr.call.engine import CallEngine
from ivr.call.events import EventKind
from ivr.call.inputs import CallContext, CallerHangup, CallInput, Dtmf
from ivr.hearing.caller_speech import SpeechGate
from ivr.line.call_tickets import CallTickets
from ivr.line.inbound_call import CallState, InboundCall
from ivr.line.line_replies import SERVER
from ivr.line.mid_call import MidCallRequests
from ivr.media import SILENT_FRAME, frames_in
from ivr.telephony import sdp
from ivr.telephony.call_media import CallMedia
from ivr.telephony.media_clock import PERIOD_S

log = logging.getLogger(__name__)
KEEP_ENDED_S = 32.0  # an ended call's transaction stays to absorb retransmissions
# new ringing calls shown on the console per tick: a burst of 60 INVITEs reaches the console within
# 300 ms rather than in one tick, whose 60 console rows (each waking the live board's writer) would
# hold the line's lock and the interpreter while the SIP thread is still sending the burst's 180s
NEW_ROWS_PER_TICK = 4


class LineTick(MidCallRequests):
    """The media clock's side: what every call does on each 20 ms tick."""

    # --- the clock ---------------------------------------------------------------------

    def _busy(self) -> bool:
        with self._lock:
            if self.floor is not None and self.floor.busy():
                return True
            return any(c.state is not CallState.ENDED for c in self._calls.values())

    def _next_deadline(self) -> float | None:
        with self._lock:
            # an ended call is forgotten once KEEP_ENDED_S have passed since it *ended* (see _tick_call);
            # waking before that would find nothing to do and, the deadline being past, spin
            deadlines = [
                (c.ended_at if c.ended_at is not None else c.arrived) + KEEP_ENDED_S + PERIOD_S
                for c in self._calls.values()
            ]
            for c in self._calls.values():
                if c.state is CallState.ENDED and c.quiet_until:  # the tick looks at it then, not before
                    deadlines.append(c.quiet_until)
                else:
                    deadlines += [tx.next_deadline() for tx in c.transactions()]
            deadlines += [tx.next_deadline() for tx in self._refused.values()]
            if self.registration is not None:
                deadlines.append(self.registration.next_deadline())  # inf: nothing pending
            if self.floor is not None and (floor_due := self.floor.next_deadline()) is not None:
                deadlines.append(floor_due)
            return min(deadlines) if deadlines else None

    def _on_tick(self, now: float) -> None:
        with self._lock:
            self._new_rows = NEW_ROWS_PER_TICK
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
            for key, refused_tx in list(self._refused.items()):
                self._resend(refused_tx, now)
                if refused_tx.terminated:
                    del self._refused[key]
            for call in list(self._calls.values()):
                try:
                    self._tick_call(call, now)
                except Exception as exc:  # one call's fault: that call ends, the line goes on
                    self._fail(call, now, exc)

    def _tick_call(self, call: InboundCall, now: float) -> None:
        if call.state is CallState.ENDED and now < call.quiet_until:
            return  # an ended call (a busy line keeps thousands): nothing of it is due before then
        if call.state is not CallState.RINGING:
            call.reliable_180 = None  # a final response went: the 180 needs no PRACK any more
        for tx in (call.invite_tx, call.reinvite_tx):
            timed_out = self._resend(tx, now)
            if timed_out and tx is not None and tx.status is not None and tx.status < 300:
                self._hang_up(call, now)  # no ACK in 32 s: the caller never got our answer
        self._resend(call.bye, now)
        self._resend(call.reliable_180, now)
        if call.state is CallState.ENDED:
            if now - (call.ended_at or now) > KEEP_ENDED_S and (call.bye is None or call.bye.terminated):
                del self._calls[call.call_id]
                return
            # its transactions are all an ended call has left (none is added after its end, and an
            # ACK or a response only moves a deadline later): the tick looks at it again at the next
            call.quiet_until = min(
                [tx.next_deadline() for tx in (call.invite_tx, call.reinvite_tx, call.bye) if tx is not None]
                + [(call.ended_at or now) + KEEP_ENDED_S + PERIOD_S]  # then forgotten (see _next_deadline)
            )
            return
        call.ticks_since_arrival += 1
        if (
            call.timer is not None
            and call.state is CallState.ANSWERED
            and self._session_ran_out(call, call.timer, now)
        ):
            return
        if call.state is CallState.RINGING:
            # the console hears of the call on the tick, not on the way to its 180; a few new calls a tick
            if not call.on_console and self._new_rows > 0:
                self._new_rows -= 1
                call.on_console = True
                self._saw(call)
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
            self._answer_invite(call, 503, "Service Unavailable")
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
        call.invite_tx.respond(ok, 200, now)
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
