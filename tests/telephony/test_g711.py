"""G.711: exact ITU-T tables, 16-bit end to end, and A-law that is really A-law."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from ivr.telephony import g711

ALL_SAMPLES = np.arange(65536, dtype=np.uint16).view(np.int16)
ALL_PCM = ALL_SAMPLES.astype("<i2").tobytes()
ALL_CODES = bytes(range(256))


def pcm(samples: npt.NDArray[np.float64]) -> bytes:
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


def samples_of(data: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def snr_db(reference: bytes, received: bytes) -> float:
    ref, got = samples_of(reference), samples_of(received)
    noise = float(np.sum((got - ref) ** 2))
    return 10 * math.log10(float(np.sum(ref**2)) / max(noise, 1e-9))


def sine(dbfs: float, hz: float = 440.0, seconds: float = 1.0) -> bytes:
    n = np.arange(int(8000 * seconds))
    return pcm(32767 * 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * n / 8000))


def speech_like(dbfs: float, seconds: float = 2.0) -> bytes:
    """Voiced-speech stand-in: a 130 Hz pitch with formant-weighted harmonics, syllable-rate envelope."""
    n = np.arange(int(8000 * seconds))
    t = n / 8000
    voice = sum(
        (1 / k)
        * (2.0 if 500 < 130 * k < 900 or 1100 < 130 * k < 1500 else 1.0)
        * np.sin(2 * np.pi * 130 * k * t + k)
        for k in range(1, 25)
    )
    envelope = 0.25 + 0.75 * np.abs(np.sin(2 * np.pi * 2.5 * t))
    signal = voice * envelope
    rms = float(np.sqrt(np.mean(signal**2)))
    # dBFS as AES17 has it: the level of a sine with the same RMS (full-scale sine = 0 dBFS)
    return pcm(signal / rms * 32767 / math.sqrt(2) * 10 ** (dbfs / 20))


def eight_bit(data: bytes) -> bytes:
    """What pyVoIP 1.6 hands the application: the top 8 bits (audioop.lin2lin(..., 2, 1)), widened back."""
    s = np.frombuffer(data, dtype="<i2").astype(np.int32)
    return ((s >> 8) << 8).astype("<i2").tobytes()


@pytest.mark.parametrize(
    ("code", "linear"),
    [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124), (0xFE, 8), (0x7E, -8), (0xEF, 132), (0xDF, 396)],
)
def test_mulaw_standard_codes_decode_to_itu_values(code: int, linear: int) -> None:
    assert samples_of(g711.ulaw_decode(bytes([code])))[0] == linear


@pytest.mark.parametrize(
    ("code", "linear"),
    [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256), (0xD4, 24), (0xC5, 264), (0x80, 5504)],
)
def test_alaw_standard_codes_decode_to_itu_values(code: int, linear: int) -> None:
    assert samples_of(g711.alaw_decode(bytes([code])))[0] == linear


@pytest.mark.parametrize(
    ("linear", "ulaw", "alaw"),
    [
        (0, 0xFF, 0xD5),
        (-1, 0x7E, 0x55),
        (32767, 0x80, 0xAA),
        (-32768, 0x00, 0x2A),
        (8, 0xFE, 0xD5),
        (1000, 0xCE, 0xFA),
    ],
)
def test_encoders_give_itu_codes(linear: int, ulaw: int, alaw: int) -> None:
    data = np.array([linear], dtype="<i2").tobytes()
    assert g711.ulaw_encode(data) == bytes([ulaw])
    assert g711.alaw_encode(data) == bytes([alaw])


def test_every_sample_and_code_matches_the_reference_implementation() -> None:
    audioop = pytest.importorskip("audioop")  # the stdlib's C port of the reference g711.c (gone in 3.13)
    assert g711.ulaw_encode(ALL_PCM) == audioop.lin2ulaw(ALL_PCM, 2)
    assert g711.alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM, 2)
    assert g711.ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert g711.alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


@pytest.mark.parametrize(
    ("encode", "decode", "negative_zero"),
    [(g711.ulaw_encode, g711.ulaw_decode, {0x7F}), (g711.alaw_encode, g711.alaw_decode, set())],
    ids=["ulaw", "alaw"],
)
def test_decoded_codes_encode_back_to_themselves(
    encode: Callable[[bytes], bytes], decode: Callable[[bytes], bytes], negative_zero: set[int]
) -> None:
    again = encode(decode(ALL_CODES))
    assert [c for c in range(256) if again[c] != c] == sorted(negative_zero)


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)],
    ids=["ulaw", "alaw"],
)
def test_round_trip_error_is_within_half_a_quantisation_step(
    encode: Callable[[bytes], bytes], decode: Callable[[bytes], bytes]
) -> None:
    x = ALL_SAMPLES.astype(np.float64)
    err = np.abs(samples_of(decode(encode(ALL_PCM))) - x)
    inside = np.abs(x) <= 32000  # beyond the top code both laws clip
    # 16 steps per segment, each at most 1/12 of the segment's start: half a step is under |x|/24 (16 near zero)
    assert np.all(err[inside] <= np.maximum(16, np.abs(x[inside]) / 24 + 4))
    assert np.max(err) <= 1024


def test_pcma_of_a_sine_decodes_as_alaw_and_mulaw_bytes_would_not() -> None:
    # pyVoIP 1.6.8 encodes PCMA with its mu-law encoder; a PCMA peer then decodes mu-law bytes as A-law.
    tone = sine(-20)
    assert snr_db(tone, g711.alaw_decode(g711.alaw_encode(tone))) > 35
    assert g711.alaw_encode(tone) != g711.ulaw_encode(tone)
    assert snr_db(tone, g711.alaw_decode(g711.ulaw_encode(tone))) < 0


@pytest.mark.parametrize(
    ("kind", "dbfs", "min_gain_db"),
    [("sine", -20, 10.0), ("sine", -45, 30.0), ("speech", -20, 10.0), ("speech", -45, 30.0)],
)
def test_sixteen_bit_decode_path_beats_pyvoip_eight_bit_path(
    kind: str, dbfs: float, min_gain_db: float
) -> None:
    """pyVoIP 1.6 narrows decoded audio to 8 bits: about 11 dB lost on normal speech, 28+ dB on quiet."""
    name = f"{kind} {dbfs} dBFS"
    signal = sine(dbfs) if kind == "sine" else speech_like(dbfs)
    ours = g711.ulaw_decode(g711.ulaw_encode(signal))
    eight = eight_bit(ours)
    ours_snr, eight_snr = snr_db(signal, ours), snr_db(signal, eight)
    assert ours_snr > 25, name
    assert ours_snr - eight_snr >= min_gain_db, (name, ours_snr, eight_snr)


def test_odd_length_pcm_is_refused() -> None:
    with pytest.raises(ValueError, match="even number of bytes, got 3"):
        g711.ulaw_encode(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="even number of bytes"):
        g711.alaw_encode(b"\x00")


def test_coder_lookup_by_sdp_name() -> None:
    assert g711.encoder_for("pcma") is g711.alaw_encode
    assert g711.decoder_for("PCMU") is g711.ulaw_decode
    with pytest.raises(ValueError, match=r"no G\.711 coder for codec 'G729'"):
        g711.encoder_for("G729")


def test_empty_input_gives_empty_output() -> None:
    assert g711.ulaw_encode(b"") == b"" == g711.alaw_decode(b"")
