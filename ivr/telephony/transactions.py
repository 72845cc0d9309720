"""RFC 3261 §17 transactions: what is resent when, and when a transaction is over.

Four kinds, one object each, none with a thread or a clock of its own: the
owner (the desk line, a seat leg, the registration, a test phone) passes
``now`` in and calls ``due(now)`` from its tick; what ``due`` returns is sent
again to ``to``. ``next_deadline()`` says when ``due`` next has work.

- ``ClientTransaction(invite=True)``: timer A resends the INVITE at T1, 2·T1,
  4·T1, … (no T2 cap, §17.1.1.2) until a response; timer B (64·T1) with none:
  ``timed_out``. After a 3xx-6xx, timer D (32 s over UDP) keeps the transaction
  to absorb the response's retransmissions (``on_response`` says they are old).
- ``ClientTransaction(invite=False)``: timer E at T1 doubling to T2, at T2 once a
  provisional came (§17.1.2.2); timer F (64·T1) with no final: ``timed_out``;
  timer K (T4 over UDP) after the final.
- ``ServerTransaction(invite=True)``: a 3xx-6xx is resent on timer G (T1
  doubling to T2) until the ACK; timer H (64·T1) with no ACK: ``timed_out``;
  timer I (T4 over UDP) absorbs ACK retransmissions. A 2xx is the TU's to resend
  (§13.3.1.4, the same schedule, over any transport: it goes end to end) until
  the ACK; kept in the same object.
- ``ServerTransaction(invite=False)``: a retransmitted request gets the last
  response again (``again``); timer J (64·T1 over UDP) after the final.

Over TCP and TLS nothing is resent by the transaction (timers A, E, G are not
started) and D, I, J, K are zero (§17: "for reliable transports"). Matching is
§17.1.3 for responses (branch and CSeq method) and §17.2.3 for requests
(branch, sent-by and method; an ACK matches its INVITE): ``client_key`` and
``server_key``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from ivr.telephony.sip_message import SipMessage

T1 = 0.5
T2 = 4.0
T4 = 5.0
TIMEOUT = 64 * T1  # timers B, F, H, J: 32 s
NEVER = float("inf")
RELIABLE = frozenset({"TCP", "TLS", "SCTP", "WS", "WSS"})

Address = tuple[str, int]
_VIA_TRANSPORT = re.compile(
    rb"^(?:via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*([A-Za-z]+)", re.I | re.M
)


class TxState(Enum):
    CALLING = "calling"  # a client's request sent, nothing heard (non-INVITE: "trying")
    PROCEEDING = "proceeding"  # a provisional came (server: the request is being worked on)
    COMPLETED = "completed"  # a final response: resent (server, failures) or absorbed (client)
    CONFIRMED = "confirmed"  # INVITE server: the ACK came, timer I absorbs its retransmissions
    TERMINATED = "terminated"


def reliable(transport: str) -> bool:
    """Whether a transport is reliable (RFC 3261 §17: no retransmission of its own)."""
    return transport.upper() in RELIABLE


def sent_over(message: bytes) -> str:
    """The transport a message's top Via names (what the SIP transport sends a request over)."""
    end = message.find(b"\r\n\r\n")
    found = _VIA_TRANSPORT.search(message, 0, end if end >= 0 else len(message))
    return found[1].decode("ascii").upper() if found else "UDP"


def client_key(msg: SipMessage) -> tuple[str, str]:
    """§17.1.3: a response belongs to the client transaction of its top Via's branch and CSeq method."""
    return msg.top_via.branch or "", msg.cseq[1]


def server_key(msg: SipMessage) -> tuple[str, str, str]:
    """§17.2.3: a request belongs to the server transaction of its branch, sent-by and method;
    an ACK to that of its INVITE (a CANCEL has its own)."""
    via = msg.top_via
    method = "INVITE" if msg.method == "ACK" else msg.method or ""
    return via.branch or "", via.sent_by.lower(), method


@dataclass
class ClientTransaction:
    """Our request, resent until answered (UDP), given up on after 64·T1 (timers A/B, E/F)."""

    request: bytes
    to: Address
    invite: bool
    started: float
    reliable: bool = False
    timeout: float = TIMEOUT  # B or F; the registration waits less before it backs off
    state: TxState = TxState.CALLING
    timed_out: bool = False  # B or F fired: no (final) response ever came
    final: int | None = None  # the final status, once one came
    interval: float = T1
    next_at: float = NEVER
    ends_at: float = NEVER

    def __post_init__(self) -> None:
        self.ends_at = self.started + self.timeout
        if not self.reliable:
            self.next_at = self.started + T1

    @classmethod
    def start(
        cls,
        request: bytes,
        to: Address,
        now: float,
        *,
        invite: bool,
        transport: str | None = None,
        timeout: float = TIMEOUT,
    ) -> ClientTransaction:
        """The transaction of a request the owner has just sent (the first copy is the owner's);
        over the transport its top Via names unless ``transport`` says otherwise."""
        return cls(request, to, invite, now, reliable(transport or sent_over(request)), timeout)

    @property
    def terminated(self) -> bool:
        return self.state is TxState.TERMINATED

    @property
    def answered(self) -> bool:
        """A final response came: nothing is resent any more."""
        return self.final is not None

    @property
    def waiting(self) -> bool:
        """Still waiting for a final response (and resent over UDP while it waits)."""
        return self.final is None and self.state is not TxState.TERMINATED

    def on_response(self, status: int, now: float) -> bool:
        """A response to our request; whether it is news to the owner (a retransmitted final is not,
        nor anything after the transaction ended)."""
        if self.state is TxState.TERMINATED or self.final is not None:
            return False
        if status < 200:
            if self.invite:  # §17.1.1.2: a provisional stops timer A (and B)
                self.next_at = self.ends_at = NEVER
            elif not self.reliable:  # §17.1.2.2: proceeding, resent at T2
                self.interval = T2
                self.next_at = min(self.next_at, now + T2)
            self.state = TxState.PROCEEDING
            return True
        self.final = status
        self.next_at = NEVER
        if self.invite and status < 300:  # §17.1.1.2: a 2xx ends the INVITE client transaction
            self.state, self.ends_at = TxState.TERMINATED, now
        else:  # timer D (INVITE, 32 s) or K (non-INVITE, T4), zero over TCP/TLS
            self.state = TxState.COMPLETED
            self.ends_at = now + (0.0 if self.reliable else TIMEOUT if self.invite else T4)
        return True

    def due(self, now: float) -> bytes | None:
        """The request to send again now, if its time has come; the timeouts, checked."""
        if self.state is TxState.TERMINATED:
            return None
        if now >= self.ends_at:
            if self.final is None:
                self.timed_out = True
            self.state, self.next_at = TxState.TERMINATED, NEVER
            return None
        if now < self.next_at:
            return None
        if self.invite:  # timer A: doubles, no cap (B bounds it)
            self.interval *= 2
        elif self.state is TxState.CALLING:  # timer E: doubles up to T2
            self.interval = min(self.interval * 2, T2)
        self.next_at += self.interval
        return self.request

    def stop(self) -> None:
        """The owner gives up on the request (a call that ended): nothing more is resent."""
        self.state, self.next_at = TxState.TERMINATED, NEVER

    def next_deadline(self) -> float:
        return NEVER if self.state is TxState.TERMINATED else min(self.next_at, self.ends_at)


@dataclass
class ServerTransaction:
    """A request we answer: its retransmissions absorbed, our final response resent until the ACK
    (INVITE over UDP, timers G/H/I; a 2xx by the §13.3.1.4 rule), or kept for J (non-INVITE)."""

    invite: bool
    to: Address  # where responses go (the top Via's response address)
    reliable: bool = False
    state: TxState = TxState.PROCEEDING
    response: bytes = b""  # the last response sent: a retransmitted request gets it again
    status: int | None = None  # its status
    timed_out: bool = False  # timer H: our final was never ACKed
    acked: bool = False
    interval: float = T1
    next_at: float = NEVER
    ends_at: float = NEVER
    absorbed: int = 0  # retransmitted requests answered again

    @classmethod
    def of(cls, req: SipMessage, to: Address) -> ServerTransaction:
        """The server transaction of a request just arrived, its responses going to ``to``."""
        return cls(req.method == "INVITE", to, reliable(req.top_via.transport))

    @property
    def terminated(self) -> bool:
        return self.state is TxState.TERMINATED

    def respond(self, data: bytes, status: int, now: float) -> None:
        """Record a response the owner has just sent (the first copy is the owner's)."""
        if self.state in (TxState.CONFIRMED, TxState.TERMINATED):
            return
        self.response, self.status = data, status
        if status < 200:
            return
        self.state = TxState.COMPLETED
        if not self.invite:  # timer J
            self.ends_at = now + (0.0 if self.reliable else TIMEOUT)
            return
        self.ends_at = now + TIMEOUT  # timer H (and the 2xx's own 64·T1)
        if status < 300 or not self.reliable:  # timer G; a 2xx goes end to end, whatever our hop
            self.interval, self.next_at = T1, now + T1

    def again(self) -> bytes | None:
        """The request came again: the last response, to send again (None: nothing said yet)."""
        if self.state is TxState.TERMINATED or not self.response:
            return None
        self.absorbed += 1
        return self.response

    def on_ack(self, now: float) -> bool:
        """The ACK of our final response; whether it is the first (news to the owner)."""
        if not self.invite or self.status is None or self.status < 200 or self.acked:
            return False
        self.acked = True
        self.next_at = NEVER
        if self.status < 300:  # §13.3.1.4: the 2xx's retransmission stops; its ACK was a new request
            self.state, self.ends_at = TxState.TERMINATED, now
        else:  # timer I
            self.state = TxState.CONFIRMED
            self.ends_at = now + (0.0 if self.reliable else T4)
        return True

    def due(self, now: float) -> bytes | None:
        """The final response to resend now, if its time has come; timers H, I, J checked."""
        if self.state is TxState.TERMINATED:
            return None
        if now >= self.ends_at:
            if self.state is TxState.COMPLETED and self.invite:
                self.timed_out = True  # timer H: no ACK
            self.state, self.next_at = TxState.TERMINATED, NEVER
            return None
        if now < self.next_at:
            return None
        self.interval = min(self.interval * 2, T2)
        self.next_at += self.interval
        return self.response

    def stop(self) -> None:
        self.state, self.next_at = TxState.TERMINATED, NEVER

    def next_deadline(self) -> float:
        return NEVER if self.state is TxState.TERMINATED else min(self.next_at, self.ends_at)
