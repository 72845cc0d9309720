"""``ivr prompts build``: render every prompt clip that has no recorded file, once.

A manifest beside the audio, ``audio/<locale>/.rendered.json``, maps each file
this tool rendered to two sha256 hashes: ``input`` (the words and pauses, the
voice, ``RENDERER_VERSION`` and the level constants) and ``audio`` (the file's
bytes as written). For each clip the catalog needs:

- no file on disk → render it;
- a file not in the manifest, or whose bytes no longer match ``audio`` → a
  person recorded it: never overwritten, only checked to be 8 kHz mono 16-bit;
- a file in the manifest whose ``input`` matches → up to date, left alone;
- a file in the manifest whose ``input`` differs (the words changed) → re-rendered.

Rendered files are written (atomically) and entered into the manifest by one
thread, one at a time, so an interrupted build never leaves a rendered file
that a later build would mistake for a recording.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ivr.errors import IvrError
from ivr.media import SAMPLE_RATE, SAMPLE_WIDTH
from ivr.prompts.audio_store import (
    NUMBER_MAX,
    AudioFormatError,
    Static,
    audio_dir,
    check_wav,
    digit_file,
    number_file,
    prompt_files,
    variable_kinds,
    write_wav,
)
from ivr.prompts.catalog import Catalog, Words, catalog_path, load_catalog
from ivr.prompts.numerals import DIGIT_WORDS, chinese_number
from ivr.prompts.render import CEILING_DBFS, RENDERER_VERSION, TARGET_DBFS, Speaker

MANIFEST = ".rendered.json"
BUILD_LOCK = ".build.lock"  # held by the one build running in the folder
MANIFEST_VERSION = 1

Status = Literal["rendered", "up to date", "recorded"]


@dataclass(frozen=True, slots=True)
class Job:
    """One audio file the catalog needs."""

    name: str  # relative to audio/<locale>/, e.g. "greeting.wav", "number/12.wav"
    label: str  # what a person sees in the progress bar
    pieces: tuple[Static, ...]
    key: str  # sha256 of everything that decides the rendered bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    label: str
    status: Status
    render_s: float = 0.0  # wall time spent rendering (0 unless rendered)
    audio_s: float = 0.0  # length of the rendered audio (0 unless rendered)


@dataclass
class BuildReport:
    outcomes: list[Outcome] = field(default_factory=list)
    bad_recordings: list[tuple[str, str]] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def summary(self) -> str:
        return (
            f"rendered {self.count('rendered')}, up to date {self.count('up to date')}, "
            f"recorded {self.count('recorded')}"
        )


def input_key(voice: str, pieces: tuple[Static, ...]) -> str:
    spec = {
        "pieces": [["words", p.text] if isinstance(p, Words) else ["pause", p.seconds] for p in pieces],
        "voice": voice,
        "renderer": RENDERER_VERSION,
        "target_dbfs": TARGET_DBFS,
        "ceiling_dbfs": CEILING_DBFS,
        "format": [SAMPLE_RATE, 1, SAMPLE_WIDTH],
    }
    blob = json.dumps(spec, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def plan(catalog: Catalog) -> list[Job]:
    """Every file the catalog needs: prompt files, then number and digit clips if used."""
    wanted: list[tuple[str, str, tuple[Static, ...]]] = []
    for prompt in catalog:
        files = prompt_files(catalog, prompt)
        for file_name, file_pieces in files:
            part = file_name.removeprefix(prompt.id + ".")
            wanted.append(
                (file_name, prompt.id if len(files) == 1 else f"{prompt.id} ({part})", tuple(file_pieces))
            )
    kinds = variable_kinds(catalog)
    if "number" in kinds:
        wanted += [
            (number_file(n), f"number {n}", (Words(chinese_number(n)),)) for n in range(NUMBER_MAX + 1)
        ]
    if "digits" in kinds:
        wanted += [(digit_file(d), f"digit {d}", (Words(w),)) for d, w in enumerate(DIGIT_WORDS)]
    jobs: dict[str, Job] = {}
    for name, label, pieces in wanted:
        if name in jobs:
            raise IvrError(f"prompts '{jobs[name].label}' and '{label}' both need audio file {name}")
        jobs[name] = Job(name, label, pieces, input_key(catalog.voice, pieces))
    return list(jobs.values())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Manifest:
    """``audio/<locale>/.rendered.json``: the files this tool rendered, by hash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, dict[str, str]] = {}
        if path.exists():
            try:
                data: Any = json.loads(path.read_text(encoding="utf-8"))
                files = data["files"]
                if data.get("version") != MANIFEST_VERSION or not isinstance(files, dict):
                    raise ValueError("unknown layout")
                self.files = {str(k): {"input": v["input"], "audio": v["audio"]} for k, v in files.items()}
            except (ValueError, KeyError, TypeError) as exc:
                raise IvrError(
                    f"{path}: not a prompt build manifest ({exc}); delete it, and any rendered "
                    "audio beside it that should be rendered again"
                ) from None

    def save(self) -> None:
        data = {"version": MANIFEST_VERSION, "files": dict(sorted(self.files.items()))}
        text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".rendered.", suffix=".tmp", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.path)


def _render(speaker: Speaker, job: Job) -> tuple[bytes, float]:
    t0 = time.perf_counter()
    pcm = speaker.pieces(job.pieces).raw_data
    return pcm, time.perf_counter() - t0


def build(
    catalog: Catalog,
    directory: Path,
    *,
    shown_root: Path | None = None,
    on_plan: Callable[[list[Job]], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    workers: int = 2,
) -> BuildReport:
    """Render the catalog's missing or outdated clips into ``directory`` (audio/<locale>/).

    ``on_plan`` gets every job before work starts, ``on_done`` each outcome as
    it happens. Recorded files in the wrong format are listed in the report's
    ``bad_recordings``; they are never touched.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with _only_build(directory):
        return _build(catalog, directory, shown_root, on_plan, on_done, workers)


@contextlib.contextmanager
def _only_build(directory: Path) -> Iterator[None]:
    """The one build of ``directory`` at a time: another (a second ``ivr prompts build``, the
    console rendering a changed prompt) waits here. Without it the second could take the first's
    fresh file for a person's recording, since the manifest it read does not list it yet."""
    with open(directory / BUILD_LOCK, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(
    catalog: Catalog,
    directory: Path,
    shown_root: Path | None,
    on_plan: Callable[[list[Job]], None] | None,
    on_done: Callable[[Outcome], None] | None,
    workers: int,
) -> BuildReport:
    jobs = plan(catalog)
    if on_plan is not None:
        on_plan(jobs)
    manifest = Manifest(directory / MANIFEST)
    report = BuildReport()

    def done(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)

    def shown(name: str) -> str:
        path = directory / name
        if shown_root is not None and path.is_relative_to(shown_root):
            return str(path.relative_to(shown_root))
        return str(path)

    todo: list[Job] = []
    for job in jobs:
        path = directory / job.name
        entry = manifest.files.get(job.name)
        if not path.exists():
            todo.append(job)
        elif entry is None or entry["audio"] != _sha256(path):
            manifest.files.pop(job.name, None)  # a person's file: no longer ours
            try:
                check_wav(path, shown(job.name))
            except AudioFormatError as exc:
                report.bad_recordings += exc.problems
            done(Outcome(job.name, job.label, "recorded"))
        elif entry["input"] == job.key:
            done(Outcome(job.name, job.label, "up to date"))
        else:
            todo.append(job)

    if todo:
        speaker = Speaker(catalog.voice)
        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        try:
            futures: dict[Future[tuple[bytes, float]], Job] = {
                pool.submit(_render, speaker, job): job for job in todo
            }
            for future in as_completed(futures):
                job = futures[future]
                pcm, render_s = future.result()
                path = directory / job.name
                write_wav(path, pcm)
                manifest.files[job.name] = {"input": job.key, "audio": _sha256(path)}
                manifest.save()
                audio_s = len(pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)
                done(Outcome(job.name, job.label, "rendered", render_s, audio_s))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    manifest.save()
    return report


def build_locale(
    root: Path,
    locale: str,
    *,
    on_plan: Callable[[list[Job]], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    workers: int = 2,
) -> BuildReport:
    """``build`` for ``prompts/<locale>.yaml`` under ``root`` into ``audio/<locale>/``."""
    catalog = load_catalog(catalog_path(root, locale))
    return build(
        catalog,
        audio_dir(root, locale),
        shown_root=root,
        on_plan=on_plan,
        on_done=on_done,
        workers=workers,
    )
