"""The answering side of one SIP dialog: what an INVITE fixes for the life of the call it starts.

The desk line answers callers and a seat phone answers the line; both keep,
from the INVITE they took (RFC 3261 §12.1.1): the To tag they chose, the
far end's Contact (the remote target) and the Record-Route set. From those
come the responses to that INVITE, which go where its top Via says
(§18.2.2, RFC 3581), the 200 OK that copies the route set, and the BYE the
answering side may send later: to the remote target, through the route set,
with its own CSeq count (§12.2.1.1, §15).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from ivr.telephony.sip_message import (
    SipMessage,
    format_hostport,
    new_branch,
    new_tag,
    parse_name_addr,
    request,
    response_wire,
    uri_hostport,
    uri_transport,
)

Address = tuple[str, int]


@dataclass
class AnsweringDialog:
    invite: SipMessage
    source: Address  # where the INVITE came from
    to_tag: str = field(default_factory=new_tag)
    remote_target: str = ""  # the far end's Contact URI: where in-dialog requests go
    route_set: list[str] = field(default_factory=list)  # Record-Route, in order
    local_cseq: int = 1

    def __post_init__(self) -> None:
        if not self.remote_target:
            contact = self.invite.header("Contact")
            self.remote_target = self.invite.name_addr("Contact")[1] if contact else self.invite.uri
        if not self.route_set:
            self.route_set = [v.strip() for v in self.invite.all("Record-Route")]

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    @property
    def transport(self) -> str:
        """How requests in this dialog go (the transport puts them on a connection the call uses):
        what the first hop's URI asks (``;transport=``, ``sips:``), else the way the INVITE came."""
        hop = parse_name_addr(self.route_set[0])[1] if self.route_set else self.remote_target
        return uri_transport(hop) or self.invite.top_via.transport

    @functools.cached_property  # the INVITE and where it came from are the dialog's for good
    def reply_to(self) -> Address:
        """Where responses to the INVITE go: its top Via, with received/rport (RFC 3261 §18.2.2)."""
        return self.invite.top_via.response_address(self.source)

    def answer(self, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()) -> bytes:
        """A response to the INVITE without a body (180, 486, 487, 480, 503...), in this dialog."""
        return response_wire(
            self.invite, status, reason, to_tag=self.to_tag, headers=headers, source=self.source
        )

    def ok(self, contact: str, sdp_body: bytes, headers: Sequence[tuple[str, str]] = ()) -> bytes:
        """The 200 OK with the SDP answer: Contact, the route set copied back (§12.1.1), then ``headers``."""
        return response_wire(
            self.invite,
            200,
            "OK",
            to_tag=self.to_tag,
            headers=[
                *headers,
                ("Contact", contact),
                *(("Record-Route", r) for r in self.route_set),
            ],
            body=sdp_body,
            content_type="application/sdp",
            source=self.source,
        )

    def bye(self, local: Address) -> tuple[bytes, Address]:
        """A BYE from the answering side, and the first hop it goes to (the first route, else the
        remote target; the INVITE's source when neither names a host)."""
        return self.request("BYE", local)

    def request(
        self, method: str, local: Address, headers: Sequence[tuple[str, str]] = ()
    ) -> tuple[bytes, Address]:
        """A request from the answering side in this dialog (BYE, a session refresh's UPDATE), and
        its first hop, as :meth:`bye` says."""
        self.local_cseq += 1
        from_value = self.invite.header("To") or ""
        if ";tag=" not in from_value:
            from_value = f"{from_value};tag={self.to_tag}"
        data = request(
            method,
            self.remote_target,
            via=f"SIP/2.0/{self.transport} {format_hostport(*local)};branch={new_branch()};rport",
            from_=from_value,
            to=self.invite.header("From") or "",
            call_id=self.call_id,
            cseq=self.local_cseq,
            headers=[*(("Route", r) for r in self.route_set), *headers],  # request() writes Max-Forwards
        ).serialize()
        hop_uri = parse_name_addr(self.route_set[0])[1] if self.route_set else self.remote_target
        try:
            hop = uri_hostport(hop_uri)
        except ValueError:
            hop = self.source
        return data, hop
