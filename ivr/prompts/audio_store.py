"""Where a prompt's audio lives, reading it back as call PCM, and which clips a prompt plays.

Layout under ``audio/<locale>/`` (relative names are the keys of the build manifest):

- ``<id>.wav``: a prompt without call variables;
- ``<id>.<k>.wav`` (k = 1..n): the static pieces of a prompt with call variables,
  cut at each variable (pauses inside a segment stay in it as silence);
- ``number/<n>.wav`` (0..NUMBER_MAX) and ``digit/<d>.wav`` (0..9): what call
  variables are spoken with (``{position}`` as a number, ``{staff_id}`` digit by digit).

Every file is 8000 Hz, mono, 16-bit PCM WAV, whether rendered or recorded by a
person; anything else is an ``AudioFormatError`` naming the file and what is wrong.

The call engine uses ``PromptAudio``::

    audio = PromptAudio.open(root, "zh-CN")
    pcm = audio.pcm("hold.progress", {"position": 3, "minutes": 5})   # bytes, 8 kHz mono s16le
"""

from __future__ import annotations

import os
import tempfile
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import IvrError, MissingPartError
from ivr.media import SAMPLE_RATE, SAMPLE_WIDTH
from ivr.prompts.catalog import (
    CALL_VARIABLES,
    Catalog,
    Pause,
    Prompt,
    Variable,
    Words,
    catalog_path,
    load_catalog,
)
from ivr.prompts.numerals import DIGIT_WORDS, digit_words

NUMBER_MAX = 120
"""Numbers 0..NUMBER_MAX have clips (``number/<n>.wav``); larger values are an error."""
REQUIRED_FORMAT = "8000 Hz mono 16-bit"

Static = Words | Pause


def audio_dir(root: Path, locale: str) -> Path:
    return root / "audio" / locale


class AudioFormatError(IvrError):
    """Prompt audio files that are not 8000 Hz mono 16-bit PCM WAV (one line per file)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "\n".join(f"{name}: {what}; prompts must be {REQUIRED_FORMAT}" for name, what in problems)
        )


def _channels(n: int) -> str:
    return {1: "mono", 2: "stereo"}.get(n, f"{n} channels")


def check_wav(path: Path, shown_as: str | None = None) -> bytes:
    """The 16-bit PCM of a prompt WAV, or an AudioFormatError saying what is wrong with it."""
    name = shown_as or str(path)
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            pcm = w.readframes(w.getnframes())
    except FileNotFoundError:
        raise MissingPartError(f"{name} is missing; run `ivr prompts build`") from None
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError([(name, f"not a PCM WAV file ({exc})")]) from None
    if (rate, channels, width) != (SAMPLE_RATE, 1, SAMPLE_WIDTH):
        raise AudioFormatError([(name, f"{rate} Hz {_channels(channels)} {width * 8}-bit")])
    if not pcm:
        raise AudioFormatError([(name, "no audio in it")])
    return pcm


def write_wav(path: Path, pcm: bytes) -> None:
    """Write 8 kHz mono 16-bit PCM atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(SAMPLE_WIDTH)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(pcm)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def segments(catalog: Catalog, prompt: Prompt) -> list[list[Static]]:
    """A prompt's static pieces cut at its call variables (empty runs left out)."""
    out: list[list[Static]] = []
    run: list[Static] = []
    for piece in catalog.pieces(prompt):
        if isinstance(piece, Variable):
            if run:
                out.append(run)
            run = []
        else:
            run.append(piece)
    if run:
        out.append(run)
    return out


def has_variables(catalog: Catalog, prompt: Prompt) -> bool:
    return any(isinstance(p, Variable) for p in catalog.pieces(prompt))


def prompt_files(catalog: Catalog, prompt: Prompt) -> list[tuple[str, list[Static]]]:
    """(file name under audio/<locale>/, pieces it holds) for each file of a prompt."""
    if not has_variables(catalog, prompt):
        return [(f"{prompt.id}.wav", [p for s in segments(catalog, prompt) for p in s])]
    return [(f"{prompt.id}.{k}.wav", seg) for k, seg in enumerate(segments(catalog, prompt), 1)]


def number_file(n: int) -> str:
    return f"number/{n}.wav"


def digit_file(d: int) -> str:
    return f"digit/{d}.wav"


def variable_kinds(catalog: Catalog) -> set[str]:
    """How the catalog's call variables are spoken: a subset of {"number", "digits"}."""
    return {
        CALL_VARIABLES[p.name]
        for prompt in catalog
        for p in catalog.pieces(prompt)
        if isinstance(p, Variable)
    }


def variable_files(value: str | int, kind: str, name: str = "value") -> list[str]:
    """The clip names that speak one call-variable value."""
    if kind == "number":
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"{{{name}}} must be a whole number, got {value!r}") from None
        if not 0 <= n <= NUMBER_MAX:
            raise ValueError(f"{{{name}}} = {n} is outside the spoken range 0..{NUMBER_MAX}")
        return [number_file(n)]
    digits = str(value)
    digit_words(digits)  # validates: digits only
    return [digit_file(int(c)) for c in digits]


@dataclass
class PromptAudio:
    """A locale's prompt audio, for playing: which files, in what order, as PCM."""

    catalog: Catalog
    directory: Path
    root: Path | None = None

    def __post_init__(self) -> None:
        self._cache: dict[str, bytes] = {}

    @classmethod
    def open(cls, root: Path, locale: str) -> PromptAudio:
        catalog = load_catalog(catalog_path(root, locale))
        return cls(catalog, audio_dir(root, locale), root)

    def shown(self, path: Path) -> str:
        """``path`` as a person should read it: relative to the root when under it."""
        if self.root is not None:
            try:
                return str(path.relative_to(self.root))
            except ValueError:
                pass
        return str(path)

    def clip_names(self, prompt_id: str, variables: Mapping[str, str | int] | None = None) -> list[str]:
        """File names (under the locale directory) to play, in order, for one prompt."""
        if prompt_id not in self.catalog:
            raise KeyError(f"no prompt '{prompt_id}' in the {self.catalog.locale} catalog")
        prompt = self.catalog.by_id[prompt_id]
        if not has_variables(self.catalog, prompt):
            return [f"{prompt_id}.wav"]
        values = variables or {}
        out: list[str] = []
        k = 0
        in_static = False
        for piece in self.catalog.pieces(prompt):
            if isinstance(piece, Variable):
                in_static = False
                if piece.name not in values:
                    raise KeyError(f"prompt '{prompt_id}' needs a value for {{{piece.name}}}")
                kind = CALL_VARIABLES[piece.name]
                out += variable_files(values[piece.name], kind, piece.name)
            elif not in_static:
                in_static = True
                k += 1
                out.append(f"{prompt_id}.{k}.wav")
        return out

    def clips(self, prompt_id: str, variables: Mapping[str, str | int] | None = None) -> list[Path]:
        """Paths of the WAV files to play, in order, for a prompt with these call variables."""
        return [self.directory / name for name in self.clip_names(prompt_id, variables)]

    def load(self, path: Path) -> bytes:
        """One clip's PCM (8 kHz mono s16le), checked and cached."""
        key = str(path)
        if key not in self._cache:
            self._cache[key] = check_wav(path, self.shown(path))
        return self._cache[key]

    def pcm(self, prompt_id: str, variables: Mapping[str, str | int] | None = None) -> bytes:
        """The whole prompt as 8 kHz mono 16-bit little-endian PCM, ready to cut into frames."""
        return b"".join(self.load(p) for p in self.clips(prompt_id, variables))

    def preload(self) -> None:
        """Read and check every static clip now (before calls), so a bad file fails at start-up."""
        bad: list[tuple[str, str]] = []
        names = [name for p in self.catalog for name, _ in prompt_files(self.catalog, p)]
        kinds = variable_kinds(self.catalog)
        if "number" in kinds:
            names += [number_file(n) for n in range(NUMBER_MAX + 1)]
        if "digits" in kinds:
            names += [digit_file(d) for d in range(len(DIGIT_WORDS))]
        for name in names:
            try:
                self.load(self.directory / name)
            except AudioFormatError as exc:
                bad += exc.problems
        if bad:
            raise AudioFormatError(bad)
