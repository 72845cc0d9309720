"""What a request must pass when it arrives, before a UAS acts on it (RFC 3261 §8.2).

A message that parses can still carry a header a dialog cannot use later: a
``Record-Route`` without its closing ``>``, a ``Contact`` that is no URI. Found
mid-call (building the BYE on the media clock) such a header would fail there;
found here it fails the one request, with ``400`` and what is wrong in the
reason phrase, and no dialog is made. The same check serves a UAC for the 2xx
it is about to build a dialog from (:func:`dialog_header_problem`).

The other arrival checks: ``Max-Forwards: 0`` is ``483 Too Many Hops`` (OPTIONS
excepted: a UAS answers it itself, RFC 3261 §11 and §16.3 step 2), and a
``Require`` naming an option we do not support is ``420 Bad Extension`` with an
``Unsupported`` header listing them (§8.2.2.3; never for ACK or CANCEL). A
merged request (§8.2.2.2) needs the transactions the line keeps, so the line
checks that itself.

Reason phrases name headers and what is wrong, never a URI's user part.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ivr.telephony.sip_message import SipMessage, SipParseError, Via, parse_name_addr, uri_hostport

MAX_REASON = 100  # a reason phrase is one short line


@dataclass(frozen=True, slots=True)
class Refusal:
    """The final response a request gets instead of being handled."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def _without_prefix(text: str, *prefixes: str) -> str:
    for prefix in prefixes:
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _check_uri(uri: str, *, sip_only: bool) -> None:
    scheme, colon, _ = uri.partition(":")
    if not colon or not scheme:
        raise SipParseError("URI has no scheme")
    if scheme.lower() in ("sip", "sips"):
        uri_hostport(uri)  # a host, and a port that is a port
    elif sip_only:
        raise SipParseError(f"{scheme[:10]!r} URI where a sip or sips URI must be")


def _check_name_addr(value: str, *, angle: bool, sip_only: bool) -> None:
    if angle and "<" not in value:
        raise SipParseError("the URI must be in <...>")
    _, uri, _ = parse_name_addr(value)
    _check_uri(uri, sip_only=sip_only)


def _check_addr_header(message: SipMessage, name: str) -> None:
    """From or To: a name-addr whose URI has a scheme (a sip or sips one with a host and a port)."""
    if message.header(name) is None:
        _check_name_addr("", angle=False, sip_only=False)  # raises, as an empty value does
    _check_uri(message.name_addr(name)[1], sip_only=False)


def _check_contact(message: SipMessage, value: str, *, sip_only: bool) -> None:
    """One Contact: a name-addr with a URI (a sip or sips one with a host where ``sip_only``)."""
    if value == message.header("Contact"):  # the one Contact line: parsed once, the dialog reads it too
        _check_uri(message.name_addr("Contact")[1], sip_only=sip_only)
    else:
        _check_name_addr(value, angle=False, sip_only=sip_only)


def dialog_header_problem(message: SipMessage) -> str | None:
    """What is wrong with a header a dialog uses later, as a reason phrase; ``None`` when all is well.

    Every Via; From and To (a name-addr whose URI has a scheme); every Contact (a name-addr,
    one sip/sips URI with a host in an INVITE or a response; ``*`` only in REGISTER); every
    Record-Route and Route (``<sip:...>`` with a host). ``"Bad Record-Route: '<' without a closing '>'"``.
    Checked in that order (the top Via first), and the first problem is the one told.
    """
    vias = message.all("Via")
    if vias:
        try:
            message.top_via  # noqa: B018 - parsed once per message, and checked so
        except SipParseError as exc:
            return _bad("Via", exc)
    name = "Via"
    try:
        for value in vias[1:]:  # the top one: parsed by the message, above
            Via.parse(value)
        for name in ("From", "To"):
            _check_addr_header(message, name)
        for name in ("Record-Route", "Route"):
            for value in message.all(name):
                _check_name_addr(value, angle=True, sip_only=True)
        name = "Contact"
        contacts = message.all("Contact")
        if contacts != ["*"] or message.method != "REGISTER":
            dialog = message.method == "INVITE" or not message.is_request  # its Contact is the remote target
            for value in contacts:
                _check_contact(message, value, sip_only=dialog)
    except SipParseError as exc:
        return _bad(name, exc)
    if message.method == "INVITE" and len(contacts) > 1:
        return "Bad Contact: more than one in an INVITE"
    return None


def _bad(name: str, exc: SipParseError) -> str:
    """The reason phrase for a header that failed its check: ``Bad <name>: <what is wrong>``."""
    what = _without_prefix(str(exc), "name-addr: ", "Via: ", "URI: ")
    return f"Bad {name}: {what}"[:MAX_REASON]


def refusal(request: SipMessage, supported: Collection[str] = ()) -> Refusal | None:
    """The response a request gets on arrival instead of being handled, or ``None`` to handle it.

    ``supported``: the option tags this UAS implements (a ``Require`` of any other is refused).
    An ACK is never refused: it gets no response.
    """
    if request.method == "ACK":
        return None
    problem = dialog_header_problem(request)
    if problem is not None:
        return Refusal(400, problem)
    hops = request.header("Max-Forwards")
    if hops is not None:
        if not hops.isdigit() or int(hops) > 255:
            return Refusal(400, "Bad Max-Forwards: not a number 0..255")
        if int(hops) == 0 and request.method != "OPTIONS":
            return Refusal(483, "Too Many Hops")
    if request.method != "CANCEL" and (required := request.all("Require")):
        known = {option.lower() for option in supported}
        unsupported = [tag for tag in required if tag.lower() not in known]
        if unsupported:
            return Refusal(420, "Bad Extension", (("Unsupported", ", ".join(unsupported)),))
    return None
