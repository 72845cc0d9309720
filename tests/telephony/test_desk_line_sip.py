"""The desk line over real SIP on loopback: what stock pyVoIP 1.6.8 gets wrong, and ours gets right.

Each defect of stock pyVoIP (see ``bench/stock_pyvoip_bot.py``'s docstring for
the library source lines) has a test here against our ``DeskLine`` (run as
``ivr serve`` runs it, through ``OpenLine``); the docstrings say what stock
pyVoIP does. The checks that run stock pyVoIP itself and show it failing live
with the benchmark, in ``bench/stock_pyvoip_checks.py`` (run by hand, with the
bench extra): the product and these tests do not need pyVoIP.

Callers are a ``SipPhone`` (a caller that listens like a person: when the bot
speaks), sipp scenarios from ``tests/telephony/sipp/``, or a ``RawCaller``
(two bare UDP sockets that send exactly the SIP they are told to).
Everything is real time; tests over ~2 s are marked slow.
"""

from __future__ import annotations

import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError

from ivr.call.events import EventKind, Outcome
from ivr.config import SipSettings
from ivr.demo.phone import SipPhone
from ivr.demo.phone_script import HangUp, LoseLine, Noise, Silent, WaitForBot
from ivr.line.desk_line import KEEP_ENDED_S
from ivr.line.open_line import OpenLine
from ivr.media import SILENT_FRAME
from ivr.telephony import g711
from ivr.telephony.rtp import RtpPacket
from tests.telephony.conftest import REPO, CallerNumbers, LineMaker, wait_for_record, wait_registered
from tests.telephony.harness.kamailio import Kamailio, KamailioSettings, kamailio_available, sip_options_ping
from tests.telephony.harness.ports import LOOPBACK
from tests.telephony.harness.sipp import run_sipp, sipp_available
from tests.telephony.key_flows import key_flow
from tests.telephony.raw_sip import RawCaller

pytestmark = [
    pytest.mark.skipif(not kamailio_available(), reason="kamailio is not installed"),
    pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed"),
]

AUDIO = REPO / "audio" / "zh-CN"


# --- helpers ---------------------------------------------------------------------------------


def flow_copy(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def desk_flow_answering_at_once(tmp_path: Path) -> Path:
    """The shipped desk flow with ``rings: 0``: the bot picks up as the call arrives."""
    text = (REPO / "flows" / "desk.yaml").read_text(encoding="utf-8")
    assert "  rings: 1 " in text
    return flow_copy(tmp_path, "desk-at-once", text.replace("  rings: 1 ", "  rings: 0 ", 1))


def wav_samples(prompt: str) -> npt.NDArray[np.float64]:
    with wave.open(str(AUDIO / f"{prompt}.wav"), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float64)


def decoded(packets: list[tuple[float, RtpPacket]], decode: object) -> npt.NDArray[np.float64]:
    assert callable(decode)
    pcm = b"".join(decode(p.payload) for _, p in packets)
    return np.frombuffer(pcm, "<i2").astype(np.float64)


def snr_db(reference: npt.NDArray[np.float64], heard: npt.NDArray[np.float64]) -> tuple[float, int]:
    """The reference's SNR in what was heard, aligned by cross-correlation; and how many samples matched."""
    size = 1 << (len(heard) + len(reference)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(heard, size) * np.conj(np.fft.rfft(reference, size)), size)
    lag = int(np.argmax(corr[: len(heard)]))
    got = heard[lag : lag + len(reference)]
    ref = reference[: len(got)]
    noise = float(np.sum((ref - got) ** 2))
    return 10 * float(np.log10(float(np.sum(ref**2)) / max(noise, 1e-9))), len(got)


def speech_runs(segments: list[list[float]], gap: float = 0.5) -> list[tuple[float, float]]:
    """The caller's ``bot_speech`` segments merged across pauses shorter than ``gap`` (one run per prompt)."""
    runs: list[list[float]] = []
    for start, end in segments:
        if runs and start - runs[-1][1] < gap:
            runs[-1][1] = end
        else:
            runs.append([start, end])
    return [(a, b) for a, b in runs]


def prompt_seconds(prompt: str) -> float:
    return len(wav_samples(prompt)) / 8000


# --- 1. responses follow the top Via (RFC 3261 §18.2.2, RFC 3581) -------------------------------


def test_responses_go_where_the_top_via_says_not_to_a_configured_server(
    direct_line: OpenLine, raw: RawCaller
) -> None:
    """Stock pyVoIP sends every response to its one configured server (SIP.py:927-944).

    Ours: without ``rport`` the response goes to the Via's sent-by port (here
    another socket than the one the INVITE came from); with ``rport`` to the
    packet's source, and the Via comes back with ``received`` and the port filled.
    """
    target = direct_line.line.transport.address
    elsewhere = raw.another_socket()
    dialog = raw.invite(target, via_port=elsewhere.getsockname()[1], rport=False)
    at_via = raw.listen(0.5, lambda m: m.status == 180, sock=elsewhere)
    assert [m.status for m in at_via] == [180]  # no 100 first: the 180 goes at once (RFC 3261 §17.2.1)
    assert raw.listen(0.2) == [], "a response went to the packet's source, not to the Via"
    raw.send(raw.cancel(dialog), target)
    assert {m.status for m in raw.listen(0.5, lambda m: m.status == 487, sock=elsewhere)} == {200, 487}

    dialog = raw.invite(target, rport=True)
    ringing = raw.expect(180)
    via = ringing.top_via
    assert via.rport == raw.port and via.received == LOOPBACK, str(via)
    raw.send(raw.cancel(dialog), target)
    raw.expect(487)


def test_a_direct_mode_call_sipp_hold_and_bye(direct_line: OpenLine) -> None:
    """sipp dials the line straight (no proxy), is answered, holds 0.5 s, hangs up: 200 for the BYE."""
    result = run_sipp(
        "uac_call_hold_bye", direct_line.line.transport.address, user="desk", pause_ms=500, timeout_s=8
    )
    assert result.ok, result.report()


# --- 2. answer at the flow's ring setting, from the first moment ---------------------------------


def test_answers_at_the_flows_ring_setting_even_right_after_start(
    open_line: LineMaker, phone: SipPhone, tmp_path: Path, caller_number: CallerNumbers
) -> None:
    """Stock pyVoIP answers one second after the INVITE whatever the application says
    (``Timer(1, callCallback)``, VoIP.py:583) and reads nothing for a second after
    ``start()`` (``Timer(1, self.recv_loop)``, SIP.py:960-966); see ``bench/stock_pyvoip_checks.py``.

    Ours: ``rings: 0`` answers at once, even for an INVITE sent the moment the line started;
    the shipped ``rings: 1`` answers at the end of the first 1 s ring; 180 goes out at once.
    """
    # both built first: building a line (checking the flow, loading every prompt) is heavy work
    at_once = open_line(flow=desk_flow_answering_at_once(tmp_path), start=False)
    shipped = open_line(start=False)
    at_once.start()
    phone.user = first_number = caller_number()
    first = phone.call(at_once.line.transport.address, [WaitForBot(), HangUp()])
    shipped.start()
    phone.user = caller_number()
    second = phone.call(shipped.line.transport.address, [Silent(0.2), HangUp()])
    assert first.done.wait(10) and second.done.wait(10)
    for call in (first, second):
        assert call.ringing_at is not None and call.ringing_at - call.sent_at < 0.1
    assert first.answered_at is not None and first.answered_at - first.sent_at < 0.2
    assert second.answered_at is not None and 0.95 < second.answered_at - second.sent_at < 1.2
    assert first.bot_speech and first.bot_speech[0][0] < 0.5, "the greeting did not start at the answer"
    record = wait_for_record(at_once, first_number)
    greeting = next(e for e in record.events if e.kind is EventKind.PROMPT_STARTED)
    assert (greeting.detail["prompt"], greeting.seconds) == ("greeting", 0.0)


# --- 3. the 200 OK is retransmitted until the ACK --------------------------------------------------


@pytest.mark.slow
def test_the_200_is_retransmitted_until_the_ack_and_a_lost_ack_drops_nothing(
    open_line: LineMaker, raw: RawCaller, tmp_path: Path
) -> None:
    """Stock pyVoIP sends its 200 once (``VoIPCall.answer``, VoIP.py:298-308) and ignores ACK
    (SIP.py:945-946): a lost 200 is a lost call.

    Ours (timers G/H): while no ACK comes, the 200 goes again at T1 = 0.5 s, then
    doubling (1 s, 2 s...); the call stays up and its audio flows; once the ACK
    arrives the retransmissions stop.
    """
    line = open_line(flow=desk_flow_answering_at_once(tmp_path))
    target = line.line.transport.address
    dialog = raw.invite(target)
    first = raw.answered(dialog)
    oks = [h for h in raw.heard if h.message.status == 200]
    raw.listen(1.8)  # no ACK: the "lost" ACK
    oks = [h for h in raw.heard if not h.message.is_request and h.message.status == 200]
    assert len(oks) == 3, [round(h.at - oks[0].at, 2) for h in oks]
    gaps = np.diff([h.at for h in oks])
    assert abs(gaps[0] - 0.5) < 0.06 and abs(gaps[1] - 1.0) < 0.06, gaps
    assert all(h.message.to_tag == first.to_tag for h in oks)
    raw.send(raw.in_dialog(dialog, "ACK"), target)
    raw.drain_rtp()
    packets = raw.rtp_packets(2.2)  # the next 200 would have come 2 s after the last
    assert not [h for h in raw.listen(0.05) if h.status == 200], "200 retransmitted after the ACK"
    assert len(packets) > 100, "the call's audio stopped"
    assert line.line.live_calls() == 1
    raw.send(raw.in_dialog(dialog, "BYE"), target)
    raw.expect(200, "BYE")


# --- 4. CANCEL -------------------------------------------------------------------------------


def test_cancel_gets_200_and_487_and_the_call_is_never_answered(direct_line: OpenLine) -> None:
    """Stock pyVoIP replies 200 to CANCEL, never 487, and its 1 s timer still answers the
    call (VoIP.py:522-529, SIP.py:947-951); ``bench/stock_pyvoip_checks.py`` shows sipp's uac_cancel failing there.
    """
    line = direct_line.line
    records, calls = len(direct_line.records), line.stats.calls
    result = run_sipp("uac_cancel", line.transport.address, user="desk", pause_ms=200, timeout_s=5)
    assert result.ok, result.report()
    time.sleep(1.0)  # past the moment the line would have answered (1 s)
    assert line.stats.calls == calls + 1
    assert line.live_calls() == 0
    assert len(direct_line.records) == records, "a cancelled call reached the engine"
    heard = result.responses_heard()
    assert (200, "CANCEL") in heard and (487, "INVITE") in heard, heard
    assert (200, "INVITE") not in heard, f"the cancelled call was answered: {heard}"


@pytest.mark.slow
def test_cancel_through_kamailio_gets_200_and_487(registrar: Kamailio, register_line: OpenLine) -> None:
    """sipp's CANCEL scenario through Kamailio to the registered line (stock pyVoIP fails it:
    ``bench/stock_pyvoip_checks.py``)."""
    ours = run_sipp("uac_cancel", registrar.address, user="ivr", pause_ms=200, timeout_s=4)
    assert ours.ok, ours.report()


# --- 5. one call, one media stream --------------------------------------------------------------


def _streams(packets: list[tuple[float, RtpPacket]]) -> set[int]:
    return {p.ssrc for _, p in packets}


@pytest.mark.slow
def test_a_retransmitted_invite_or_a_reinvite_never_starts_a_second_stream(
    open_line: LineMaker, raw: RawCaller, tmp_path: Path
) -> None:
    """Stock pyVoIP takes a copy of the INVITE after the answer for a re-negotiation and
    answers it with a new 200 and new RTP clients (VoIP.py:552-563): two transmitters
    play the same audio, the prompt runs 2-3x too fast.

    Ours: the copy gets the same 200 again, a re-INVITE gets the same answer, and the
    caller still receives one stream (one SSRC) at 50 packets a second. An INVITE
    after the hang-up is not a new call.
    """
    line = open_line(flow=desk_flow_answering_at_once(tmp_path))
    target = line.line.transport.address
    dialog = raw.invite(target)
    ok = raw.answered(dialog)
    raw.send(dialog.invite, target)  # a retransmission: same branch, same everything
    again = raw.answered(dialog)
    assert again.to_tag == ok.to_tag and again.body == ok.body
    raw.send(raw.in_dialog(dialog, "ACK"), target)
    reinvite = raw.in_dialog(dialog, "INVITE", body=dialog.invite.body)
    raw.send(reinvite, target)
    answer = raw.answered(dialog)
    assert answer.to_tag == ok.to_tag
    assert answer.body == ok.body, "the re-INVITE got another media answer"
    raw.send(raw.in_dialog(dialog, "ACK"), target)
    raw.drain_rtp()
    packets = raw.rtp_packets(2.0)
    assert len(_streams(packets)) == 1
    assert 95 <= len(packets) <= 103, f"{len(packets)} packets in 2 s: not one 20 ms stream"
    assert line.line.stats.calls == 1

    raw.send(raw.in_dialog(dialog, "BYE"), target)
    raw.expect(200, "BYE")
    raw.drain_rtp()
    raw.send(dialog.invite, target)  # the old INVITE, arriving after the call ended
    late = raw.listen(0.5)
    assert not [m for m in late if m.status == 200], [m.start_line for m in late]
    assert raw.rtp_packets(0.5) == []
    assert line.line.stats.calls == 1 and line.line.live_calls() == 0


def test_sipps_retransmitted_invite_makes_one_call(open_line: LineMaker, tmp_path: Path) -> None:
    line = open_line(flow=desk_flow_answering_at_once(tmp_path))
    result = run_sipp(
        "uac_invite_retransmit", line.line.transport.address, user="desk", pause_ms=300, timeout_s=6
    )
    assert result.ok, result.report()
    assert line.line.stats.calls == 1


# --- 6, 7, 8. the audio: 16-bit, real A-law, a steady 20 ms clock ------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("codec", "payload_type", "decode", "wrong_decode"),
    [("PCMU", 0, g711.ulaw_decode, g711.alaw_decode), ("PCMA", 8, g711.alaw_decode, g711.ulaw_decode)],
)
def test_the_caller_hears_the_greeting_as_recorded_every_20_ms(
    direct_line: OpenLine,
    raw: RawCaller,
    codec: str,
    payload_type: int,
    decode: object,
    wrong_decode: object,
) -> None:
    """Stock pyVoIP turns audio into unsigned 8-bit (RTP.py:476-492), which caps the
    greeting at ~27 dB SNR, encodes PCMA with the µ-law encoder (RTP.py:457-461: A-law
    labelled bytes heard as loud distortion), and paces each call's own transmitter
    thread with ``time.sleep`` (RTP.py:382-419).

    Ours: offered only ``codec``, the line sends it (payload type checked); the caller
    decodes the greeting at G.711's own quality (> 33 dB SNR against the prompt file,
    whole: not cut short), while decoding it as the other law gives noise; packets
    arrive every 20 ms (mean within 0.5 ms, 50 a second).
    """
    target = direct_line.line.transport.address
    dialog = raw.invite(target, codecs=(codec,))
    raw.answered(dialog)
    raw.send(raw.in_dialog(dialog, "ACK"), target)
    greeting = wav_samples("greeting")
    packets = raw.rtp_packets(len(greeting) / 8000 + 0.5)
    raw.send(raw.in_dialog(dialog, "BYE"), target)
    raw.expect(200, "BYE")
    assert {p.payload_type for _, p in packets} == {payload_type}
    assert len(_streams(packets)) == 1
    snr, matched = snr_db(greeting, decoded(packets, decode))
    assert matched == len(greeting), "the greeting was cut short"
    assert snr > 33, f"{codec}: the greeting arrived at {snr:.1f} dB SNR"
    assert snr_db(greeting, decoded(packets, wrong_decode))[0] < 10
    intervals = np.diff([t for t, _ in packets])
    assert abs(float(np.mean(intervals)) - 0.020) < 0.0005
    seconds = packets[-1][0] - packets[0][0]
    assert abs(len(packets) - 1 - seconds * 50) < 3


# --- 8. one clock, no thread per call; 30 calls at once --------------------------------------


@pytest.mark.slow
def test_thirty_simultaneous_calls_are_all_answered_and_heard_without_a_thread_each(
    direct_line: OpenLine, phone: SipPhone, caller_number: CallerNumbers
) -> None:
    """Stock pyVoIP runs three threads per call (answer timer, RTP receiver, RTP transmitter;
    VoIP.py:583, RTP.py:345-350). Ours: the line's two threads (SIP reader, media clock)
    carry every call; the thread count of this process does not move while 30 calls run.
    """
    line = direct_line.line
    before = threading.active_count()
    calls, numbers = [], set()
    for _ in range(30):
        phone.user = caller_number()
        numbers.add(phone.user)
        calls.append(phone.call(line.transport.address, [WaitForBot(), HangUp()]))
    peak_calls, peak_threads = 0, before
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(c.done.is_set() for c in calls):
        peak_calls = max(peak_calls, line.live_calls())
        peak_threads = max(peak_threads, threading.active_count())
        time.sleep(0.05)
    assert all(c.done.is_set() for c in calls), "some calls did not finish"
    assert peak_calls == 30
    assert peak_threads == before, f"threads grew from {before} to {peak_threads} with calls"
    greeting = prompt_seconds("greeting")
    for call in calls:
        assert call.answered_at is not None and call.ended_by == "caller", call.responses
        runs = speech_runs(call.bot_speech)
        assert runs and runs[0][0] < 0.2, call.bot_speech
        # the whole greeting, give or take a few frames: the 30 phones share this process with the line,
        # and on a loaded machine (CI runs two workers) a late phone's jitter buffer drops a few late
        # frames (seen: 0.157 s short); the greeting's exact audio is checked frame by frame for one caller
        # in test_the_caller_hears_the_greeting_as_recorded_every_20_ms
        assert abs((runs[0][1] - runs[0][0]) - greeting) < 0.4, runs
    with line.ended:
        line.ended.wait_for(lambda: numbers <= {r.caller for r in direct_line.records}, 3)
    assert numbers <= {r.caller for r in direct_line.records}, "not every call has its record"


# --- the caller's line: silence, noise, hanging up mid-prompt --------------------------------


@pytest.mark.slow
def test_a_silent_caller_is_nudged_after_10_s_then_let_go_after_10_s_more(
    open_line: LineMaker, phone: SipPhone, tmp_path: Path, caller_number: CallerNumbers
) -> None:
    """The handbook's silence ladder measured at the caller, in real time: prompts 10 s apart
    (within 0.1 s), the 11 s goodbye heard whole (the clock keeps 20 ms for its whole
    length), then the bot's BYE after the flow's goodbye wait (1 s here).
    """
    ladder = [("10s", "confirm_understood.end", False), ("10s", "silent.goodbye", True)]  # the handbook's
    line = open_line(
        flow=key_flow(tmp_path / "silent.yaml", "silent_ladder", silence=ladder, goodbye_wait="1s")
    )
    phone.user = caller_number()
    call = phone.call(line.line.transport.address, [Silent(60)])
    assert call.done.wait(45), "the bot did not hang up on a silent caller"
    assert call.ended_by == "bot"
    runs = speech_runs(call.bot_speech)
    assert len(runs) == 3, runs
    (_, hello_end), (nudge, nudge_end), (goodbye, goodbye_end) = runs
    assert abs(nudge - hello_end - 10) < 0.1, runs
    assert abs(goodbye - nudge_end - 10) < 0.1, runs
    assert abs(goodbye_end - goodbye - prompt_seconds("silent.goodbye")) < 0.1, runs
    assert call.ended_at is not None
    assert abs(call.since_answer(call.ended_at) - goodbye_end - 1.0) < 0.15
    record = wait_for_record(line, phone.user)
    assert record.outcome is Outcome.SILENT_HANGUP


def test_a_caller_phone_gone_without_a_bye_is_hung_up_after_the_media_timeout(
    open_line: LineMaker, phone: SipPhone, caller_number: CallerNumbers
) -> None:
    """A phone that answers, sends a little and then nothing (no BYE either): the line ends the
    call ``media_timeout`` (2 s here) after the last packet, not at the silent-call ladder's 20 s,
    with a BYE; the record says the media was lost."""
    line = open_line(media_timeout=2.0)
    phone.user = caller_number()
    call = phone.call(line.line.transport.address, [Silent(1.0), LoseLine(60)])
    assert call.done.wait(15), "the line did not end a call with no media"
    assert call.ended_by == "bot", "the line sent a BYE"
    record = wait_for_record(line, phone.user)
    last = record.events[-1]
    assert last.kind is EventKind.HANGUP and last.detail["by"] == "no media", last
    assert 2.9 <= last.seconds <= 3.3, f"1 s of audio, then 2 s without a packet: {last.seconds:.2f} s"
    assert record.outcome is Outcome.ABANDONED


def test_a_media_timeout_under_a_second_is_refused_with_a_reason() -> None:
    with pytest.raises(ValidationError, match="use 0 to turn it off"):
        SipSettings(media_timeout=0.5)
    assert SipSettings(media_timeout=0).media_timeout == 0


@pytest.mark.slow
def test_a_noisy_line_is_asked_to_call_again_after_3_s_of_noise(
    direct_line: OpenLine, phone: SipPhone, caller_number: CallerNumbers
) -> None:
    """Pink noise at -15 dBFS after the greeting: the bot says noisy.repeat 3 s into it."""
    phone.user = caller_number()
    call = phone.call(direct_line.line.transport.address, [WaitForBot(), Noise(5, -15, "pink"), HangUp()])
    assert call.done.wait(20)
    runs = speech_runs(call.bot_speech)
    assert len(runs) >= 2, runs
    noisy = [n for n, frame in enumerate(call.sent_audio) if frame != SILENT_FRAME]
    noise_start = noisy[0] * 0.020  # the caller's first noisy frame, in seconds after the answer
    assert runs[0][1] < noise_start < runs[1][0], runs
    assert 2.9 < runs[1][0] - noise_start < 3.6, (noise_start, runs)
    record = wait_for_record(direct_line, phone.user)
    prompts = [e.detail["prompt"] for e in record.events if e.kind is EventKind.PROMPT_STARTED]
    assert prompts[:2] == ["greeting", "noisy.repeat"]


@pytest.mark.slow
def test_the_callers_bye_mid_prompt_ends_the_call_and_its_audio(
    open_line: LineMaker, raw: RawCaller, tmp_path: Path
) -> None:
    """BYE 1 s into the 3.9 s greeting: 200 for it, no RTP after it, the record says the caller
    hung up; and the idle line's clock sleeps until the ended call is forgotten (32 s after it
    *ended*: a deadline counted from its arrival woke the clock early and left it spinning)."""
    opened = open_line(flow=desk_flow_answering_at_once(tmp_path))
    line = opened.line
    target = line.transport.address
    dialog = raw.invite(target)
    raw.answered(dialog)
    raw.send(raw.in_dialog(dialog, "ACK"), target)
    assert len(raw.rtp_packets(1.0)) > 40
    raw.send(raw.in_dialog(dialog, "BYE"), target)
    raw.expect(200, "BYE")
    record = wait_for_record(opened, raw.user)
    deadline = line._next_deadline()
    assert deadline is not None and deadline - time.monotonic() > KEEP_ENDED_S - 0.5
    time.sleep(0.06)  # what was already on its way
    raw.drain_rtp()
    assert raw.rtp_packets(0.5) == [], "RTP after the caller's BYE"
    kinds = [e.kind for e in record.events]
    assert EventKind.PROMPT_FINISHED not in kinds, "the greeting played to the end"
    hangup = next(e for e in record.events if e.kind is EventKind.HANGUP)
    assert hangup.detail["by"] == "caller"
    assert record.outcome is Outcome.ABANDONED


# --- OPTIONS, unknown methods, busy ------------------------------------------------------------


def test_options_and_unknown_methods_are_answered(direct_line: OpenLine) -> None:
    address = direct_line.line.transport.address
    options = run_sipp("uac_options", address, user="desk", timeout_s=3)
    assert options.ok, options.report()
    foo = run_sipp("uac_unknown_method", address, user="desk", timeout_s=3)
    assert foo.ok, foo.report()
    assert "501 Not Implemented" in foo.messages


def test_a_line_refusing_new_calls_answers_options_503_so_a_proxy_sends_them_elsewhere(
    open_line: LineMaker,
) -> None:
    """Kamailio's dispatcher probes each node with OPTIONS: a draining line (SIGTERM) says 503."""
    line = open_line()
    host, port = line.line.transport.address
    assert sip_options_ping(host, port, timeout=2) == 200
    line.line.refuse_new_calls()
    assert sip_options_ping(host, port, timeout=2) == 503


@pytest.mark.slow
def test_options_and_foo_through_kamailio_are_answered(registrar: Kamailio, register_line: OpenLine) -> None:
    """Registered at Kamailio, the line answers OPTIONS (200) and FOO (501) before Kamailio's
    transaction times out (stock pyVoIP answers neither: ``bench/stock_pyvoip_checks.py``)."""
    for scenario in ("uac_options", "uac_unknown_method"):
        ours = run_sipp(scenario, registrar.address, user="ivr", timeout_s=3)
        assert ours.ok, ours.report()


def test_a_call_over_max_calls_gets_486(open_line: LineMaker, raw: RawCaller) -> None:
    line = open_line(max_calls=1)
    target = line.line.transport.address
    first = raw.invite(target)
    raw.expect(180)
    raw.invite(target)
    raw.expect(486)
    raw.send(raw.cancel(first), target)
    raw.expect(487)


# --- 9. the registrar --------------------------------------------------------------------------


@pytest.mark.slow
def test_registered_line_takes_a_call_through_kamailio(
    registrar: Kamailio, register_line: OpenLine, phone: SipPhone, caller_number: CallerNumbers
) -> None:
    """Kamailio challenges every REGISTER (401, digest): being registered means the line
    answered the challenge. A caller dialing sip:ivr@kamailio is answered and greeted."""
    registration = register_line.line.registration
    assert registration is not None and registration.registered
    phone.user = caller_number()
    call = phone.call(registrar.address, [WaitForBot(), HangUp()], uri=registrar.aor("ivr"))
    assert call.done.wait(10)
    assert call.answered_at is not None and call.ended_by == "caller"
    runs = speech_runs(call.bot_speech)
    assert runs and abs(runs[0][1] - runs[0][0] - prompt_seconds("greeting")) < 0.15


def test_a_wrong_password_leaves_the_line_retrying_not_crashed(
    registrar: Kamailio, open_line: LineMaker
) -> None:
    line = open_line(mode="register", registrar=registrar, password="wrong")
    registration = line.line.registration
    assert registration is not None
    deadline = time.monotonic() + 2
    while registration.state != "waiting" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert registration.state == "waiting" and registration.registrations == 0
    assert line.line.clock.failure is None


@pytest.fixture
def short_registrar() -> Iterator[Kamailio]:
    """A Kamailio of its own that grants at most 4 s, whatever is asked (and may be restarted)."""
    with Kamailio(settings=KamailioSettings(max_expires=4, fr_timer_ms=2000)) as server:
        yield server


@pytest.mark.slow
def test_the_granted_expiry_is_honoured(short_registrar: Kamailio, open_line: LineMaker) -> None:
    """Stock pyVoIP asks for 120 s and refreshes at 115 s whatever is granted (SIP.py:834,
    1764-1771): with a registrar granting 4 s, it is unreachable from the 5th second on.

    Ours asks for 60 s, reads the 4 s granted, refreshes before each expiry, and stays
    reachable.
    """
    line = open_line(mode="register", registrar=short_registrar, expires=60)
    wait_registered(line)
    registration = line.line.registration
    assert registration is not None and registration.granted == 4
    wait_registered(line, timeout=7, count=4)  # three refreshes in ~6 s: one each ~2 s
    options = run_sipp("uac_options", short_registrar.address, user="ivr", timeout_s=3)
    assert options.ok, options.report()


@pytest.mark.slow
def test_the_line_re_registers_after_a_registrar_outage_and_takes_the_next_call(
    short_registrar: Kamailio, open_line: LineMaker, phone: SipPhone, caller_number: CallerNumbers
) -> None:
    """Stock pyVoIP stops itself after three failed REGISTERs (REGISTER_FAILURE_THRESHOLD,
    __init__.py:20). Ours retransmits and retries with backoff for as long as it runs:
    Kamailio stopped for 3 s and started again (every binding forgotten), the line
    registers again by itself and the next call through Kamailio is answered."""
    line = open_line(mode="register", registrar=short_registrar, expires=60)
    wait_registered(line)
    registration = line.line.registration
    assert registration is not None
    short_registrar.stop()
    time.sleep(3)
    before = registration.registrations
    short_registrar.start()
    wait_registered(line, timeout=12, count=before + 1)
    phone.user = caller_number()
    call = phone.call(short_registrar.address, [Silent(0.5), HangUp()], uri=short_registrar.aor("ivr"))
    assert call.done.wait(8)
    assert call.answered_at is not None, call.responses


@pytest.fixture
def proxy_challenging_registrar() -> Iterator[Kamailio]:
    """A Kamailio of its own that challenges REGISTER with 407 Proxy Authentication Required."""
    with Kamailio(settings=KamailioSettings(register_challenge=407, fr_timer_ms=2000)) as server:
        yield server


@pytest.mark.slow
def test_a_407_on_register_is_answered(proxy_challenging_registrar: Kamailio, open_line: LineMaker) -> None:
    """Stock pyVoIP answers only 401 on REGISTER (SIP.py:1700-1728): a registrar that asks with
    407 never sees its credentials (``bench/stock_pyvoip_checks.py``). Ours answers 407 with
    Proxy-Authorization and is registered."""
    line = open_line(mode="register", registrar=proxy_challenging_registrar)
    wait_registered(line)
    options = run_sipp("uac_options", proxy_challenging_registrar.address, user="ivr", timeout_s=3)
    assert options.ok, options.report()
