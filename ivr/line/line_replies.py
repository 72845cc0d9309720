"""The desk line's shared state and how it answers: a response where the Via says, our INVITE responses,
our Contact, our session descriptions (RFC 3264 §8 versions).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ivr.config import SipSettings
from ivr.flows.schema import Flow
from ivr.line.call_progress import ProgressWatch
from ivr.line.inbound_call import CallState, InboundCall
from ivr.line.line_parts import LineParts, LineStats
from ivr.line.seat_floor import SeatFloor
from ivr.telephony import sdp
from ivr.telephony.media_clock import MediaClock
from ivr.telephony.registration import Registration
from ivr.telephony.rtp_ports import RtpPorts
from ivr.telephony.sip_message import SipMessage, format_hostport, response_wire
from ivr.telephony.transactions import ClientTransaction, ServerTransaction, server_key
from ivr.telephony.transport import SipTransport

log = logging.getLogger(__name__)
Address = tuple[str, int]
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK"
SUPPORTED = (
    "timer, 100rel"  # RFC 4028 session timers, RFC 3262 reliable 180 (a Require of anything else: 420)
)
SERVER = "ivr/0.1"
MAX_REFUSED = 4096  # refused INVITEs whose failure is resent until ACK (the oldest is let go first)


class LineReplies:
    """What the parts of the desk line share: its settings, calls and transport (set in
    ``DeskLine.__init__``), and how it answers a request, a call's INVITE, an offer."""

    settings: SipSettings
    parts: LineParts
    _now: Callable[[], float]
    _lock: threading.RLock
    _calls: dict[str, InboundCall]
    _refused: dict[tuple[str, str, str], ServerTransaction]
    stats: LineStats
    accepting: bool
    failure: str | None
    on_failure: Callable[[], object]
    transport: SipTransport
    host: str
    port: int
    _rtp: RtpPorts
    _media_limit: int | None
    registration: Registration | None
    clock: MediaClock
    ended: threading.Condition
    frame: int
    _t0: float
    floor: SeatFloor | None
    progress: ProgressWatch | None
    _new_rows: int  # ringing calls the console may still be told of on this tick

    def _reply(
        self,
        req: SipMessage,
        source: Address,
        status: int,
        reason: str,
        *,
        to_tag: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        remember: bool = True,
    ) -> bytes:
        """A response sent where the request's Via says; a failure to an INVITE outside a call (and
        ``remember``) is resent until its ACK (timer G), its INVITE's copies answered with it again."""
        data = response_wire(
            req,
            status,
            reason,
            to_tag=to_tag,
            headers=[("Server", SERVER), *(headers or [])],
            body=body,
            content_type=content_type,
            source=source,  # RFC 3581 §4: the top Via comes back with received and the rport filled
        )
        to = req.top_via.response_address(source)
        self.transport.send(data, to)
        if remember and req.method == "INVITE" and status >= 300:
            tx = ServerTransaction.of(req, to)
            tx.respond(data, status, self._now())
            self._refused[server_key(req)] = tx
            if len(self._refused) > MAX_REFUSED:
                del self._refused[next(iter(self._refused))]
        return data

    def _answer_invite(
        self, call: InboundCall, status: int, reason: str, headers: list[tuple[str, str]] | None = None
    ) -> bytes:
        """A response to the call's INVITE in its dialog (our To tag), sent where its Via says."""
        data = call.dialog.answer(status, reason, [("Server", SERVER), *(headers or [])])
        self.transport.send(data, call.dialog.reply_to)
        call.invite_tx.respond(data, status, self._now())
        return data

    def _flush_registration(self) -> None:
        assert self.registration is not None
        for data, to in self.registration.take_outbox():
            self.transport.send(data, to)

    def _saw(self, call: InboundCall) -> None:
        if self.progress is not None:
            self.progress.saw(call)

    def _flow(self) -> Flow:
        return self.parts.flow

    def _sdp_answer(self, call: InboundCall) -> bytes:
        assert call.media is not None
        port = call.media.local_port
        ours = None if call.srtp is None else call.srtp.ours
        return self._versioned(
            call,
            lambda sid, v: sdp.answer(call.offer, self.host, port, session_id=sid, version=v, crypto=ours),
        )

    def _sdp_offer(self, call: InboundCall) -> bytes:
        """Our offer in the 200 to a re-INVITE without SDP: the stream as it is (SRTP with our key), sendrecv."""
        assert call.media is not None
        media = call.media
        keys = () if call.srtp is None else (call.srtp.ours,)
        dtmf = media.dtmf_pt if media.dtmf_pt is not None and 96 <= media.dtmf_pt <= 127 else None
        return self._versioned(
            call,
            lambda sid, v: sdp.offer(
                self.host, media.local_port, sid, codecs=(media.codec,), dtmf_pt=dtmf, version=v, crypto=keys
            ),
        )

    @staticmethod
    def _versioned(call: InboundCall, describe: Callable[[int, int], bytes]) -> bytes:
        """Our next session description: the same session id all call long, its version one up on the
        last one's when it says anything new, the same when it does not (RFC 3264 §8)."""
        session_id = abs(hash(call.call_id)) % 10**9
        version = session_id if call.sdp_version is None else call.sdp_version
        body = describe(session_id, version)
        if call.sdp_sent and body != call.sdp_sent:
            version += 1
            body = describe(session_id, version)
        call.sdp_version, call.sdp_sent = version, body
        return body

    def _contact(self, invite: SipMessage) -> str:
        """Our Contact for a call: over the transport its INVITE came (in-dialog requests come back on it)."""
        user = self.settings.username or "ivr"
        transport = invite.top_via.transport
        if transport not in ("TCP", "TLS"):
            return f"<sip:{user}@{format_hostport(self.host, self.port)}>"
        host, port = self.transport.local(transport)
        return f"<sip:{user}@{format_hostport(host, port)};transport={transport.lower()}>"

    def _resend(self, tx: ClientTransaction | ServerTransaction | None, now: float) -> bool:
        """Send again what a transaction says is due; whether it timed out just now (B, F, H)."""
        if tx is None or tx.terminated:
            return False
        again = tx.due(now)
        if again is not None:
            self.transport.send(again, tx.to)
        return tx.timed_out

    def live_calls(self) -> int:
        with self._lock:
            return sum(1 for c in self._calls.values() if c.state is not CallState.ENDED)
