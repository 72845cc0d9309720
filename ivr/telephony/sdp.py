"""SDP offers and answers for one audio stream (RFC 4566, RFC 3264).

The bot speaks G.711 only: PCMU (payload type 0) or PCMA (8), at 8 kHz and
20 ms packets, with RFC 4733 telephone-events for DTMF when the peer offers
them. :func:`parse_offer` reads the first audio stream of a session
description (an offer or an answer: the shape is the same); :func:`answer`
picks the codec, the first of the offer's own order that we speak, and
raises :class:`SdpError` when there is none (the user agent answers 488).

SRTP keys travel in the SDP (SDES, RFC 4568): an ``RTP/SAVP`` stream carries
``a=crypto:<tag> <suite> inline:<key||salt base64>`` lines. :class:`Crypto` is
one such line; the suites we speak are AES_CM_128_HMAC_SHA1_80 and _32. A line
of a suite we do not speak, or with an MKI or session parameters, is kept
(``unusable`` says why) and passed over; a line of our suites whose key is
not 30 bytes of base64 is an error naming its SDP line. A key never shows in
a ``repr`` (nor so in a log).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass, field

SUPPORTED = ("PCMU", "PCMA")
SRTP_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
SECURE_PROTOCOLS = ("RTP/SAVP", "RTP/SAVPF")
AUDIO_PROTOCOLS = ("RTP/AVP", "RTP/AVPF", *SECURE_PROTOCOLS)  # what an m=audio line may carry
KEY_SALT_SIZE = 30  # AES-128 master key (16 bytes) and master salt (14), RFC 4568 §6.2
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_STATIC = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    18: ("G729", 8000),
}
_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}
_PT_OF = {"PCMU": 0, "PCMA": 8}


class SdpError(ValueError):
    """A session description that cannot be read or answered."""


@dataclass(frozen=True, slots=True)
class PayloadFormat:
    pt: int
    name: str  # as the rtpmap gives it ("PCMU", "telephone-event"); "" for an unknown dynamic type
    clock_rate: int = 8000
    fmtp: str | None = None

    @property
    def key(self) -> str:
        return self.name.upper()


@dataclass(frozen=True, slots=True)
class Crypto:
    """One ``a=crypto`` attribute (RFC 4568 §9.1): a tag, a suite, its inline master key and salt."""

    tag: int
    suite: str
    key: bytes = field(default=b"", repr=False)  # master key || salt; b"" where ``unusable``
    unusable: str = ""  # why we cannot use this line ("" when we can)

    @property
    def attribute(self) -> str:
        """The attribute as we write it: ``crypto:1 AES_CM_128_HMAC_SHA1_80 inline:…``."""
        return f"crypto:{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"


def fresh_crypto(tag: int, suite: str) -> Crypto:
    """Our own key for ``suite`` (``secrets``: a new one for every call)."""
    if suite not in SRTP_SUITES:
        raise SdpError(f"cannot key SRTP suite {suite!r}; we speak {', '.join(SRTP_SUITES)}")
    return Crypto(tag, suite, secrets.token_bytes(KEY_SALT_SIZE))


def parse_crypto(value: str, number: int) -> Crypto:
    """One ``crypto:`` attribute's value (after ``crypto:``), from SDP line ``number``."""
    parts = value.split()
    if len(parts) < 3 or not parts[0].isdigit() or len(parts[0]) > 9:
        # the line's text is not repeated: it may hold a key
        raise SdpError(
            f"SDP line {number}: a=crypto needs '<tag> <suite> <key-params>' (a tag of 1-9 digits), "
            f"got {len(parts)} fields"
        )
    tag, suite, key_params = int(parts[0]), parts[1], parts[2]
    if suite not in SRTP_SUITES:
        return Crypto(tag, suite, unusable="a suite we do not speak")
    if len(parts) > 3:
        return Crypto(tag, suite, unusable=f"session parameters {' '.join(parts[3:])[:40]!r}")
    if ";" in key_params:
        return Crypto(tag, suite, unusable="more than one key")
    method, _, info = key_params.partition(":")
    if method != "inline":
        return Crypto(tag, suite, unusable=f"key method {method!r}")
    key_text, *extras = info.split("|")
    if any(":" in extra for extra in extras):
        return Crypto(tag, suite, unusable="an MKI")
    try:
        key = base64.b64decode(key_text, validate=True)
    except (binascii.Error, ValueError):
        raise SdpError(f"SDP line {number}: a=crypto:{tag}'s inline key is not base64") from None
    if len(key) != KEY_SALT_SIZE:
        raise SdpError(
            f"SDP line {number}: a=crypto:{tag}'s inline key is {len(key)} bytes; "
            f"{suite} takes {KEY_SALT_SIZE} (key and salt)"
        )
    return Crypto(tag, suite, key)


@dataclass(frozen=True, slots=True)
class Offer:
    """The first audio stream of a session description."""

    connection_address: str
    audio_port: int
    payloads: tuple[PayloadFormat, ...]
    address_type: str = "IP4"
    protocol: str = "RTP/AVP"
    ptime: int | None = None
    direction: str = "sendrecv"
    session_id: str = ""
    session_version: str = ""
    other_media: tuple[str, ...] = field(default=())  # media kinds of the other m= lines ("video")
    crypto: tuple[Crypto, ...] = field(default=())  # the audio stream's a=crypto lines, in order

    @property
    def secure(self) -> bool:
        """Whether the stream asks for SRTP (``RTP/SAVP`` or ``RTP/SAVPF``)."""
        return self.protocol.upper() in SECURE_PROTOCOLS

    @property
    def telephone_event(self) -> PayloadFormat | None:
        """The 8 kHz telephone-event format offered, if any."""
        for p in self.payloads:
            if p.key == "TELEPHONE-EVENT" and p.clock_rate == 8000:
                return p
        return None

    @property
    def address(self) -> str:
        """Where to send RTP: the audio stream's connection address (same as ``connection_address``)."""
        return self.connection_address

    @property
    def port(self) -> int:
        """The audio stream's RTP port (same as ``audio_port``)."""
        return self.audio_port

    @property
    def dtmf_payload_type(self) -> int | None:
        """The payload type of 8 kHz telephone-events, or ``None`` when not offered."""
        event = self.telephone_event
        return None if event is None else event.pt

    @property
    def on_hold(self) -> bool:
        """Whether the stream is held (RFC 3264 direction, or the old 0.0.0.0 address)."""
        return self.direction in ("sendonly", "inactive") or self.connection_address in ("0.0.0.0", "::")


def answer_direction(offer: Offer) -> str:
    """Our direction in the answer to ``offer`` (RFC 3264 §6.1): sendonly/recvonly mirrored, and an old
    style hold (``c=0.0.0.0`` with sendrecv, RFC 3264 §8.4) taken as sendonly: we answer recvonly."""
    if offer.direction == "sendrecv" and offer.connection_address in ("0.0.0.0", "::"):
        return "recvonly"
    return _REVERSE[offer.direction]


def choose_codec(offer: Offer) -> PayloadFormat:
    """The first format in the offer's order that we speak (PCMU or PCMA at 8 kHz)."""
    for p in offer.payloads:
        if p.key in SUPPORTED and p.clock_rate == 8000:
            return p
    names = ", ".join(f"{p.pt}:{p.name or '?'}" for p in offer.payloads) or "none"
    raise SdpError(f"no common codec: offered {names}; we speak PCMU/8000 and PCMA/8000")


def choose_crypto(offer: Offer) -> Crypto:
    """The first ``a=crypto`` line of the offer's that we can use (RFC 4568 §7.1.1: the offerer's order)."""
    for crypto in offer.crypto:
        if not crypto.unusable:
            return crypto
    offered = "; ".join(f"{c.tag} {c.suite} ({c.unusable})" for c in offer.crypto) or "none"
    raise SdpError(f"no SRTP key we can use: offered {offered}; we speak {', '.join(SRTP_SUITES)}")


def choose(offer: Offer) -> tuple[str, int]:
    """``(codec name, payload type)`` of :func:`choose_codec`'s pick, e.g. ``("PCMA", 8)``."""
    codec = choose_codec(offer)
    return codec.key, codec.pt


def parse_offer(body: bytes) -> Offer:
    """Read a session description's first audio stream; raises :class:`SdpError` saying what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError(f"SDP is not valid UTF-8 (byte {exc.start})") from None
    session: dict[str, str] = {}
    session_attrs: list[str] = []
    media: list[tuple[str, list[tuple[str, str, int]]]] = []  # (m= value, [(type, value, line)])
    current: list[tuple[str, str, int]] | None = None  # the latest m= line's fields
    number = 0  # lines counted without the blank ones
    for line in text.split("\n"):
        if line[-1:] == "\r":
            line = line.rstrip("\r")
        if not line or line.isspace():
            continue
        number += 1
        if number == 1 and line != "v=0":
            raise SdpError(f"SDP must start with v=0, got {line[:20]!r}")
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise SdpError(f"SDP line {number} is not <type>=<value>: {line[:20]!r}")
        kind = line[0]
        if kind == "m":
            current = []
            media.append((line[2:], current))
        elif current is not None:
            current.append((kind, line[2:], number))
        elif kind == "a":
            session_attrs.append(line[2:])
        elif kind not in session:
            session[kind] = line[2:]
    if not number:
        raise SdpError("SDP body is empty")
    audio = [i for i, (m, _) in enumerate(media) if m.split(" ", 1)[0] == "audio"]
    if not audio:
        raise SdpError("SDP has no m=audio line")
    m_value, fields = media[audio[0]]
    parts = m_value.split()
    if len(parts) < 4:
        raise SdpError(f"m=audio line needs port, protocol and formats: {m_value!r}")
    port_text = parts[1].split("/", 1)[0]
    if not port_text.isdigit() or int(port_text) > 65535:
        raise SdpError(f"m=audio port {parts[1]!r} is not a port number")
    protocol = parts[2]
    if protocol.upper() not in AUDIO_PROTOCOLS:
        raise SdpError(f"audio protocol {protocol} is not supported (RTP/AVP, or RTP/SAVP with SDES keys)")
    pts: list[int] = []
    for fmt in parts[3:]:
        if not fmt.isdigit() or int(fmt) > 127:
            raise SdpError(f"m=audio payload type {fmt!r} is not 0..127")
        pts.append(int(fmt))
    connection = next((v for k, v, _ in fields if k == "c"), session.get("c"))
    if connection is None:
        raise SdpError("SDP has no c= line for the audio stream")
    c_parts = connection.split()
    if len(c_parts) != 3 or c_parts[0] != "IN" or c_parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"c= line must be 'IN IP4|IP6 <address>', got {connection!r}")
    address = c_parts[2].split("/", 1)[0]
    rtpmap: dict[int, tuple[str, int]] = {}
    fmtp: dict[int, str] = {}
    ptime: int | None = None
    direction = next((a for a in session_attrs if a in DIRECTIONS), "sendrecv")
    crypto: list[Crypto] = []
    for kind, value, number in fields:
        if kind != "a":
            continue
        name, _, rest = value.partition(":")
        if name == "rtpmap":
            pt_text, _, spec = rest.partition(" ")
            codec = spec.strip().split("/")
            if not pt_text.isdigit() or len(codec) < 2 or not codec[1].isdigit():
                raise SdpError(f"bad a=rtpmap: {value!r}")
            rtpmap[int(pt_text)] = (codec[0], int(codec[1]))
        elif name == "fmtp":
            pt_text, _, params = rest.partition(" ")
            if pt_text.isdigit():
                fmtp[int(pt_text)] = params.strip()
        elif name == "ptime":
            if not rest.strip().isdigit():
                raise SdpError(f"bad a=ptime: {value!r}")
            ptime = int(rest.strip())
        elif name == "crypto":
            crypto.append(parse_crypto(rest, number))
        elif value in DIRECTIONS:
            direction = value
    payloads = tuple(
        PayloadFormat(pt, *(rtpmap.get(pt) or _STATIC.get(pt) or ("", 0)), fmtp=fmtp.get(pt)) for pt in pts
    )
    origin = session.get("o", "").split()
    return Offer(
        connection_address=address,
        audio_port=int(port_text),
        payloads=payloads,
        address_type=c_parts[1],
        protocol=protocol,
        ptime=ptime,
        direction=direction,
        session_id=origin[1] if len(origin) >= 6 else "",
        session_version=origin[2] if len(origin) >= 6 else "",
        other_media=tuple(m.split(" ", 1)[0] for i, (m, _) in enumerate(media) if i != audio[0]),
        crypto=tuple(crypto),
    )


def _describe(
    local_ip: str,
    port: int,
    session_id: int,
    version: int,
    formats: list[tuple[int, str, str | None]],
    direction: str,
    crypto: tuple[Crypto, ...] = (),
) -> bytes:
    ip_type = "IP6" if ":" in local_ip else "IP4"
    lines = [
        "v=0",
        f"o=ivr {session_id} {version} IN {ip_type} {local_ip}",
        "s=ivr",
        f"c=IN {ip_type} {local_ip}",
        "t=0 0",
        f"m=audio {port} {'RTP/SAVP' if crypto else 'RTP/AVP'} " + " ".join(str(pt) for pt, _, _ in formats),
    ]
    for pt, name, params in formats:
        lines.append(f"a=rtpmap:{pt} {name}/8000")
        if params is not None:
            lines.append(f"a=fmtp:{pt} {params}")
    lines += ["a=ptime:20", f"a={direction}", *(f"a={c.attribute}" for c in crypto)]
    return ("\r\n".join(lines) + "\r\n").encode()


def answer(
    offer: Offer,
    local_ip: str,
    local_port: int,
    session_id: int,
    *,
    version: int | None = None,
    crypto: Crypto | None = None,
) -> bytes:
    """Our answer: one codec (see :func:`choose_codec`), telephone-event if offered, the mirrored direction;
    with ``crypto`` (our key for the suite chosen from the offer) an ``RTP/SAVP`` stream."""
    if offer.audio_port == 0:
        raise SdpError("the offered audio stream is disabled (port 0)")
    if offer.secure and crypto is None:
        raise SdpError(f"the offer asks for SRTP ({offer.protocol}): the answer needs our key")
    codec = choose_codec(offer)
    formats: list[tuple[int, str, str | None]] = [(codec.pt, codec.key, None)]
    event = offer.telephone_event
    if event is not None:
        formats.append((event.pt, "telephone-event", event.fmtp or "0-15"))
    return _describe(
        local_ip,
        local_port,
        session_id,
        session_id if version is None else version,
        formats,
        answer_direction(offer),
        () if crypto is None else (crypto,),
    )


def offer(
    local_ip: str,
    port: int,
    session_id: int,
    codecs: tuple[str, ...] = SUPPORTED,
    dtmf_pt: int | None = 101,
    *,
    version: int | None = None,
    direction: str = "sendrecv",
    crypto: tuple[Crypto, ...] = (),
) -> bytes:
    """An offer for an outbound call: ``codecs`` in preference order, telephone-event on ``dtmf_pt``;
    with ``crypto`` (our keys, one per suite, in preference order) an ``RTP/SAVP`` stream."""
    formats: list[tuple[int, str, str | None]] = []
    for name in codecs:
        if name.upper() not in _PT_OF:
            raise SdpError(f"cannot offer codec {name!r}; we speak {', '.join(SUPPORTED)}")
        formats.append((_PT_OF[name.upper()], name.upper(), None))
    if not formats:
        raise SdpError("an offer needs at least one codec")
    if dtmf_pt is not None:
        if not 96 <= dtmf_pt <= 127:
            raise SdpError(f"telephone-event payload type must be dynamic (96..127), got {dtmf_pt}")
        formats.append((dtmf_pt, "telephone-event", "0-15"))
    if direction not in DIRECTIONS:
        raise SdpError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return _describe(
        local_ip, port, session_id, session_id if version is None else version, formats, direction, crypto
    )
