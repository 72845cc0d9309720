"""Session timers (RFC 4028) for an answered call, when the caller's side asks for them.

An INVITE with ``Session-Expires`` (from the caller, or a proxy on the way)
gets the interval back in the 200 with who refreshes: the caller (``uac``) unless
the request said ``refresher=uas`` or the caller does not say ``Supported:
timer`` (then only we can refresh, §9). An interval under our minimum is ``422``
with our ``Min-SE``; under the request's own ``Min-SE`` is never chosen.

A re-INVITE or UPDATE answered 2xx is a refresh (it may bring a new interval).
When the caller refreshes and does not, we end the call with BYE a third of
the interval (at most 32 s) before it would expire (§10). When we refresh, an
UPDATE without SDP goes at half the interval. Pure: the line gives the time.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.telephony.sip_message import SipMessage

RFC_MIN_SE = 90  # seconds (§4); a line may be set lower for tests only


@dataclass
class SessionTimer:
    interval: int  # seconds
    refresher: str  # "uac" (the caller) or "uas" (us)
    require: bool  # the caller supports timer: our 2xx says Require: timer (§9)
    refreshed_at: float = 0.0

    def headers(self) -> list[tuple[str, str]]:
        """For a 2xx to the INVITE or to a refresh."""
        out = [("Session-Expires", f"{self.interval};refresher={self.refresher}")]
        return [*out, ("Require", "timer")] if self.require else out

    def refreshed(self, request: SipMessage, now: float) -> None:
        """A refresh (re-INVITE or UPDATE answered 2xx); its Session-Expires, if any, is the new interval."""
        self.refreshed_at = now
        asked = _session_expires(request)
        if asked is not None:
            self.interval = max(asked[0], 1)
            if asked[1] is not None:
                self.refresher = asked[1]

    def expires_at(self) -> float:
        """When we hang up unrefreshed (§10: before the expiry, by a third of it, at most 32 s)."""
        return self.refreshed_at + self.interval - min(32.0, self.interval / 3)

    def refresh_at(self) -> float | None:
        """When we refresh (we are the refresher): half the interval on; else ``None``."""
        return self.refreshed_at + self.interval / 2 if self.refresher == "uas" else None


def negotiate(invite: SipMessage, min_se: int) -> SessionTimer | int | None:
    """The call's timer; an ``int``: the interval is too small, answer 422 with that Min-SE;
    ``None``: no session timer asked for."""
    asked = _session_expires(invite)
    if asked is None:
        return None
    interval, refresher = asked
    floor = max(min_se, _int(invite.header("Min-SE")) or 0)
    if interval < floor:
        return floor
    supports = "timer" in {tag.lower() for tag in invite.all("Supported")}
    if refresher is None or not supports:
        refresher = "uac" if supports else "uas"
    return SessionTimer(interval, refresher, require=supports)


def _session_expires(request: SipMessage) -> tuple[int, str | None] | None:
    value = request.header("Session-Expires")
    if value is None:
        return None
    head, *params = (part.strip() for part in value.split(";"))
    interval = _int(head)
    if interval is None:
        return None
    refresher = None
    for param in params:
        name, _, given = param.partition("=")
        if name.strip().lower() == "refresher" and given.strip().lower() in ("uac", "uas"):
            refresher = given.strip().lower()
    return interval, refresher


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    head = text.split(";", 1)[0].strip()
    return int(head) if head.isdigit() else None
