"""What the desk line refuses in a well-formed request before acting on it (RFC 3261 §8.2.2, §8.2.3).

The line answers INVITE and OPTIONS outside a dialog. Before it does:

- a Request-URI whose scheme it cannot serve (only ``sip``, ``sips`` and
  ``tel`` name the line) gets 416 Unsupported URI Scheme (§8.2.2.1);
- an INVITE whose body is not SDP gets 415 Unsupported Media Type with
  ``Accept: application/sdp`` (§8.2.3), rather than a 488 that would say the
  offer's codecs were the trouble;
- an INVITE whose ``Accept`` leaves out SDP gets 406 Not Acceptable: the 200
  could only carry an SDP answer the caller says it cannot read (§21.4.7).

Pure: a request in, a :class:`Refusal` or ``None`` out.
"""

from __future__ import annotations

from ivr.telephony.arrival import Refusal
from ivr.telephony.sip_message import SipMessage

SCHEMES = frozenset({"sip", "sips", "tel"})
SDP = "application/sdp"


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _accepts_sdp(ranges: list[str]) -> bool:
    return any(_media_type(r) in (SDP, "application/*", "*/*") for r in ranges)


def cannot_serve(request: SipMessage) -> Refusal | None:
    """The response a request out of a dialog must get instead of being served, or ``None``."""
    scheme = request.uri.partition(":")[0].lower()
    if scheme not in SCHEMES:
        return Refusal(416, "Unsupported URI Scheme")
    if request.method != "INVITE":
        return None
    content_type = request.header("Content-Type")
    if request.body and content_type is not None and _media_type(content_type) != SDP:
        return Refusal(415, "Unsupported Media Type", (("Accept", SDP),))
    accept = request.all("Accept")
    if accept and not _accepts_sdp(accept):
        return Refusal(406, "Not Acceptable")
    return None
