"""Staying registered with a registrar: digest auth, the granted expiry, and outages survived.

A state machine driven by the media clock (``tick``) and by responses
(``on_response``); it never blocks. An unanswered REGISTER is retransmitted
(an RFC 3261 non-INVITE client transaction: timer E over UDP, none over TCP
or TLS) and, after 8 s of silence, retried with backoff from 2 s up to 60 s,
for as long as the line runs; calls in progress are never held up.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from ivr.telephony.digest import authorization, parse_challenge
from ivr.telephony.sip_message import SipMessage, format_hostport, new_branch, new_call_id, new_tag, request
from ivr.telephony.transactions import ClientTransaction

log = logging.getLogger(__name__)
Address = tuple[str, int]
NO_ANSWER_S = 8.0
BACKOFF_S = (2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
_EXPIRES = re.compile(r";\s*expires\s*=\s*(\d+)", re.IGNORECASE)


def refresh_delay(granted: int) -> float:
    """When to refresh a binding granted for ``granted`` seconds: always before it lapses.

    Long grants at 80 %, short ones at half; never sooner than 1 s (a registrar that
    grants almost nothing is not hammered), and never at or after the expiry itself.
    """
    delay = granted * 0.8 if granted > 60 else granted / 2
    return max(delay, min(1.0, granted / 2)) if granted > 0 else 1.0


@dataclass
class Registration:
    server: Address
    username: str
    password: str
    local: Address  # our address for ``transport`` (Via sent-by, Contact)
    expires: int
    transport: str = "UDP"  # UDP, TCP or TLS: the REGISTER goes over it, the Contact names it
    state: str = "idle"  # idle | registering | registered | waiting | unregistering | unregistered
    granted: int | None = None
    refresh_at: float | None = None
    retry_at: float | None = None
    failures: int = 0
    call_id: str = ""
    tag: str = field(default_factory=new_tag)
    cseq: int = 0
    pending: ClientTransaction | None = None
    _auth_tries: int = 0
    registrations: int = 0  # successful REGISTERs, for tests and the bench
    _outbox: list[tuple[bytes, Address]] = field(default_factory=list)  # what to send next

    def __post_init__(self) -> None:
        self.call_id = new_call_id(self.local[0])

    @property
    def unregistered(self) -> bool:
        return self.state in ("unregistered", "idle")

    @property
    def registered(self) -> bool:
        return self.state == "registered"

    def owns(self, resp: SipMessage) -> bool:
        return resp.call_id == self.call_id

    def begin(self, now: float) -> None:
        self._auth_tries = 0
        self._send_register(now, self.expires)

    def end(self, now: float) -> None:
        if self.state in ("registered", "registering"):
            self._auth_tries = 0
            self._send_register(now, 0)
            self.state = "unregistering"
        else:
            self.state = "unregistered"
            self.pending = None

    def next_deadline(self) -> float:
        times = [t for t in (self.refresh_at, self.retry_at) if t is not None]
        if self.pending is not None:
            times.append(self.pending.next_deadline())
        return min(times) if times else float("inf")

    # --- the clock ---------------------------------------------------------------------

    def tick(self, now: float) -> list[tuple[bytes, Address]]:
        out: list[tuple[bytes, Address]] = []
        if self.pending is not None:
            if (again := self.pending.due(now)) is not None:
                out.append((again, self.pending.to))
            if self.pending.timed_out:
                self.pending = None
                self._failed(now, "no answer from the registrar")
        if self.retry_at is not None and now >= self.retry_at:
            self.retry_at = None
            self._auth_tries = 0
            self._send_register(now, self.expires)
        if self.refresh_at is not None and now >= self.refresh_at:
            self.refresh_at = None
            self._auth_tries = 0
            self._send_register(now, self.expires)
        return out + self.take_outbox()

    # --- responses ---------------------------------------------------------------------

    def on_response(self, resp: SipMessage, now: float) -> None:
        if resp.cseq[0] != self.cseq:
            return
        if resp.status < 200:  # the registrar is working on it: resent at T2 from now on
            if self.pending is not None:
                self.pending.on_response(resp.status, now)
            return
        self.pending = None
        asked = 0 if self.state == "unregistering" else self.expires
        if resp.status in (401, 407) and self._auth_tries < 2:
            header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
            challenge = parse_challenge(resp.header(header) or "")
            self._auth_tries += 1
            answer = authorization(challenge, "REGISTER", self._uri(), self.username, self.password)
            name = "Authorization" if resp.status == 401 else "Proxy-Authorization"
            self._send_register(now, asked, auth=(name, answer))
            return
        if 200 <= resp.status < 300:
            if self.state == "unregistering":
                self.state = "unregistered"
                return
            self.granted = self._granted(resp)
            self.state = "registered"
            self.failures = 0
            self.registrations += 1
            self.refresh_at = now + refresh_delay(self.granted)
            log.info("registered with %s:%d for %d s", self.server[0], self.server[1], self.granted)
            return
        if self.state == "unregistering":
            self.state = "unregistered"
            return
        self._failed(now, f"{resp.status} {resp.reason}")

    def _granted(self, resp: SipMessage) -> int:
        mine = f"{format_hostport(*self.local)}"
        for contact in resp.all("Contact"):
            for part in contact.split(","):
                if mine in part and (m := _EXPIRES.search(part)):
                    return int(m[1])
        expires = resp.header("Expires")
        return int(expires) if expires and expires.strip().isdigit() else self.expires

    def _failed(self, now: float, why: str) -> None:
        delay = BACKOFF_S[min(self.failures, len(BACKOFF_S) - 1)]
        self.failures += 1
        self.state = "waiting"
        self.retry_at = now + delay
        log.warning(
            "registration with %s:%d failed (%s); retrying in %g s",
            self.server[0],
            self.server[1],
            why,
            delay,
        )

    # --- sending -----------------------------------------------------------------------

    def _uri(self) -> str:
        return f"sip:{format_hostport(*self.server)}{self._param()}"

    def _param(self) -> str:
        return "" if self.transport == "UDP" else f";transport={self.transport.lower()}"

    def _send_register(self, now: float, expires: int, auth: tuple[str, str] | None = None) -> None:
        self.cseq += 1
        aor = f"<sip:{self.username}@{format_hostport(*self.server)}>"
        headers = [
            ("Expires", str(expires)),
            ("User-Agent", "ivr/0.1"),
        ]
        if auth is not None:
            headers.append(auth)
        msg = request(
            "REGISTER",
            self._uri(),
            via=f"SIP/2.0/{self.transport} {format_hostport(*self.local)};branch={new_branch()};rport",
            from_=f"{aor};tag={self.tag}",
            to=aor,
            call_id=self.call_id,
            cseq=self.cseq,
            contact=f"<sip:{self.username}@{format_hostport(*self.local)}{self._param()}>;expires={expires}",
            headers=headers,
        ).serialize()
        if expires:
            self.state = "registering" if self.state != "registered" else self.state
        self.pending = ClientTransaction.start(msg, self.server, now, invite=False, timeout=NO_ANSWER_S)
        self._outbox.append((msg, self.server))

    def take_outbox(self) -> list[tuple[bytes, Address]]:
        out, self._outbox = self._outbox, []
        return out
