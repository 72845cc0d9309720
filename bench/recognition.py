"""Speech recognition cost with the real small Korean vosk model: load, real-time factor, memory, capacity.

    python bench/recognition.py [--calls 10] [--workers 2]

Prints

- the model's load time and resident memory;
- the real-time factor (CPU seconds per second of audio, fed as 20 ms frames)
  in grammar mode (five words, five-word grammar) and in free decoding (the
  same words, and whole sentences), with how many words grammar mode got right;
- resident memory per live recognizer with 1, 5 and 10 of them mid-utterance,
  in each mode (measured in a fresh process per mode, so nothing freed earlier
  is reused);
- ``RecognitionWorkers`` with ``--calls`` calls streaming at once: seconds of
  audio decoded per wall second, i.e. how many calls the workers keep up with.

The caller is espeak-ng speaking Korean (voice ``ko``) at 8 kHz. A benchmark,
not a test: nothing here gates on a wall-clock number.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ivr.errors import MissingPartError
from ivr.hearing.recognition_workers import RecognitionWorkers
from ivr.hearing.recognizer import Recognizer
from ivr.hearing.speech_model import SpeechModel, default_test_model, load_speech_model
from ivr.media import SAMPLE_RATE, SAMPLE_WIDTH, split_frames

WORDS = ("네", "아니요", "예약", "안내", "확인")
SENTENCES = ("안녕하세요 예약을 확인하고 싶어요", "영업 시간을 알려 주세요", "상담원을 연결해 주세요")
COUNTS = (1, 5, 10)


def korean(text: str, speed: int = 150) -> bytes:
    """``text`` spoken by espeak-ng in Korean, 8 kHz 16-bit, with half a second of silence around it."""
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
    y = np.concatenate([np.zeros(SAMPLE_RATE // 2), y, np.zeros(SAMPLE_RATE // 2)])
    return b"".join(split_frames(np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes()))


def seconds(pcm: bytes) -> float:
    return len(pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)


def rss_mib() -> float:
    """Resident memory of this process now (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def rtf(model: SpeechModel, clips: dict[str, bytes], grammar: tuple[str, ...] | None) -> tuple[float, int]:
    """CPU seconds per audio second over ``clips`` fed frame by frame, and how many came back as spoken."""
    cpu = 0.0
    right = 0
    for text, pcm in clips.items():
        recognizer = Recognizer(model, grammar=grammar)
        start = time.process_time()
        for frame in split_frames(pcm):
            recognizer.feed(frame)
        heard = recognizer.finish().text
        cpu += time.process_time() - start
        right += heard == text
    return cpu / sum(seconds(p) for p in clips.values()), right


def memory_per_recognizer(mode: str) -> dict[int, float]:
    """In this process: MiB of resident memory per live recognizer, for each count in COUNTS."""
    model = load_speech_model(default_test_model())
    grammar = WORDS if mode == "grammar" else None
    pcm = korean("예약 확인")[: SAMPLE_RATE * SAMPLE_WIDTH]  # one second: mid-utterance
    gc.collect()
    base = rss_mib()
    live: list[Recognizer] = []
    out = {}
    for count in COUNTS:
        while len(live) < count:
            recognizer = Recognizer(model, grammar=grammar)
            for frame in split_frames(pcm):
                recognizer.feed(frame)
            live.append(recognizer)
        out[count] = (rss_mib() - base) / count
    return out


def capacity(model: SpeechModel, calls: int, workers: int, grammar: tuple[str, ...] | None) -> float:
    """Seconds of audio decoded per wall second with ``calls`` calls streaming at once."""
    clips = [
        korean(WORDS[i % len(WORDS)] if grammar else SENTENCES[i % len(SENTENCES)]) for i in range(calls)
    ]
    streams = [split_frames(c) for c in clips]
    with RecognitionWorkers(model, workers=workers, queue_frames=sum(len(s) for s in streams)) as pool:
        sessions = [pool.open(f"call-{i}", grammar) for i in range(calls)]
        pool.settle()
        start = time.perf_counter()
        for n in range(max(len(s) for s in streams)):
            for session, frames in zip(sessions, streams, strict=True):
                if n < len(frames):
                    session.feed(frames[n])
        for session in sessions:
            session.end_of_speech()
        pool.settle()
        wall = time.perf_counter() - start
        assert pool.dropped_frames == 0
    return sum(seconds(c) for c in clips) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-of", choices=("grammar", "free"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:  # the child process of the memory measurement
        print(json.dumps(memory_per_recognizer(args.memory_of)))
        return

    base = rss_mib()
    start = time.perf_counter()
    model = load_speech_model(default_test_model())
    load_s = time.perf_counter() - start
    print(f"model {model.path}\n  load {load_s:.2f} s, resident {rss_mib() - base:.0f} MiB\n")

    words = {w: korean(w) for w in WORDS}
    sentences = {s: korean(s) for s in SENTENCES}
    grammar_rtf, right = rtf(model, words, WORDS)
    free_words_rtf, free_right = rtf(model, words, None)
    free_sentences_rtf, _ = rtf(model, sentences, None)
    print("real-time factor (CPU s per audio s, one recognizer, 20 ms frames)")
    print(f"  {'grammar, 5 words':<24}{grammar_rtf:8.3f}   {right}/{len(words)} words right")
    print(f"  {'free, same 5 words':<24}{free_words_rtf:8.3f}   {free_right}/{len(words)} words right")
    print(f"  {'free, 3 sentences':<24}{free_sentences_rtf:8.3f}")
    print(f"  free / grammar: {free_words_rtf / grammar_rtf:.1f}x\n")

    print("resident memory per live recognizer, MiB (fresh process per mode)")
    print(f"  {'recognizers':<14}" + "".join(f"{n:>9}" for n in COUNTS))
    for mode in ("grammar", "free"):
        child = subprocess.run(
            [sys.executable, __file__, "--memory-of", mode], check=True, capture_output=True, text=True
        )
        per = {int(k): v for k, v in json.loads(child.stdout.strip().splitlines()[-1]).items()}
        print(f"  {mode:<14}" + "".join(f"{per[n]:9.1f}" for n in COUNTS))
    print()

    print(f"RecognitionWorkers, {args.calls} calls at once, {args.workers} workers, {os.cpu_count()} CPUs")
    for label, grammar in (("grammar", WORDS), ("free", None)):
        rate = capacity(model, args.calls, args.workers, grammar)
        print(f"  {label:<8} {rate:6.1f} audio s per wall s: keeps up with ~{rate:.0f} calls")


if __name__ == "__main__":
    main()
