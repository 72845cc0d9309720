"""The seats' side of the line: the queue's actions carried out over SIP, on the line's media clock.

The line owns one ``SeatFloor`` when a seats file is configured. Its
``desk`` is the ``SeatDesk`` every call's engine queues at. What the queue
asks for is done here:

- ``Ring``: a ``SeatLeg`` (an outbound INVITE) to the seat, through the
  registrar in register mode, straight to the seat's URI in direct mode;
  the leg's fate goes back to the queue (answered, refused, unreachable);
- ``StopRinging``: CANCEL (or BYE once answered);
- ``Whisper``: the words are rendered on the voice worker, never on the tick,
  and played to the seat's leg only; when they end, ``queue.connected``;
- ``Connected``: the caller's call is bridged to the leg frame by frame
  (``bridge``, called by the line for a handed-off caller each tick).

With several lines sharing the seats (a ``CrossLine``, PostgreSQL register),
a ``Ring`` is first a claim and the seat is rung only once this line holds it
(``ClaimedSeats``).

A seat hanging up in the whisper puts the caller back at the head of the
queue; after the bridge it ends the seat's call (``seat_done``) and the line
says goodbye to the caller (it is no longer ``bridged_to`` a seat). Everything runs under the line's
lock on the line's threads; nothing here sleeps or starts a thread but the
voice worker, which ``start``/``close`` own.

A fault in one seat's leg (its tick, its media, its SIP) ends that leg only: it
is logged with its traceback, the leg gets BYE or CANCEL (or just ends when
even that cannot be built), and the queue hears of it as it would of a seat
that hung up or could not be reached; the caller hears the line's goodbye or
waits for the next seat. A fault in the queue itself is the line's, not one call's.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ivr.line.claimed_seats import ClaimedSeats
from ivr.line.cross_line import CrossLine
from ivr.line.seat_leg import Credentials, LegEvent, LegPlan, LegState, SeatLeg
from ivr.media import SILENT_FRAME, frames_in
from ivr.prompts.voice_worker import VoiceWorker
from ivr.seats.desk import QueueDesk
from ivr.seats.directory import Seat
from ivr.seats.queue import Connected, QueueAction, Ring, SeatQueue, StopRinging, Whisper
from ivr.telephony.call_media import CallMedia
from ivr.telephony.sip_message import SipMessage, format_hostport, uri_hostport, uri_user
from ivr.telephony.srtp import SrtpMode

log = logging.getLogger(__name__)
Address = tuple[str, int]
KEEP_ENDED_S = 32.0  # an ended leg stays to absorb late responses and retransmissions
BREAKS_EVERY_S = 5.0  # how often the board is asked for breaks (`ivr seats pause`), calls or none
WHISPER_LEAD_IN = frames_in(0.3)  # silence before the whisper, as the seat puts the phone to the ear


@dataclass(frozen=True, slots=True)
class SeatDialing:
    """How the line reaches seats: ``register`` through ``server``, ``direct`` to each seat's URI."""

    mode: Literal["direct", "register"]
    local: Address  # the line's SIP socket
    user: str = "ivr"
    server: Address | None = None
    credentials: Credentials | None = None
    srtp: SrtpMode = "offer"  # the line's [sip] srtp: "require" rings seats with SRTP (see SeatLeg)

    def plan(self, seat: Seat) -> LegPlan:
        contact = f"sip:{self.user}@{format_hostport(*self.local)}"
        if self.mode == "register":
            assert self.server is not None
            host, port = self.server
            user = uri_user(seat.uri) or seat.id
            return LegPlan(
                uri=f"sip:{user}@{host}:{port}",
                hop=self.server,
                from_uri=f"sip:{self.user}@{host}:{port}",
                contact=contact,
                credentials=self.credentials,
                srtp=self.srtp,
            )
        return LegPlan(
            uri=seat.uri, hop=uri_hostport(seat.uri), from_uri=contact, contact=contact, srtp=self.srtp
        )


@dataclass
class _SeatCall:
    seat_id: str
    caller: str  # the caller's call id
    leg: SeatLeg
    rang_frame: int
    whispering: bool = False
    whisper: deque[bytes] | None = None  # None: still being rendered
    connected: bool = False
    bridged: bool = False
    ended_at: float | None = None


@dataclass
class FloorStats:
    legs: int = 0
    whispers: int = 0
    whisper_frames: int = 0
    bridged_frames: int = 0
    break_checks: int = 0  # times the board was asked for breaks


@dataclass
class _Pending:
    breaks: dict[str, str] | None = None
    later: list[Callable[[], list[QueueAction]]] = field(default_factory=list)


class SeatFloor:
    def __init__(
        self,
        seats: Sequence[Seat],
        queue: SeatQueue,
        dialing: SeatDialing,
        *,
        send: Callable[[bytes, Address], None],
        open_rtp: Callable[[], socket.socket],
        voice: VoiceWorker,
        ring_timeouts: Mapping[str, float] | None = None,
        max_wait_s: float = 120.0,
        on_action: Callable[[QueueAction], object] = lambda action: None,
        ask_breaks: Callable[[], object] | None = None,
        crossing: CrossLine | None = None,
    ) -> None:
        """``crossing``: the other lines sharing these seats (claims before rings), or None (this line alone)."""
        self.seats = {s.id: s for s in seats}
        self.queue = queue
        self.dialing = dialing
        self._send = send
        self._open_rtp = open_rtp
        self.voice = voice
        self._on_action = on_action
        self._ask_breaks = ask_breaks
        self.frame = 0
        self._now = 0.0
        self._next_breaks_at = 0.0  # clock seconds: the first tick asks at once
        self.claimed = (
            None
            if crossing is None
            else ClaimedSeats(
                crossing,
                queue,
                on_action,
                self._dial,
                lambda actions: self.desk.take(actions),
                lambda: self.frame,
            )
        )
        self.desk = QueueDesk(
            queue,
            lambda: self.frame,
            self._on_actions,
            max_wait_s=max_wait_s,
            ring_timeouts=ring_timeouts,
            on_join=None if self.claimed is None else self.claimed.joined,
        )
        self._legs: dict[str, _SeatCall] = {}  # by the leg's SIP Call-ID
        self._ringing: dict[str, _SeatCall] = {}  # seat id → its live leg
        self._bridges: dict[str, _SeatCall] = {}  # caller's call id → the seat call it is put through to
        self._pending = _Pending()
        self.log: deque[tuple[int, QueueAction]] = deque(maxlen=5000)  # for the demo, tests and figures
        self.stats = FloorStats()
        self.whispers: deque[tuple[str, list[bytes]]] = deque(maxlen=8)  # caller id → whisper played (tests)

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.voice.start()

    def close(self, now: float) -> None:
        for sc in list(self._legs.values()):
            sc.leg.hang_up(now)
            self._flush(sc)
            self._forget(sc)
        self.voice.close()

    def busy(self) -> bool:
        return bool(self._legs)

    def next_deadline(self) -> float | None:
        """When the floor next needs a tick though no call is live: to ask the board for breaks
        (a break starts a seat's pause, and one past 30 minutes is an alert, calls or none)."""
        return self._next_breaks_at if self._ask_breaks is not None else None

    def set_breaks(self, breaks: dict[str, str]) -> None:
        """The board's breaks, read on a worker; applied on the next tick (any thread)."""
        self._pending.breaks = dict(breaks)

    # --- SIP in (the line's reader, under the line's lock) ---------------------------------

    def owns(self, call_id: str) -> bool:
        return call_id in self._legs

    def on_response(self, resp: SipMessage, now: float) -> None:
        sc = self._legs[resp.call_id]
        try:
            sc.leg.on_response(resp, now)
            self._flush(sc)
        except Exception as exc:  # one leg's fault: that leg ends, the floor goes on
            self._leg_failed(sc, exc)

    def on_request(self, req: SipMessage, source: Address, now: float) -> None:
        sc = self._legs[req.call_id]
        try:
            sc.leg.on_request(req, source, now)
            self._flush(sc)
        except Exception as exc:  # one leg's fault: that leg ends, the floor goes on
            self._leg_failed(sc, exc)

    # --- the callers' side (the line, for each call) ---------------------------------------

    @property
    def bridged_calls(self) -> int:
        return len(self._bridges)

    def bridged_to(self, call_id: str) -> str | None:
        """The seat a caller's call is put through to now, if any."""
        sc = self._bridges.get(call_id)
        return None if sc is None else sc.seat_id

    def seat_media(self, call_id: str) -> CallMedia | None:
        """The media of the seat leg a caller is put through to (to tell if the seat's phone is gone)."""
        sc = self._bridges.get(call_id)
        return None if sc is None else sc.leg.media

    def bridge(self, call_id: str, caller: CallMedia, keys: Sequence[str] = ()) -> None:
        """One tick of a put-through call: the caller's frame (or key) to the seat, the seat's to the caller.

        Keys the caller presses go on to the seat as RFC 4733 events (an extension, a menu of
        the seat's own), one packet a tick in place of audio, as a phone sends them.
        """
        sc = self._bridges.get(call_id)
        inbound = caller.inbound_frame()
        if sc is None or sc.leg.media is None:
            caller.send(SILENT_FRAME)
            return
        sc.bridged = True
        sc.leg.media.press("".join(keys))
        sc.leg.media.send(inbound)
        caller.send(sc.leg.media.inbound_frame())
        self.stats.bridged_frames += 1

    def release(self, call_id: str) -> None:
        """The seat's part of a caller's call ends (the call is over, or the line is closing):
        a seat still on it is hung up and its call done."""
        sc = self._bridges.pop(call_id, None)
        if sc is None:
            return
        sc.leg.hang_up(self._now)
        self._flush(sc)
        self._end(sc)
        self.desk.take(self.queue.seat_done(sc.seat_id, self.frame))

    # --- the clock -------------------------------------------------------------------------

    def flush_media(self) -> None:
        """Send the frames the seats' legs made in the last tick (first thing in a tick, as callers' are)."""
        for sc in list(self._legs.values()):
            if sc.leg.media is not None and sc.leg.state is LegState.ANSWERED:  # nothing after a BYE
                try:
                    sc.leg.media.flush()
                except Exception as exc:  # one leg's fault: that leg ends, the floor goes on
                    self._leg_failed(sc, exc)

    def tick(self, now: float, frame: int) -> None:
        self._now, self.frame = now, frame
        breaks, self._pending.breaks = self._pending.breaks, None
        if breaks is not None:
            self.desk.take(self.queue.sync_breaks(breaks, frame))
        if self._ask_breaks is not None and now >= self._next_breaks_at:
            self._next_breaks_at = now + BREAKS_EVERY_S
            self.stats.break_checks += 1
            self._ask_breaks()
        later, self._pending.later = self._pending.later, []
        for work in later:
            self.desk.take(work())
        if self.claimed is not None:
            self.claimed.take(frame)
        for key, frames in self.voice.take():
            sc = self._legs.get(key)
            if sc is not None and sc.whispering:
                sc.whisper = deque([SILENT_FRAME] * WHISPER_LEAD_IN + frames)
                self.whispers.append((sc.caller, frames))
                self.stats.whispers += 1
        for sc in list(self._legs.values()):
            try:
                sc.leg.tick(now)
                self._flush(sc)
                events = sc.leg.take_events()
                self._media(sc)
            except Exception as exc:  # one leg's fault: that leg ends, the floor goes on
                self._leg_failed(sc, exc)
                continue
            for event in events:
                self._on_event(sc, event)
            if sc.leg.over and sc.ended_at is not None and now - sc.ended_at > KEEP_ENDED_S:
                self._forget(sc)
        self.desk.take(self.queue.tick(frame))

    def _media(self, sc: _SeatCall) -> None:
        media = sc.leg.media
        if media is None or sc.leg.state is not LegState.ANSWERED:
            return
        media.receive()  # the seat's keys are not used; its audio waits in the jitter buffer
        if sc.bridged:
            return  # ``bridge`` moves this leg's frames
        if sc.whispering:
            if sc.whisper is None:
                media.send(SILENT_FRAME)
                return
            if sc.whisper:
                media.send(sc.whisper.popleft())
                self.stats.whisper_frames += 1
                return
            sc.whispering = False
            self.desk.take(self.queue.connected(sc.caller, self.frame))
        media.inbound_frame()  # not yet bridged: the seat hears silence, its audio goes nowhere
        media.send(SILENT_FRAME)

    def _on_event(self, sc: _SeatCall, event: LegEvent) -> None:
        seat, frame = sc.seat_id, self.frame
        if event is LegEvent.RINGING:
            log.info("seat %s ringing", seat)
        elif event is LegEvent.ANSWERED:
            self.desk.take(self.queue.seat_answered(seat, frame))
            if not sc.whispering:  # stale: the ring had already stopped
                sc.leg.hang_up(self._now)
                self._flush(sc)
                self._end(sc)
        elif event is LegEvent.REFUSED:
            log.info("seat %s refused the call (%s)", seat, sc.leg.status)
            self._end(sc)
            self.desk.take(self.queue.seat_rejected(seat, frame))
        elif event is LegEvent.UNREACHABLE:
            log.info("seat %s unreachable", seat)
            self._end(sc)
            self.desk.take(self.queue.seat_unreachable(seat, frame))
        elif event is LegEvent.HUNG_UP:
            self._end(sc)
            if sc.connected:
                log.info("seat %s hung up", seat)
                if self._bridges.get(sc.caller) is sc:
                    del self._bridges[sc.caller]  # the line sees it (bridged_to) and says goodbye
                self.desk.take(self.queue.seat_done(seat, frame))
            else:
                log.info("seat %s hung up during the whisper", seat)
                sc.whispering = False
                self.desk.take(self.queue.seat_hung_up_in_whisper(seat, frame))

    def _leg_failed(self, sc: _SeatCall, exc: Exception) -> None:
        """A fault in one seat's leg: it ends (BYE or CANCEL if they can be built), and the queue
        hears it as a seat gone: a put-through caller hears the goodbye, a waiting one the next seat."""
        seat, frame = sc.seat_id, self.frame
        log.error("seat %s: its leg failed (%s); it ends alone", seat, type(exc).__name__, exc_info=exc)
        reported = sc.ended_at is not None  # the queue already knows this leg is over
        try:
            sc.leg.hang_up(self._now)
            self._flush(sc)
        except Exception:
            log.exception("seat %s: no BYE or CANCEL could be sent; the leg just ends", seat)
            sc.leg.abandon()
        if reported:
            self._forget(sc)
            return
        self._end(sc)
        if self._bridges.get(sc.caller) is sc:
            del self._bridges[sc.caller]  # the line sees it (bridged_to) and says goodbye
        if sc.connected:
            self.desk.take(self.queue.seat_done(seat, frame))
        elif sc.whispering:
            sc.whispering = False
            self.desk.take(self.queue.seat_hung_up_in_whisper(seat, frame))
        else:
            self.desk.take(self.queue.seat_unreachable(seat, frame))

    # --- the queue's actions ----------------------------------------------------------------

    def _on_actions(self, actions: list[QueueAction]) -> None:
        claimed = self.claimed
        for action in actions:
            self.log.append((self.frame, action))
            if claimed is None:
                self._on_action(action)
            else:
                claimed.tell(action)
                if claimed.saw(action):
                    continue  # a Ring: dialled once the claim is won
            if isinstance(action, Ring):
                self._dial(action.seat_id, action.call_id)
            elif isinstance(action, StopRinging):
                sc = self._ringing.get(action.seat_id)
                if sc is not None and sc.caller == action.call_id:
                    sc.leg.cancel(self._now)
                    self._flush(sc)
                    self._end(sc)
            elif isinstance(action, Whisper):
                sc = self._ringing.get(action.seat_id)
                if sc is not None and sc.caller == action.call_id:
                    sc.whispering = True
                    log.debug("whisper to seat %s: %s", action.seat_id, action.text)
                    if not self.voice.submit(sc.leg.call_id, action.text):
                        sc.whisper = deque()  # no voice to spare: put the caller through unannounced
            elif isinstance(action, Connected):
                sc = self._ringing.get(action.seat_id)
                if sc is not None and sc.caller == action.call_id:
                    sc.connected = True
                    self._bridges[action.call_id] = sc

    def _dial(self, seat_id: str, call_id: str) -> None:
        seat = self.seats[seat_id]
        try:
            plan = self.dialing.plan(seat)
            sock = self._open_rtp()
        except (OSError, ValueError) as exc:
            log.warning("cannot ring seat %s: %s", seat_id, exc)
            self._pending.later.append(lambda: self.queue.seat_unreachable(seat_id, self.frame))
            return
        leg = SeatLeg(plan, self.dialing.local, sock, self._now, session_id=self.stats.legs + 1)
        sc = _SeatCall(seat_id, call_id, leg, self.frame)
        self._legs[leg.call_id] = sc
        self._ringing[seat_id] = sc
        self.stats.legs += 1
        self._flush(sc)
        log.info("ringing seat %s", seat_id)

    # --- inside --------------------------------------------------------------------------

    def _flush(self, sc: _SeatCall) -> None:
        for data, to in sc.leg.take_outbox():
            self._send(data, to)

    def _end(self, sc: _SeatCall) -> None:
        if sc.ended_at is None:
            sc.ended_at = self._now
        if self._ringing.get(sc.seat_id) is sc:
            del self._ringing[sc.seat_id]

    def _forget(self, sc: _SeatCall) -> None:
        self._end(sc)
        self._legs.pop(sc.leg.call_id, None)
        sc.leg.close()  # its RTP port is free again
