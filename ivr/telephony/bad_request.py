"""The answer to a request that does not parse, when one can be addressed (RFC 3261 §8.1.3.1, §21.4.1).

``parse`` refuses a malformed message as a whole; dropping it leaves the sender
retransmitting for 32 s and its user with no idea why. When enough of the
request can still be read to address a reply (a request line that is not an
ACK's; a top Via whose sent-by is a host; From, To, Call-ID and CSeq), it is
answered ``400`` with what is wrong in the reason phrase, its dialog headers
copied as written (the first of each when doubled), and a To tag of its own:
``SIP/2.0 400 Bad Request: Content-Length is 9999 but the body has 10 bytes``.
A request for another SIP version gets ``505 Version Not Supported``
(§8.2.6.1, RFC 4475 §3.1.2.16). A response, an ACK, or a request without those
headers gets nothing: nobody to tell, or no way to reach them.

The reason phrase is the parser's own words, which name headers and what is
wrong with them, never a URI's user part; it is one line of at most 100 characters.
"""

from __future__ import annotations

import re

from ivr.telephony.sip_message import COMPACT, SIP_VERSION, SipParseError, Via, new_tag, split_list

Address = tuple[str, int]
MAX_REASON = 100
_NEEDED = ("via", "from", "to", "call-id", "cseq")
_VERSION = re.compile(rb"^SIP/\d+\.\d+$", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def bad_request(data: bytes, problem: str, source: Address) -> tuple[bytes, Address] | None:
    """The 400 (or 505) for ``data``, which ``parse`` refused saying ``problem``, and where it goes;
    ``None`` when ``data`` is no request that can be answered."""
    lines = _head_lines(data)
    if not lines:
        return None
    request_line = lines[0].split()
    if not request_line or request_line[0].startswith(b"SIP/") or request_line[0].upper() == b"ACK":
        return None  # a response, or an ACK: never answered
    headers = _headers(lines[1:])
    if any(name not in headers for name in _NEEDED):
        return None
    vias = headers["via"]
    top_items = split_list(vias[0].decode("latin-1"))  # latin-1: every byte kept as it came
    try:
        top = Via.parse(top_items[0])
    except (SipParseError, IndexError):
        return None
    version = request_line[-1] if len(request_line) == 3 else b""
    if _VERSION.match(version) and version.upper() != SIP_VERSION.encode():
        status = f"505 Version Not Supported: {version.decode('ascii', 'replace')} (only {SIP_VERSION})"
    else:
        status = f"400 {_phrase(f'Bad Request: {problem}')}"
    to = headers["to"][0]
    if b";tag=" not in to.replace(b" ", b"").lower():
        to += b";tag=" + new_tag().encode()
    top_items[0] = top.with_received(source)
    out = [
        f"{SIP_VERSION} {status}".encode(),
        b"Via: " + ", ".join(top_items).encode("latin-1", "replace"),
        *(b"Via: " + v for v in vias[1:]),
        b"From: " + headers["from"][0],
        b"To: " + to,
        b"Call-ID: " + headers["call-id"][0],
        b"CSeq: " + headers["cseq"][0],
        b"Content-Length: 0",
    ]
    return b"\r\n".join(out) + b"\r\n\r\n", top.response_address(source)


def _head_lines(data: bytes) -> list[bytes]:
    """The start line and header lines, continuation lines joined to theirs (§7.3.1)."""
    data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    head = data if end < 0 else data[:end]
    lines: list[bytes] = []
    for line in head.split(b"\n"):
        line = line.rstrip(b"\r")
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] = lines[-1] + b" " + line.strip()
        else:
            lines.append(line)
    return lines


def _headers(lines: list[bytes]) -> dict[str, list[bytes]]:
    """Header name (lower case, compact forms expanded) to values as written, for the five a reply needs."""
    found: dict[str, list[bytes]] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        key = name.strip().decode("latin-1").lower()
        key = COMPACT.get(key, key).lower()
        if key in _NEEDED and value.strip():
            found.setdefault(key, []).append(value.strip())
    return found


def _phrase(text: str) -> str:
    """One line of printable text, at most ``MAX_REASON`` characters."""
    return _CONTROL.sub(" ", text).strip()[:MAX_REASON]
