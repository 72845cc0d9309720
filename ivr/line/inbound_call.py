"""One call to the desk line, as SIP sees it: from INVITE to the last BYE, and its media and engine."""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from ivr.call.engine import CallEngine
from ivr.hearing.caller_speech import SpeechGate
from ivr.line.call_tickets import CallTickets
from ivr.telephony.answering_dialog import AnsweringDialog
from ivr.telephony.call_media import CallMedia
from ivr.telephony.sdp import Offer
from ivr.telephony.session_timer import SessionTimer
from ivr.telephony.sip_message import SipMessage
from ivr.telephony.srtp import Keys
from ivr.telephony.transactions import ClientTransaction, ServerTransaction

Address = tuple[str, int]


class CallState(Enum):
    RINGING = "ringing"  # 100 and 180 sent, waiting for the answer moment
    ANSWERED = "answered"  # 200 sent; media runs from here
    ENDED = "ended"


@dataclass
class InboundCall:
    call_id: str
    dialog: AnsweringDialog  # the INVITE, where it came from, our To tag, the caller's target and routes
    branch: str
    offer: Offer
    arrived: float  # monotonic seconds
    arrived_wall: datetime
    answer_at: float
    invite_tx: ServerTransaction  # the INVITE's: its responses, the last resent until ACK (§17.2.1)
    state: CallState = CallState.RINGING
    bye: ClientTransaction | None = None  # our BYE until its final response
    media: CallMedia | None = None
    engine: CallEngine | None = None
    speech: SpeechGate | None = None  # the caller's words to the recogniser
    answered_tick: int = 0  # media-clock ticks from arrival to answer
    ticks_since_arrival: int = 0
    on_console: bool = False  # its ringing row was handed to the console (a few new calls a tick)
    caller_hung_up: bool = False
    ended_at: float | None = None
    quiet_until: float = 0.0  # ended: the media clock has nothing to do for it before then (its timers)
    recorded: bool = False
    farewell: deque[bytes] | None = None  # the goodbye to a put-through caller (seat gone, line closing)
    farewell_wait: int = 0  # frames after the goodbye in which the caller may hang up first (line 35)
    media_lost: bool = False  # the caller's phone stopped sending RTP (no BYE): the line ended the call
    seat: str | None = None  # the seat the call was put through to
    closing_at: float | None = None  # the line is closing: when a put-through call starts its goodbye
    tickets: CallTickets | None = None  # the callback tickets the call asked for, and their outcome
    record_id: str = field(default_factory=lambda: secrets.token_hex(16))  # its register (and tickets) id
    failure: str | None = None  # the fault that ended the call, in one line
    sdp_sent: bytes = b""  # our last SDP (answer or offer): the next differs in version only if it changed
    sdp_version: int | None = None  # its o= version (RFC 3264 §8: +1 for each changed description)
    reinvite_branch: str = ""  # the latest re-INVITE's branch, to answer its retransmissions
    reinvite_tx: ServerTransaction | None = None  # and its transaction
    reliable_180: ClientTransaction | None = None  # RFC 3262: our 180 with RSeq, until its PRACK
    rseq: int = 0  # that 180's RSeq
    timer: SessionTimer | None = None  # RFC 4028, when the INVITE asked for it
    refresh: ClientTransaction | None = None  # our session refresh (UPDATE) until its final response
    srtp: Keys | None = None  # the call's SDES keys when it is SRTP (ours answers, theirs checks)
    offer_pending: int | None = (
        None  # CSeq of a re-INVITE without SDP whose 200 has our offer: its ACK answers
    )

    def transactions(self) -> list[ClientTransaction | ServerTransaction]:
        """The call's transactions that may still have something to resend."""
        found = (self.invite_tx, self.reinvite_tx, self.bye, self.refresh, self.reliable_180)
        return [tx for tx in found if tx is not None]

    @property
    def invite(self) -> SipMessage:
        return self.dialog.invite

    @property
    def caller_number(self) -> str | None:
        from ivr.telephony.sip_message import parse_name_addr, uri_user

        value = self.invite.header("From")
        if value is None:
            return None
        _, uri, _ = parse_name_addr(value)
        user = uri_user(uri)
        return user if user and user.lower() not in ("anonymous", "unknown") else None
