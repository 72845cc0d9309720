"""The fuzz test's sender, run as a child process: mangled datagrams in batches, a probe after each.

    python3 -m tests.telephony.fuzz_sender LINE_HOST LINE_PORT RECIPES_JSON

``RECIPES_JSON`` holds batches of ``[seed, program-hex]`` recipes (drawn by
hypothesis in ``test_sip_fuzz.py``). For each batch the sender sends every
mangled datagram from a ``line_probe.Peer`` and then asks the line an OPTIONS
(``Peer.still_answers``), and asks one more whenever 100 kB went out unasked; it prints ``sent N`` and exits 0, or prints where the
line stopped answering and exits 1.

A process of its own, not a thread of the test: the line runs in the test's
process, and a test thread busy mangling and sending holds the GIL the line's
media clock needs; on a loaded machine the scheduler then parks that thread
with the GIL held and the clock waits behind it (a 145 ms gap was seen so).
A caller's phone and a hostile peer are never in the line's process either.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ivr.telephony.sip_message import SipMessage, request
from tests.telephony.harness.ports import LOOPBACK
from tests.telephony.line_probe import Peer


def seeds(peer: str, line: tuple[str, int]) -> list[bytes]:
    """Six well-formed requests from the peer, none in the caller's dialog."""
    uri = f"sip:desk@{line[0]}:{line[1]}"
    via = f"SIP/2.0/UDP {peer}:5060;branch=z9hG4bKfuzz0001;rport"
    g729 = (
        f"v=0\r\no=- 1 1 IN IP4 {LOOPBACK}\r\ns=-\r\nc=IN IP4 {LOOPBACK}\r\nt=0 0\r\n"
        "m=audio 9 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
    ).encode()
    pcmu = g729.replace(b"RTP/AVP 18", b"RTP/AVP 0").replace(b"18 G729", b"0 PCMU")

    def make(method: str, to_tag: str, call: int, cseq: int, body: bytes = b"") -> SipMessage:
        return request(
            method,
            uri,
            via=via,
            from_=f"<sip:13900000001@{peer}>;tag=fuzzfrom",
            to=f"<{uri}>;tag={to_tag}" if to_tag else f"<{uri}>",
            call_id=f"fuzz-{call}@{peer}",
            cseq=cseq,
            contact=f"<sip:fuzz@{peer}:5060>",
            body=body,
            content_type="application/sdp" if body else None,
        )

    out = [
        make("INVITE", "", 1, 1, g729),
        make("INVITE", "nodialog", 2, 2, pcmu),
        make("ACK", "nodialog", 2, 2),
        make("BYE", "nodialog", 3, 3),
        make("OPTIONS", "", 4, 4),
        make("CANCEL", "", 5, 1),
    ]
    return [m.serialize() for m in out]


MAX_DATAGRAM = 65_000
# bytes sent before waiting for an answer to a probe: well under the line's socket buffer (Linux's
# default 208 kB), so the datagrams are read by the line, not dropped by the kernel
WINDOW = 100_000
KINDS = ("flip", "insert", "delete", "double", "cut", "huge")
HUGE = (1_000, 8_000, 30_000, 60_000)
FILLERS = b"x;,%\x00 "


def mangle(seed: bytes, program: bytes) -> bytes:
    """Mangle ``seed`` by ``program``: each 6 bytes ``k a a l s t`` is one operation.

    ``k``: which of flip (byte at offset ``aa`` becomes ``t``), insert (``lst`` at ``aa``),
    delete (``s % 16 + 1`` bytes at ``aa``), double line ``l``, cut line ``l`` at ``aa``, huge
    (line ``l`` grows by 1 to 60 kB of ``t``'s filler). Offsets and lines wrap round; the result is
    cut to one datagram.
    """
    data = bytearray(seed)
    for i in range(0, len(program) - 5, 6):
        k, a1, a2, line_no, size, text = program[i : i + 6]
        kind = KINDS[k % len(KINDS)]
        at = (a1 << 8 | a2) % (len(data) + 1)
        lines = bytes(data).split(b"\r\n")
        line = line_no % len(lines)
        if kind == "flip" and at < len(data):
            data[at] = text
        elif kind == "insert":
            data[at:at] = bytes([line_no, size, text])
        elif kind == "delete":
            del data[at : at + size % 16 + 1]
        elif kind == "double":
            lines.insert(line, lines[line])
            data = bytearray(b"\r\n".join(lines))
        elif kind == "cut":
            lines[line] = lines[line][: at % (len(lines[line]) + 1)]
            data = bytearray(b"\r\n".join(lines))
        elif kind == "huge":
            lines[line] += FILLERS[text % len(FILLERS) :][:1] * HUGE[size % len(HUGE)]
            data = bytearray(b"\r\n".join(lines))
    return bytes(data[:MAX_DATAGRAM])


def main(argv: list[str]) -> int:
    host, port, recipes = argv[0], int(argv[1]), Path(argv[2])
    target = (host, port)
    batches: list[list[tuple[int, str]]] = json.loads(recipes.read_text(encoding="utf-8"))
    sent = 0
    with Peer.open() as peer:
        requests = seeds(peer.host, target)
        for batch in batches:
            in_flight = 0
            for seed, program in batch:
                data = mangle(requests[seed], bytes.fromhex(program))
                if in_flight + len(data) > WINDOW:  # let the line read what it has before more comes
                    if not peer.still_answers(target):
                        print(f"the line stopped answering after {sent} datagrams", flush=True)
                        return 1
                    in_flight = 0
                peer.send(data, target)
                in_flight += len(data)
                sent += 1
            if not peer.still_answers(target):
                print(f"the line stopped answering after {sent} datagrams", flush=True)
                return 1
    print(f"sent {sent}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
