"""SDP: the bot answers G.711 offers from real phones and refuses what it cannot speak (488)."""

from __future__ import annotations

import base64
import random
import re
from pathlib import Path

import pytest

from ivr.telephony import sdp
from ivr.telephony.sdp import Offer, PayloadFormat, SdpError

DATA = Path(__file__).parent / "data"


def body(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


HEAD = ("v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0")


def test_pyvoip_offer_is_read_whole() -> None:
    offer = sdp.parse_offer((DATA / "sdp_pyvoip_offer.sdp").read_bytes())
    assert offer == Offer(
        connection_address="127.0.0.1",
        audio_port=10000,
        payloads=(
            PayloadFormat(0, "PCMU", 8000),
            PayloadFormat(8, "PCMA", 8000),
            PayloadFormat(101, "telephone-event", 8000, "0-15"),
        ),
        ptime=20,
        direction="sendrecv",
        session_id="1234",
        session_version="1236",
    )
    assert (offer.address, offer.port, offer.dtmf_payload_type) == ("127.0.0.1", 10000, 101)
    assert sdp.choose(offer) == ("PCMU", 0)


def test_linphone_offer_gets_pcma_and_the_8khz_telephone_event() -> None:
    offer = sdp.parse_offer((DATA / "sdp_linphone_offer.sdp").read_bytes())
    assert offer.audio_port == 7078 and offer.connection_address == "10.0.0.23"
    assert [p.pt for p in offer.payloads] == [96, 97, 98, 8, 0, 101, 99]
    assert offer.payloads[0] == PayloadFormat(96, "opus", 48000, "useinbandfec=1")
    assert offer.other_media == ("video",)
    assert sdp.choose(offer) == ("PCMA", 8)
    assert offer.dtmf_payload_type == 99
    assert sdp.answer(offer, "192.0.2.10", 40002, 77) == body(
        "v=0",
        "o=ivr 77 77 IN IP4 192.0.2.10",
        "s=ivr",
        "c=IN IP4 192.0.2.10",
        "t=0 0",
        "m=audio 40002 RTP/AVP 8 99",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:99 telephone-event/8000",
        "a=fmtp:99 0-15",
        "a=ptime:20",
        "a=sendrecv",
    )


def test_answer_without_telephone_event_when_none_offered() -> None:
    offer = sdp.parse_offer(body(*HEAD, "m=audio 4000 RTP/AVP 0"))
    assert offer.dtmf_payload_type is None and offer.payloads == (PayloadFormat(0, "PCMU", 8000),)
    answer = sdp.answer(offer, "127.0.0.1", 40000, 5, version=6)
    assert b"telephone-event" not in answer and b"m=audio 40000 RTP/AVP 0\r\n" in answer
    assert b"o=ivr 5 6 IN IP4 127.0.0.1" in answer


@pytest.mark.parametrize(
    ("offered", "answered"),
    [("sendrecv", "sendrecv"), ("sendonly", "recvonly"), ("recvonly", "sendonly"), ("inactive", "inactive")],
)
def test_answer_mirrors_the_offered_direction(offered: str, answered: str) -> None:
    offer = sdp.parse_offer(body(*HEAD, "m=audio 4000 RTP/AVP 8", f"a={offered}"))
    assert offer.direction == offered
    assert sdp.answer(offer, "127.0.0.1", 40000, 1).endswith(f"a={answered}\r\n".encode())


def test_session_level_direction_applies_unless_the_stream_overrides_it() -> None:
    held = sdp.parse_offer(body(*HEAD, "a=sendonly", "m=audio 4000 RTP/AVP 0"))
    assert held.direction == "sendonly" and held.on_hold
    resumed = sdp.parse_offer(body(*HEAD, "a=sendonly", "m=audio 4000 RTP/AVP 0", "a=sendrecv"))
    assert resumed.direction == "sendrecv" and not resumed.on_hold


def test_media_level_connection_wins_and_old_style_hold_is_seen() -> None:
    offer = sdp.parse_offer(body(*HEAD, "m=audio 4000 RTP/AVP 0", "c=IN IP4 0.0.0.0"))
    assert offer.connection_address == "0.0.0.0" and offer.on_hold


def test_ipv6_offer_and_answer() -> None:
    offer = sdp.parse_offer(
        body("v=0", "o=- 1 1 IN IP6 ::1", "s=-", "c=IN IP6 2001:db8::5", "t=0 0", "m=audio 4000 RTP/AVP 0")
    )
    assert offer.address_type == "IP6" and offer.address == "2001:db8::5"
    assert b"c=IN IP6 2001:db8::1\r\n" in sdp.answer(offer, "2001:db8::1", 40000, 1)


def test_lf_only_lines_and_static_types_without_rtpmap_are_understood() -> None:
    offer = sdp.parse_offer(b"v=0\nc=IN IP4 10.1.1.1\nm=audio 5004 RTP/AVP 18 8\n")
    assert [p.name for p in offer.payloads] == ["G729", "PCMA"]
    assert sdp.choose(offer) == ("PCMA", 8)


@pytest.mark.parametrize(
    "m_line",
    ["m=audio 4000 RTP/AVP 18 9 96", "m=audio 4000 RTP/AVP 3", "m=audio 4000 RTP/AVP 96"],
)
def test_offer_without_g711_has_no_common_codec(m_line: str) -> None:
    offer = sdp.parse_offer(body(*HEAD, m_line, "a=rtpmap:96 opus/48000/2"))
    with pytest.raises(SdpError, match="no common codec"):
        sdp.answer(offer, "127.0.0.1", 40000, 1)


def test_pcmu_at_another_clock_rate_is_not_g711() -> None:
    offer = sdp.parse_offer(body(*HEAD, "m=audio 4000 RTP/AVP 97", "a=rtpmap:97 PCMU/16000"))
    with pytest.raises(SdpError, match="no common codec: offered 97:PCMU"):
        sdp.choose(offer)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"", "SDP body is empty"),
        (b"\xff\xfe", "SDP is not valid UTF-8 (byte 0)"),
        (body("o=- 1 1 IN IP4 1.2.3.4", "v=0"), "SDP must start with v=0"),
        (body(*HEAD), "SDP has no m=audio line"),
        (body(*HEAD, "m=video 4000 RTP/AVP 96"), "SDP has no m=audio line"),
        (body(*HEAD, "garbage"), "SDP line 6 is not <type>=<value>"),
        (body(*HEAD, "m=audio 4000 RTP/AVP"), "m=audio line needs port, protocol and formats"),
        (body(*HEAD, "m=audio port RTP/AVP 0"), "m=audio port 'port' is not a port number"),
        (body(*HEAD, "m=audio 70000 RTP/AVP 0"), "m=audio port '70000' is not a port number"),
        (body(*HEAD, "m=audio 4000 UDP/TLS/RTP/SAVP 0"), "audio protocol UDP/TLS/RTP/SAVP is not supported"),
        (
            body(*HEAD, "m=audio 4000 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80"),
            "SDP line 7: a=crypto needs",
        ),
        (
            body(*HEAD, "m=audio 4000 RTP/SAVP 0", "a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:AAAA"),
            "SDP line 7",
        ),
        (
            body(*HEAD, "m=audio 4000 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:not*base64"),
            "SDP line 7: a=crypto:1's inline key is not base64",
        ),
        (
            body(*HEAD, "m=audio 4000 RTP/SAVP 0", "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAA"),
            "SDP line 7: a=crypto:2's inline key is 6 bytes; AES_CM_128_HMAC_SHA1_80 takes 30",
        ),
        (body(*HEAD, "m=audio 4000 RTP/AVP 0 x"), "m=audio payload type 'x' is not 0..127"),
        (body(*HEAD, "m=audio 4000 RTP/AVP 128"), "m=audio payload type '128' is not 0..127"),
        (body("v=0", "m=audio 4000 RTP/AVP 0"), "SDP has no c= line for the audio stream"),
        (body("v=0", "c=IN IP4", "m=audio 4000 RTP/AVP 0"), "c= line must be 'IN IP4|IP6 <address>'"),
        (body(*HEAD, "m=audio 4000 RTP/AVP 0", "a=rtpmap:0 PCMU"), "bad a=rtpmap"),
        (body(*HEAD, "m=audio 4000 RTP/AVP 0", "a=ptime:twenty"), "bad a=ptime"),
    ],
)
def test_malformed_descriptions_say_what_is_wrong(text: bytes, message: str) -> None:
    with pytest.raises(SdpError, match=re.escape(message)):
        sdp.parse_offer(text)


def test_disabled_audio_stream_is_not_answered() -> None:
    offer = sdp.parse_offer(body(*HEAD, "m=audio 0 RTP/AVP 0"))
    with pytest.raises(SdpError, match="disabled"):
        sdp.answer(offer, "127.0.0.1", 40000, 1)


def test_outbound_offer_lists_our_codecs_and_telephone_event() -> None:
    assert sdp.offer("127.0.0.1", 40010, 9) == body(
        "v=0",
        "o=ivr 9 9 IN IP4 127.0.0.1",
        "s=ivr",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        "m=audio 40010 RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        "a=sendrecv",
    )


def test_our_offer_reads_back_and_a_peer_answering_it_is_understood() -> None:
    offer = sdp.parse_offer(sdp.offer("10.0.0.1", 40020, 3, codecs=("PCMA",), dtmf_pt=None))
    assert sdp.choose(offer) == ("PCMA", 8) and offer.dtmf_payload_type is None and offer.ptime == 20
    answer = sdp.parse_offer(sdp.answer(offer, "10.0.0.2", 5000, 4))
    assert (answer.address, answer.port, sdp.choose(answer)) == ("10.0.0.2", 5000, ("PCMA", 8))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"codecs": ("G729",)}, "cannot offer codec 'G729'"),
        ({"codecs": ()}, "at least one codec"),
        ({"dtmf_pt": 8}, "must be dynamic"),
        ({"direction": "both"}, "direction must be one of"),
    ],
)
def test_bad_offer_requests_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SdpError, match=message):
        sdp.offer("127.0.0.1", 40000, 1, **kwargs)  # type: ignore[arg-type]


def test_mangled_descriptions_never_raise_anything_but_sdp_error() -> None:
    rng = random.Random(4566)
    seed = (DATA / "sdp_linphone_offer.sdp").read_bytes()
    for _ in range(1500):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.choice(b"=: /\r\n0a9mcv\xff")
        try:
            offer = sdp.parse_offer(bytes(data))
            sdp.answer(offer, "127.0.0.1", 40000, 1)
        except SdpError:
            continue


# --- SRTP keys in the SDP (SDES, RFC 4568) ------------------------------------------------

KEY_80 = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"  # RFC 4568 §4's example key and salt
KEY_32 = "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj"


def savp_offer(*crypto: str, protocol: str = "RTP/SAVP") -> bytes:
    return body(*HEAD, f"m=audio 4000 {protocol} 0 101", "a=rtpmap:101 telephone-event/8000", *crypto)


def test_savp_offer_keys_are_read_in_order_and_the_first_we_speak_is_chosen() -> None:
    offer = sdp.parse_offer(
        savp_offer(
            "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" + "A" * 64,
            f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_32}|2^20|1:32",
            f"a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}|2^31",
            f"a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:{KEY_32}",
        )
    )
    assert offer.secure and offer.protocol == "RTP/SAVP"
    assert [(c.tag, c.unusable) for c in offer.crypto] == [
        (1, "a suite we do not speak"),
        (2, "an MKI"),
        (3, ""),
        (4, ""),
    ]
    chosen = sdp.choose_crypto(offer)
    assert (chosen.tag, chosen.suite) == (3, "AES_CM_128_HMAC_SHA1_80")
    assert chosen.key == base64.b64decode(KEY_80) and len(chosen.key) == 30


def test_a_key_never_shows_in_a_repr() -> None:
    offer = sdp.parse_offer(savp_offer(f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}"))
    assert KEY_80 not in repr(offer) and repr(base64.b64decode(KEY_80)) not in repr(offer)
    assert "AES_CM_128_HMAC_SHA1_80" in repr(offer)


@pytest.mark.parametrize(
    "line",
    [
        f"a=crypto:1 inline:{KEY_80}",  # no suite
        f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80[:-4]}",  # too short
        f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80[:-1]}!",  # not base64
    ],
)
def test_an_error_about_a_crypto_line_never_repeats_its_key(line: str) -> None:
    with pytest.raises(SdpError) as caught:
        sdp.parse_offer(savp_offer(line))
    assert KEY_80[:8] not in str(caught.value) and "SDP line 8" in str(caught.value)


def test_savp_offer_without_a_key_we_can_use_names_what_was_offered() -> None:
    offer = sdp.parse_offer(
        savp_offer(f"a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80} UNENCRYPTED_SRTP")
    )
    with pytest.raises(
        SdpError, match=r"no SRTP key we can use: offered 7 AES_CM_128_HMAC_SHA1_80 \(session"
    ):
        sdp.choose_crypto(offer)
    with pytest.raises(SdpError, match="no SRTP key we can use: offered none"):
        sdp.choose_crypto(sdp.parse_offer(savp_offer()))


def test_answer_to_savp_is_savp_with_our_own_fresh_key_on_the_chosen_tag() -> None:
    offer = sdp.parse_offer(savp_offer(f"a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:{KEY_32}"))
    ours = sdp.fresh_crypto(5, "AES_CM_128_HMAC_SHA1_32")
    again = sdp.fresh_crypto(5, "AES_CM_128_HMAC_SHA1_32")
    assert len(ours.key) == 30 and ours.key != again.key and ours.key != sdp.choose_crypto(offer).key
    answer = sdp.answer(offer, "127.0.0.1", 40000, 9, crypto=ours)
    assert b"m=audio 40000 RTP/SAVP 0 101\r\n" in answer
    read_back = sdp.parse_offer(answer)
    assert read_back.secure and read_back.crypto == (ours,)
    assert answer.endswith(
        f"a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:{base64.b64encode(ours.key).decode()}\r\n".encode()
    )


def test_answer_to_savp_without_our_key_is_refused() -> None:
    offer = sdp.parse_offer(
        savp_offer(f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}", protocol="RTP/SAVPF")
    )
    with pytest.raises(SdpError, match=r"the offer asks for SRTP \(RTP/SAVPF\)"):
        sdp.answer(offer, "127.0.0.1", 40000, 1)


def test_our_savp_offer_lists_each_key_and_reads_back() -> None:
    keys = (sdp.fresh_crypto(1, "AES_CM_128_HMAC_SHA1_80"), sdp.fresh_crypto(2, "AES_CM_128_HMAC_SHA1_32"))
    offer = sdp.parse_offer(sdp.offer("127.0.0.1", 40000, 3, crypto=keys))
    assert offer.protocol == "RTP/SAVP" and offer.crypto == keys
    with pytest.raises(SdpError, match="cannot key SRTP suite 'F8_128_HMAC_SHA1_80'"):
        sdp.fresh_crypto(3, "F8_128_HMAC_SHA1_80")
