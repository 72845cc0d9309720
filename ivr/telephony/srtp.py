"""One call's SRTP (RFC 3711) keyed in its SDP (SDES, RFC 4568), and the line's rule for it.

The rule, ``[sip] srtp``:

- ``"off"``: plain RTP only; an offer of ``RTP/SAVP`` is refused (488);
- ``"offer"``: the caller decides: ``RTP/SAVP`` is answered with SRTP, ``RTP/AVP`` with plain RTP;
- ``"require"``: SRTP only; a plain ``RTP/AVP`` offer is refused (488).

:func:`answer_keys` applies the rule to a far end's offer and gives the
:class:`Keys` of the call (the far end's crypto line we chose, and ours: the
same suite and tag with a fresh key, RFC 4568 §6.1), or ``None`` for plain RTP.
:func:`offered_keys` and :func:`answered_keys` are the same for a call we place.

:class:`SrtpStreams` holds the two libsrtp sessions of a call: ours
(protect, with our key) and the far end's (unprotect, with its key). A packet
that fails authentication, or is replayed, is counted in ``rejected`` and
comes back as ``None``: it is dropped, never raised on the media clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import pylibsrtp

from ivr.telephony import sdp
from ivr.telephony.sdp import Crypto, SdpError

log = logging.getLogger(__name__)
SrtpMode = Literal["off", "offer", "require"]
_PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
TAG_SIZE = {"AES_CM_128_HMAC_SHA1_80": 10, "AES_CM_128_HMAC_SHA1_32": 4}  # RTP's authentication tag


@dataclass(frozen=True, slots=True)
class Keys:
    """A call's SDES keys: ``ours`` protects what we send, ``theirs`` checks what comes."""

    ours: Crypto = field(repr=False)
    theirs: Crypto = field(repr=False)

    @property
    def suite(self) -> str:
        return self.ours.suite


def answer_keys(offer: sdp.Offer, mode: SrtpMode, ours: Crypto | None = None) -> Keys | None:
    """The keys of our answer to ``offer`` under ``mode``, ``None`` for plain RTP; :class:`SdpError`
    (the answer is 488) when the rule refuses the offer. ``ours``: the key we gave before in this
    call (a re-INVITE), kept while the suite stays the same."""
    if not offer.secure:
        if mode == "require":
            raise SdpError(f'the offer is plain RTP ({offer.protocol}) and [sip] srtp = "require"')
        return None
    if mode == "off":
        raise SdpError(f'the offer asks for SRTP ({offer.protocol}) and [sip] srtp = "off"')
    theirs = sdp.choose_crypto(offer)
    if ours is None or ours.suite != theirs.suite:
        ours = sdp.fresh_crypto(theirs.tag, theirs.suite)
    elif ours.tag != theirs.tag:
        ours = Crypto(theirs.tag, ours.suite, ours.key)
    return Keys(ours, theirs)


def offered_keys() -> tuple[Crypto, ...]:
    """Our keys for an offer of our own: one per suite, the stronger tag first."""
    return tuple(sdp.fresh_crypto(tag, suite) for tag, suite in enumerate(sdp.SRTP_SUITES, start=1))


def answered_keys(offered: tuple[Crypto, ...], answer: sdp.Offer) -> Keys | None:
    """The keys agreed by the answer to our offer of ``offered`` (``()``: we offered plain RTP);
    :class:`SdpError` when the answer does not take what we offered."""
    if not offered:
        if answer.secure:
            raise SdpError(f"we offered plain RTP and the answer is {answer.protocol}")
        return None
    if not answer.secure:
        raise SdpError(f"we offered SRTP and the answer is plain RTP ({answer.protocol})")
    theirs = sdp.choose_crypto(answer)
    ours = next((c for c in offered if (c.tag, c.suite) == (theirs.tag, theirs.suite)), None)
    if ours is None:
        raise SdpError(f"the answer's crypto {theirs.tag} {theirs.suite} is none we offered")
    return Keys(ours, theirs)


def _policy(crypto: Crypto, ssrc_type: int) -> pylibsrtp.Policy:
    return pylibsrtp.Policy(key=crypto.key, ssrc_type=ssrc_type, srtp_profile=_PROFILES[crypto.suite])


class SrtpStreams:
    """One call's SRTP and SRTCP, both ways."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self._out = pylibsrtp.Session(_policy(keys.ours, pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
        self._in = pylibsrtp.Session(_policy(keys.theirs, pylibsrtp.Policy.SSRC_ANY_INBOUND))
        self.rejected = 0  # packets (RTP or RTCP) that failed authentication or replayed: dropped

    def rekey(self, keys: Keys) -> None:
        """New keys from a new offer/answer: a side whose key changed starts a new session."""
        if keys.ours != self.keys.ours:
            self._out = pylibsrtp.Session(_policy(keys.ours, pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
        if keys.theirs != self.keys.theirs:
            self._in = pylibsrtp.Session(_policy(keys.theirs, pylibsrtp.Policy.SSRC_ANY_INBOUND))
        self.keys = keys

    @property
    def tag_size(self) -> int:
        """The bytes SRTP adds to each RTP packet we send."""
        return TAG_SIZE[self.keys.ours.suite]

    def protect(self, packet: bytes) -> bytes:
        return self._out.protect(packet)

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self._out.protect_rtcp(packet)

    def unprotect(self, packet: bytes) -> bytes | None:
        """The RTP packet inside, or ``None`` (counted) when it fails authentication or is a replay."""
        try:
            return self._in.unprotect(packet)
        except (pylibsrtp.Error, ValueError) as exc:  # ValueError: longer than libsrtp's buffer
            self._rejected("RTP", exc)
            return None

    def unprotect_rtcp(self, packet: bytes) -> bytes | None:
        """The RTCP compound inside, or ``None`` (counted) as :meth:`unprotect`."""
        try:
            return self._in.unprotect_rtcp(packet)
        except (pylibsrtp.Error, ValueError) as exc:
            self._rejected("RTCP", exc)
            return None

    def _rejected(self, what: str, exc: Exception) -> None:
        self.rejected += 1
        log.debug("an SRTP %s packet was dropped: %s", what, exc)
