"""Digest authentication answers for SIP 401/407 challenges (RFC 2617, RFC 7616).

:func:`parse_challenge` reads a ``WWW-Authenticate`` or ``Proxy-Authenticate``
value; :func:`authorization` computes the matching ``Authorization`` (or
``Proxy-Authorization``) value. Supports no qop (RFC 2069 style), qop=auth
and qop=auth-int, with MD5, MD5-sess, SHA-256 and SHA-256-sess.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

_ALGORITHMS = {"MD5": "md5", "SHA-256": "sha256"}


class DigestError(ValueError):
    """A challenge that cannot be read or answered."""


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    nonce: str
    opaque: str | None = None
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()  # the qop options offered, lower case; () when none
    stale: bool = False
    domain: str | None = None


def _split_params(text: str) -> list[tuple[str, str]]:
    """``a=b, c="d, e"`` into pairs, unquoting quoted strings (backslash escapes honoured)."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise DigestError(f"digest parameter without '=' at {text[i:]!r}")
        name = text[i:eq].strip().lower()
        if not name or any(c in name for c in ' \t,"'):
            raise DigestError(f"bad digest parameter name {text[i:eq].strip()!r}")
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise DigestError(f"unterminated quoted value for digest parameter {name!r}")
                c = text[i]
                if c == "\\" and i + 1 < n:
                    chars.append(text[i + 1])
                    i += 2
                elif c == '"':
                    i += 1
                    break
                else:
                    chars.append(c)
                    i += 1
            value = "".join(chars)
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            value = text[i:end].strip()
            i = end
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] != ",":
            raise DigestError(f"expected ',' after digest parameter {name!r}")
        out.append((name, value))
    return out


def parse_challenge(www_authenticate: str) -> Challenge:
    """Read a ``Digest`` challenge; raises :class:`DigestError` saying what is wrong."""
    text = www_authenticate.strip()
    scheme, _, rest = text.partition(" ")
    if scheme.lower() != "digest":
        raise DigestError(f"authentication scheme is {scheme or '(empty)'!r}, expected Digest")
    params = dict(_split_params(rest))
    if "realm" not in params:
        raise DigestError("digest challenge has no realm")
    if not params.get("nonce"):
        raise DigestError("digest challenge has no nonce")
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm.removesuffix("-SESS") not in _ALGORITHMS:
        raise DigestError(
            f"digest algorithm {params['algorithm']!r} is not supported (MD5, MD5-sess, SHA-256)"
        )
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        opaque=params.get("opaque"),
        algorithm=algorithm.replace("-SESS", "-sess"),
        qop=qop,
        stale=params.get("stale", "").lower() == "true",
        domain=params.get("domain"),
    )


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def authorization(
    challenge: Challenge,
    method: str,
    uri: str,
    username: str,
    password: str,
    *,
    cnonce: str | None = None,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """The ``Authorization`` value answering ``challenge`` for a request ``method`` to ``uri``.

    Picks qop=auth when offered, else auth-int (hashing ``body``), else the
    RFC 2069 form without qop. ``nc`` counts uses of this nonce (starting at 1).
    """
    base = challenge.algorithm.upper().removesuffix("-SESS")
    if base not in _ALGORITHMS:
        raise DigestError(f"digest algorithm {challenge.algorithm!r} is not supported")
    name = _ALGORITHMS[base]

    def h(text: str | bytes) -> str:
        data = text.encode() if isinstance(text, str) else text
        return hashlib.new(name, data).hexdigest()

    if "auth" in challenge.qop:
        qop: str | None = "auth"
    elif "auth-int" in challenge.qop:
        qop = "auth-int"
    elif challenge.qop:
        raise DigestError(f"none of the offered qop options {', '.join(challenge.qop)} is supported")
    else:
        qop = None
    if not 1 <= nc <= 0xFFFFFFFF:
        raise DigestError(f"nonce count must be 1..4294967295, got {nc}")
    sess = challenge.algorithm.lower().endswith("-sess")
    if cnonce is None and (qop or sess):
        cnonce = secrets.token_hex(8)
    ha1 = h(f"{username}:{challenge.realm}:{password}")
    if sess:
        ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}:{h(body)}") if qop == "auth-int" else h(f"{method}:{uri}")
    nc_text = f"{nc:08x}"
    if qop:
        response = h(f"{ha1}:{challenge.nonce}:{nc_text}:{cnonce}:{qop}:{ha2}")
    else:
        response = h(f"{ha1}:{challenge.nonce}:{ha2}")
    parts = [
        f"username={_quote(username)}",
        f"realm={_quote(challenge.realm)}",
        f"nonce={_quote(challenge.nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(response)}",
        f"algorithm={challenge.algorithm}",
    ]
    if cnonce is not None and (qop or sess):
        parts.append(f"cnonce={_quote(cnonce)}")
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}"]
    return "Digest " + ", ".join(parts)
