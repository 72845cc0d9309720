"""A minimal SIP UAS on 127.0.0.1 for checking sipp scenarios and the sipp wrapper.

It answers, on one UDP socket served by one thread:

- OPTIONS: ``options_status`` (200 by default);
- INVITE: 100 and 180 at once, 200 with a PCMU answer after ``answer_after_s``;
  a retransmission (same branch) gets the last provisional again, never a
  second dialog; CANCEL before the answer: 200, then 487 for the INVITE;
- ACK: nothing; BYE: 200; anything else: 501.

It is a test double, not a SIP stack: no 200 retransmission, no Record-Route,
no authentication. Counters (``dialogs``, ``requests``) let tests assert what
it saw. ``with MiniUas() as uas:`` starts it and always stops its thread.
"""

from __future__ import annotations

import collections
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from types import TracebackType

from tests.telephony.harness.ports import LOOPBACK


@dataclass(slots=True)
class _Pending:
    request: dict[str, list[str]]
    first_line: str
    peer: tuple[str, int]
    to_tag: str
    branch: str
    answer_at: float
    last_provisional: bytes


def _parse(data: bytes) -> tuple[str, dict[str, list[str]]]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", errors="replace")
    lines = head.split("\r\n")
    headers: dict[str, list[str]] = collections.defaultdict(list)
    compact = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length"}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[compact.get(key, key)].append(value.strip())
    return lines[0], headers


def _branch(headers: dict[str, list[str]]) -> str:
    via = headers.get("via", [""])[0]
    for param in via.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "branch":
            return value.strip()
    return ""


class MiniUas:
    """A tiny SIP UAS on a free UDP port of 127.0.0.1 (see the module docstring)."""

    def __init__(self, *, options_status: int = 200, answer_after_s: float = 0.05, port: int = 0) -> None:
        self.options_status = options_status
        self.answer_after_s = answer_after_s
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((LOOPBACK, port))
        self.host, self.port = LOOPBACK, int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}  # by Call-ID
        self.requests: collections.Counter[str] = collections.Counter()  # method → count, retransmissions too
        self.dialogs: list[tuple[str, str]] = []  # (Call-ID, To tag) of every 200 sent for an INVITE
        self._thread = threading.Thread(target=self._serve, name=f"mini-uas-{self.port}", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def uri(self, user: str = "ivr") -> str:
        return f"sip:{user}@{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> MiniUas:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the serving thread --------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                due = [p for p in self._pending.values() if p.answer_at <= now]
                next_at = min((p.answer_at for p in self._pending.values()), default=now + 0.05)
            for pending in due:
                self._answer(pending)
            self._sock.settimeout(max(0.001, min(0.05, next_at - time.monotonic())))
            try:
                data, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if data.startswith(b"SIP/2.0"):
                continue  # responses (to nothing we sent) are ignored
            self._handle(data, peer)

    def _reply(
        self,
        peer: tuple[str, int],
        headers: dict[str, list[str]],
        status: int,
        reason: str,
        to_tag: str | None = None,
        body: str = "",
        cseq: str | None = None,
    ) -> bytes:
        to = headers.get("to", [""])[0]
        if to_tag and ";tag=" not in to:
            to = f"{to};tag={to_tag}"
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {via}" for via in headers.get("via", [])]
        lines += [
            f"From: {headers.get('from', [''])[0]}",
            f"To: {to}",
            f"Call-ID: {headers.get('call-id', [''])[0]}",
            f"CSeq: {cseq or headers.get('cseq', [''])[0]}",
            f"Contact: <sip:uas@{self.host}:{self.port}>",
            "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        message = ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
        self._sock.sendto(message, peer)
        return message

    def _handle(self, data: bytes, peer: tuple[str, int]) -> None:
        first, headers = _parse(data)
        method = first.split(" ", 1)[0]
        self.requests[method] += 1
        call_id = headers.get("call-id", [""])[0]
        if method == "OPTIONS":
            self._reply(peer, headers, self.options_status, "OK" if self.options_status == 200 else "Status")
        elif method == "INVITE":
            with self._lock:
                pending = self._pending.get(call_id)
                if pending is not None and pending.branch == _branch(headers):
                    self._sock.sendto(pending.last_provisional, peer)  # a retransmission
                    return
                if any(cid == call_id for cid, _ in self.dialogs):
                    return  # retransmission after the answer: a real UAS resends its 200
            tag = uuid.uuid4().hex[:8]
            self._reply(peer, headers, 100, "Trying")
            ringing = self._reply(peer, headers, 180, "Ringing", to_tag=tag)
            with self._lock:
                self._pending[call_id] = _Pending(
                    headers,
                    first,
                    peer,
                    tag,
                    _branch(headers),
                    time.monotonic() + self.answer_after_s,
                    ringing,
                )
        elif method == "CANCEL":
            with self._lock:
                pending = self._pending.pop(call_id, None)
            self._reply(peer, headers, 200, "OK", to_tag=uuid.uuid4().hex[:8])
            if pending is not None:
                self._reply(pending.peer, pending.request, 487, "Request Terminated", to_tag=pending.to_tag)
        elif method == "BYE":
            self._reply(peer, headers, 200, "OK")
        elif method != "ACK":
            self._reply(peer, headers, 501, "Not Implemented", to_tag=uuid.uuid4().hex[:8])

    def _answer(self, pending: _Pending) -> None:
        call_id = pending.request.get("call-id", [""])[0]
        with self._lock:
            if self._pending.pop(call_id, None) is None:
                return
            self.dialogs.append((call_id, pending.to_tag))
        sdp = (
            "v=0\r\n"
            f"o=uas 1 1 IN IP4 {self.host}\r\n"
            "s=-\r\n"
            f"c=IN IP4 {self.host}\r\n"
            "t=0 0\r\n"
            "m=audio 9 RTP/AVP 0\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
        )
        self._reply(pending.peer, pending.request, 200, "OK", to_tag=pending.to_tag, body=sdp)
