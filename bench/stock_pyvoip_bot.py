"""The baseline: an answering bot written the way pyVoIP 1.6.8's documentation writes one.

Run it as a subprocess (it registers at the server, then answers every call,
plays a tone or a WAV and hangs up after ``--seconds``)::

    python bench/stock_pyvoip_bot.py --server 127.0.0.1 --port 5060 \\
        --user ivr --password secret --bind 127.0.0.1 --sip-port 5070 \\
        --rtp 30000-30999 --seconds 30

It prints one line per event on stdout, flushed, for the harness to read:
``BOT READY <user> <bind>:<sip-port>`` once registered (``BOT FAILED <why>`` and
exit 2 if not), ``BOT RINGING <call-id>`` when pyVoIP hands it a call,
``BOT ANSWERED <call-id>``, ``BOT HUNG_UP <call-id>`` (the bot said goodbye),
``BOT CALLER_HUNG_UP <call-id>`` (BYE arrived first), ``BOT NOT_ANSWERED
<call-id> <state>``, and ``BOT STOPPED`` on SIGTERM/SIGINT, after which it
stops the phone (bounded to 5 s) and exits 0. Nothing but the library's
documented API is used: this is what "fails on stock pyVoIP" means.

How pyVoIP 1.6.8 behaves (site-packages/pyVoIP, line numbers of 1.6.8):

- Answer timer. On an INVITE, ``VoIPPhone._callback_MSG_Invite`` sends 180
  Ringing (VoIP/VoIP.py:577-580) and starts ``Timer(1, callCallback, [call])``
  (VoIP.py:583): the application sees the call one second after it arrived,
  whatever it does (sipp measures ~1.9 s INVITE to 200 through Kamailio on
  a fresh bot, ~1.0 s once it runs). A retransmitted INVITE with the same
  Call-ID is taken for a re-negotiation and dropped while RINGING
  (VoIP.py:552-563), so it gets no 100/180 again; once ANSWERED, a copy is
  "re-negotiated" and answered with a second 200 (VoIP.py:561-562).
- 200 OK sent once. ``VoIPCall.answer`` builds the answer and does one
  ``sendto`` (VoIP.py:298-308); there is no retransmission timer, and an ACK is
  simply ignored (SIP.py:945-946). A lost 200 is a lost call: the caller's
  INVITE transaction times out while pyVoIP believes it is ANSWERED.
- CANCEL. ``SIPClient.parse_message`` passes CANCEL to the phone callback,
  which only knows INVITE and BYE (VoIP.py:522-529), then replies 200 to the
  CANCEL (SIP.py:947-951). No 487 is ever sent for the INVITE, the call stays
  RINGING and the 1 s timer still answers it: the caller gets a 200 after
  cancelling (through Kamailio: 200 for the CANCEL, then the 200 for the
  INVITE, which tm passes on; uac_cancel.xml fails).
- Start-up gap. ``SIPClient.start`` registers, then starts the receive loop
  on ``Timer(1, self.recv_loop)`` (SIP.py:960-966): for a second after
  ``start()`` returns (and READY is printed) nothing is read; an INVITE then
  waits in the socket buffer (the first call's answer takes ~2 s).
- Every reply and request goes to the configured server address
  (``self.out.sendto(..., (self.server, self.port))``), never to the Via or
  Contact, except the 200 for BYE (SIP.py:927-944). A UA that sends straight
  to the bot never hears back: its 180/200 go to the registrar, which drops
  replies that do not carry its Via. Stock pyVoIP can only be called through
  the registrar. The BYE the bot sends
  copies the INVITE's Via headers instead of a Via of its own
  (``gen_bye`` → ``_gen_response_via_header``, SIP.py:1517-1520), and the 200
  it sends for a BYE carries a fresh To tag (``gen_ok``, SIP.py:1308-1318).
  Record-Route is never echoed in the 200 (``gen_answer``, SIP.py:1378-1433),
  so in-dialog requests reach a proxy without Route headers.
- 8-bit audio. Payloads are decoded with ``audioop.ulaw2lin(..., 1)`` plus a
  +128 bias (RTP.py:476-478) and encoded from unsigned 8-bit with a -128 bias
  (RTP.py:490-492): ``write_audio``/``read_audio`` are 8-bit unsigned 8 kHz.
- PCMA bug. ``RTPClient.encode_packet`` encodes PCMA with ``encode_pcmu``
  (RTP.py:457-461): a call that negotiated PCMA (payload 8 first in the offer)
  sends µ-law bytes labelled A-law, heard as loud distortion.
- Threads and polling. Per call: the 1 s callback ``Timer`` that runs the
  whole application callback (VoIP.py:583) and, per RTP client, an "RTP
  Receiver" and an "RTP Transmitter" ``Timer(0, ...)`` thread (RTP.py:345-350):
  three threads per call. The receiver polls a non-blocking socket with
  ``time.sleep(0.01)`` (RTP.py:370-376), blocking reads poll every 10 ms
  (RTP.py:169-172, 357-362), and the SIP receive loop does the same
  (SIP.py:850-857). The transmitter paces with ``time.sleep`` per 20 ms packet
  (RTP.py:382-419), so load shows up as jitter and drift.
- Registration. ``default_expires = 120`` is fixed (SIP.py:834), re-REGISTER
  runs on a ``Timer`` at 115 s (SIP.py:1764-1771); the registering thread
  reads the shared socket directly while holding the receive lock
  (SIP.py:1776-1785), so a request arriving then is taken for the REGISTER
  response. Failures are retried immediately; after
  ``REGISTER_FAILURE_THRESHOLD`` (3, __init__.py:20) the phone stops itself.
  A wrong password is *not* an exception from ``start()``: it returns while
  retries run on a timer thread.
- OPTIONS and other methods are never answered: ``parse_message`` ends in
  ``debug("TODO: Add 400 Error on non processable request")`` (SIP.py:952-953);
  ``Allow`` lists only INVITE, ACK, BYE, CANCEL (__init__.py:33). An OPTIONS
  keepalive or a FOO through Kamailio ends in tm's 408 after fr_timer.
- Side effects a host process inherits: unknown payload types call
  ``warnings.simplefilter("default")`` (VoIP.py:140-143, 376-379), resetting
  the process's warning filters; ports are released in ``VoIPCall.__del__``
  (VoIP.py:233-235).

The waiting loop in ``answer`` below sleeps in 100 ms steps because that is
the library's documented pattern and the call object offers nothing to block
on; it is bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from pyVoIP.VoIP import CallState, InvalidStateError, VoIPCall, VoIPPhone
from pyVoIP.VoIP.status import PhoneStatus

SAMPLE_RATE = 8000
REGISTER_WAIT_S = 10.0
STOP_WAIT_S = 5.0

_print_lock = threading.Lock()


def emit(*words: object) -> None:
    with _print_lock:
        print("BOT", *words, flush=True)


def tone_8bit(seconds: float, frequency: float = 440.0, level: float = 0.3) -> bytes:
    """A sine tone as pyVoIP wants audio: 8 kHz, unsigned 8-bit."""
    count = int(seconds * SAMPLE_RATE)
    return bytes(
        128 + round(127 * level * math.sin(2 * math.pi * frequency * n / SAMPLE_RATE)) for n in range(count)
    )


def wav_8bit(path: Path) -> bytes:
    """An 8 kHz mono WAV (8- or 16-bit PCM) as unsigned 8-bit samples."""
    with wave.open(str(path), "rb") as wav:
        if wav.getframerate() != SAMPLE_RATE or wav.getnchannels() != 1:
            raise ValueError(f"{path}: need 8 kHz mono, got {wav.getframerate()} Hz x {wav.getnchannels()}")
        width = wav.getsampwidth()
        frames = wav.readframes(wav.getnframes())
    if width == 1:
        return frames
    if width == 2:
        # signed little-endian 16-bit → unsigned 8-bit: keep the high byte, flip its sign bit
        return bytes((b ^ 0x80) for b in frames[1::2])
    raise ValueError(f"{path}: {8 * width}-bit samples are not supported")


def parse_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port range: {text!r} (want LOW-HIGH)") from None
    if not 0 < bounds[0] <= bounds[1] < 65536:
        raise argparse.ArgumentTypeError(f"not a port range: {text!r}")
    return bounds


def make_answer(audio: bytes, seconds: float) -> Callable[[VoIPCall], None]:
    def answer(call: VoIPCall) -> None:
        call_id = call.call_id
        emit("RINGING", call_id)
        try:
            call.answer()
        except InvalidStateError:
            emit("NOT_ANSWERED", call_id, call.state.value)
            return
        emit("ANSWERED", call_id)
        try:
            call.write_audio(audio)
            deadline = time.monotonic() + seconds
            while call.state == CallState.ANSWERED and time.monotonic() < deadline:
                time.sleep(0.1)
            if call.state == CallState.ANSWERED:
                call.hangup()
                emit("HUNG_UP", call_id)
            else:
                emit("CALLER_HUNG_UP", call_id)
        except InvalidStateError:
            emit("CALLER_HUNG_UP", call_id)

    return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--server", default="127.0.0.1", help="registrar/proxy address")
    parser.add_argument("--port", type=int, default=5060, help="registrar/proxy UDP port")
    parser.add_argument("--user", default="ivr")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--bind", default="127.0.0.1", help="local address (also put in SDP)")
    parser.add_argument("--sip-port", type=int, default=5070, help="local SIP UDP port")
    parser.add_argument("--rtp", type=parse_range, default=(30000, 30999), help="RTP port range LOW-HIGH")
    parser.add_argument("--seconds", type=float, default=30.0, help="hang up this long after answering")
    parser.add_argument("--wav", type=Path, help="8 kHz mono WAV to play instead of a tone")
    parser.add_argument(
        "--lifetime", type=float, help="exit after this many seconds (default: until signalled)"
    )
    args = parser.parse_args(argv)

    audio = wav_8bit(args.wav) if args.wav else tone_8bit(min(args.seconds, 60.0))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    phone = VoIPPhone(
        args.server,
        args.port,
        args.user,
        args.password,
        myIP=args.bind,
        callCallback=make_answer(audio, args.seconds),
        sipPort=args.sip_port,
        rtpPortLow=args.rtp[0],
        rtpPortHigh=args.rtp[1],
    )
    try:
        phone.start()
    except Exception as error:
        emit("FAILED", f"{type(error).__name__}: {error}")
        return 2

    # start() returns REGISTERED, or REGISTERING while retries run on a timer thread
    deadline = time.monotonic() + REGISTER_WAIT_S
    while phone.get_status() == PhoneStatus.REGISTERING and time.monotonic() < deadline:
        if stop.wait(0.05):
            break
    code = 0
    if phone.get_status() == PhoneStatus.REGISTERED:
        emit("READY", args.user, f"{args.bind}:{args.sip_port}")
        stop.wait(args.lifetime)
    else:
        emit("FAILED", f"registration: {phone.get_status().value}")
        code = 2
    emit("STOPPED")
    stopper = threading.Thread(target=phone.stop, name="stop phone", daemon=True)
    stopper.start()
    stopper.join(STOP_WAIT_S)
    sys.stdout.flush()
    sys.stderr.flush()
    # pyVoIP's timer threads are not daemons; do not let a stuck one keep the process alive
    os._exit(code if not stopper.is_alive() else 3)


if __name__ == "__main__":
    sys.exit(main())
