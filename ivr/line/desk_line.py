"""The desk line on a real SIP socket: answers, runs each call's engine on the media clock, hangs up.

Threads: the SIP transport's reader and the media clock, both owned here and
stopped by ``close()``. Both take ``_lock`` for the call table; the SIP side
only changes call state, the clock side runs timers and media for every call.
What RFC 3261 asks of a UAS is done here and not left to luck: responses
follow the top Via (received/rport), 180 goes out at once (so no 100), the 200 OK is
retransmitted until its ACK, CANCEL before the answer gets 200 and 487, a
retransmitted INVITE or a re-INVITE never starts a second media stream. Every
response to an INVITE lives in an RFC 3261 §17 server transaction
(``ivr.telephony.transactions``): a failure (486, 487, 480, 503, ...) is resent
until its ACK over UDP as the 200 is, a retransmitted request gets the last
response again; our BYE and UPDATE are client transactions.

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
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from ivr.call.ports import PromptSource
from ivr.config import SipSettings
from ivr.flows.schema import Flow
from ivr.line.call_arrival import CallArrival
from ivr.line.call_ending import fault_reason
from ivr.line.call_progress import ProgressWatch
from ivr.line.inbound_call import CallState, InboundCall
from ivr.line.line_parts import LineParts, LineStats, SeatParts
from ivr.line.line_tick import KEEP_ENDED_S
from ivr.line.seat_floor import SeatDialing, SeatFloor
from ivr.line.seat_leg import Credentials
from ivr.media import frames_in, seconds_of
from ivr.telephony.media_clock import MediaClock
from ivr.telephony.registration import Registration
from ivr.telephony.rtp_ports import RtpPorts
from ivr.telephony.transactions import ServerTransaction
from ivr.telephony.transport import SipTransport, TlsListen

__all__ = ["KEEP_ENDED_S", "DeskLine", "LineParts", "LineStats", "SeatParts", "fault_reason"]

log = logging.getLogger(__name__)
CLOSING_MARGIN_S = 0.5  # a put-through call's goodbye ends this long before the closing line's grace does


class DeskLine(CallArrival):
    """The line: one SIP transport and one media clock for every call (the parts, one job each:
    ``call_arrival``, ``line_tick``, ``mid_call``, ``call_ending``, ``line_replies``)."""

    def __init__(
        self, settings: SipSettings, parts: LineParts, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.parts = parts
        self._now = now
        self._lock = threading.RLock()
        self._calls: dict[str, InboundCall] = {}
        self._refused: dict[tuple[str, str, str], ServerTransaction] = {}  # INVITEs no call was made of
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
            on_read=self._after_burst,
            transports=settings.transports,
            tls=None if tls is None else TlsListen(*tls),
            tls_client=settings.tls_client(),
            idle_s=settings.tcp_idle,
        )
        self.host, self.port = self.transport.address
        self._rtp = RtpPorts(settings.rtp_range, self.host)
        self._media_limit = frames_in(settings.media_timeout) if settings.media_timeout else None
        self.registration: Registration | None = None
        if settings.mode == "register":
            server = settings.server_address
            assert server is not None and settings.username and settings.password
            over = settings.register_transport.upper()
            self.registration = Registration(
                server,
                settings.username,
                settings.password,
                self.transport.local(over),
                settings.expires,
                transport=over,
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
        self._new_rows = 0
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

    def take_flow(self, flow: Flow, prompts: PromptSource) -> None:
        """A reloaded flow and its prompts, for calls that arrive from now on (live calls keep theirs)."""
        with self._lock:
            self.parts = replace(self.parts, flow=flow, prompts=prompts)
