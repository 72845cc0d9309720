"""Digest answers to 401/407 challenges match the RFC test vectors."""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import pytest

from ivr.telephony.digest import Challenge, DigestError, authorization, parse_challenge
from ivr.telephony.sip_message import parse

DATA = Path(__file__).parent / "data"

RFC2617 = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC7616 = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)


def fields(header: str) -> dict[str, str]:
    assert header.startswith("Digest ")
    out = {}
    for part in header[len("Digest ") :].split(", "):
        name, _, value = part.partition("=")
        out[name] = value.strip('"')
    return out


def test_rfc_2617_section_3_5_example() -> None:
    challenge = parse_challenge(RFC2617)
    assert challenge == Challenge(
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
        qop=("auth", "auth-int"),
    )
    answer = authorization(challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b")
    assert fields(answer) == {
        "username": "Mufasa",
        "realm": "testrealm@host.com",
        "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "uri": "/dir/index.html",
        "response": "6629fae49393a05397450978507c4ef1",
        "algorithm": "MD5",
        "cnonce": "0a4f113b",
        "opaque": "5ccc069c403ebaf9f0171e9517f40e41",
        "qop": "auth",
        "nc": "00000001",
    }


@pytest.mark.parametrize(
    ("alg", "response"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc_7616_section_3_9_1_examples(alg: str, response: str) -> None:
    challenge = parse_challenge(RFC7616.format(alg=alg))
    answer = authorization(
        challenge,
        "GET",
        "/dir/index.html",
        "Mufasa",
        "Circle of Life",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert fields(answer)["response"] == response
    assert fields(answer)["algorithm"] == alg


def test_challenge_without_qop_gets_the_rfc_2069_answer() -> None:
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"'
    )
    answer = fields(authorization(challenge, "GET", "/dir/index.html", "Mufasa", "CircleOfLife"))
    ha1 = hashlib.md5(b"Mufasa:testrealm@host.com:CircleOfLife").hexdigest()
    ha2 = hashlib.md5(b"GET:/dir/index.html").hexdigest()
    expected = hashlib.md5(f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{ha2}".encode()).hexdigest()
    assert answer["response"] == expected == "1949323746fe6a43ef61f9606e7febea"
    assert "qop" not in answer and "nc" not in answer and "cnonce" not in answer and "opaque" not in answer


def test_kamailio_register_challenge_is_answered_for_register() -> None:
    resp = parse((DATA / "register_401_kamailio.sip").read_bytes())
    challenge = parse_challenge(resp.header("WWW-Authenticate") or "")
    assert challenge.realm == "127.0.0.1" and challenge.qop == ("auth",) and challenge.opaque is None
    answer = fields(
        authorization(challenge, "REGISTER", "sip:127.0.0.1", "ivr", "secret", cnonce="abc", nc=2)
    )
    ha1 = hashlib.md5(b"ivr:127.0.0.1:secret").hexdigest()
    ha2 = hashlib.md5(b"REGISTER:sip:127.0.0.1").hexdigest()
    want = hashlib.md5(f"{ha1}:{challenge.nonce}:00000002:abc:auth:{ha2}".encode()).hexdigest()
    assert answer["response"] == want and answer["nc"] == "00000002" and answer["uri"] == "sip:127.0.0.1"


def test_md5_sess_hashes_nonce_and_cnonce_into_ha1() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="n", algorithm=MD5-sess, qop="auth"')
    assert challenge.algorithm == "MD5-sess"
    answer = fields(authorization(challenge, "INVITE", "sip:desk@r", "u", "p", cnonce="c"))
    ha1 = hashlib.md5(f"{hashlib.md5(b'u:r:p').hexdigest()}:n:c".encode()).hexdigest()
    ha2 = hashlib.md5(b"INVITE:sip:desk@r").hexdigest()
    assert answer["response"] == hashlib.md5(f"{ha1}:n:00000001:c:auth:{ha2}".encode()).hexdigest()


def test_auth_int_hashes_the_body_when_it_is_the_only_qop() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="n", qop="auth-int"')
    answer = fields(authorization(challenge, "INVITE", "sip:d@r", "u", "p", cnonce="c", body=b"v=0\r\n"))
    ha1 = hashlib.md5(b"u:r:p").hexdigest()
    ha2 = hashlib.md5(
        f"INVITE:sip:d@r:{hashlib.md5(b'v=0' + bytes([13, 10])).hexdigest()}".encode()
    ).hexdigest()
    assert answer["qop"] == "auth-int"
    assert answer["response"] == hashlib.md5(f"{ha1}:n:00000001:c:auth-int:{ha2}".encode()).hexdigest()


def test_random_cnonce_is_fresh_each_time() -> None:
    challenge = parse_challenge(RFC2617)
    a = fields(authorization(challenge, "REGISTER", "sip:x", "u", "p"))
    b = fields(authorization(challenge, "REGISTER", "sip:x", "u", "p"))
    assert a["cnonce"] != b["cnonce"] and a["response"] != b["response"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'digest  realm="a b", nonce="n1",stale=TRUE ,algorithm=md5',
            {"realm": "a b", "stale": True, "algorithm": "MD5"},
        ),
        ('Digest realm="say \\"hi\\", ok", nonce="n"', {"realm": 'say "hi", ok'}),
        ('Digest nonce="n", realm="r", stale=false, domain="sip:r"', {"stale": False, "domain": "sip:r"}),
        ('Digest realm="r", nonce="n", qop=auth', {"qop": ("auth",)}),
        ('Digest realm="", nonce="n"', {"realm": ""}),
    ],
)
def test_challenges_in_the_shapes_servers_send_them(header: str, expected: dict[str, object]) -> None:
    challenge = parse_challenge(header)
    for name, value in expected.items():
        assert getattr(challenge, name) == value


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "scheme is '(empty)'"),
        ('Basic realm="r"', "scheme is 'Basic', expected Digest"),
        ('Digest nonce="n"', "no realm"),
        ('Digest realm="r"', "no nonce"),
        ('Digest realm="r", nonce="n", algorithm=SHA-512-256', "algorithm 'SHA-512-256' is not supported"),
        ('Digest realm="r, nonce="n"', "expected ',' after digest parameter 'realm'"),
        ('Digest realm="r', "unterminated quoted value for digest parameter 'realm'"),
        ("Digest realm", "parameter without '='"),
        ('Digest realm="r", bad name=1', "bad digest parameter name"),
    ],
)
def test_unreadable_challenges_say_what_is_wrong(header: str, message: str) -> None:
    with pytest.raises(DigestError, match=re.escape(message)):
        parse_challenge(header)


def test_unsupported_qop_and_bad_nonce_count_are_refused() -> None:
    with pytest.raises(DigestError, match="none of the offered qop options auth-conf is supported"):
        authorization(
            parse_challenge('Digest realm="r", nonce="n", qop="auth-conf"'), "REGISTER", "sip:r", "u", "p"
        )
    with pytest.raises(DigestError, match="nonce count must be"):
        authorization(parse_challenge(RFC2617), "REGISTER", "sip:r", "u", "p", nc=0)


def test_mangled_challenges_never_raise_anything_but_digest_error() -> None:
    rng = random.Random(2617)
    alphabet = 'Digest realm="r", nonce=\\,= \tqop'
    for _ in range(2000):
        text = list(RFC2617)
        for _ in range(rng.randint(1, 5)):
            text[rng.randrange(len(text))] = rng.choice(alphabet)
        header = "".join(text[: rng.randint(0, len(text))])
        try:
            authorization(parse_challenge(header), "REGISTER", "sip:r", "u", "p")
        except DigestError:
            continue
