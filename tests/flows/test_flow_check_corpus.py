"""Every broken flow file in ``tests/flows/broken`` gets its own precise message at its line.

Each file says what it expects in a header comment (``# expect: ...``) and marks
the offending line with ``# <- error``; some name a companion file (``# with: ...``).
"""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from ivr.flows.checks import check
from ivr.prompts.catalog import load_catalog

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(p for p in BROKEN.glob("[0-9]*.yaml"))
NO_AUDIO = "praise.reply"  # the one prompt the fixture leaves without audio


def _expectation(path: Path) -> tuple[str, int, list[Path]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    message = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("# expect:"))
    marked = [i + 1 for i, line in enumerate(lines) if line.rstrip().endswith("# <- error")]
    assert len(marked) == 1, f"{path.name} must mark exactly one line with '# <- error'"
    companions = [BROKEN / line.split(":", 1)[1].strip() for line in lines if line.startswith("# with:")]
    return message, marked[0], companions


def _silent_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(3200))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, repo: Path) -> Path:
    """A desk root with the shipped catalog and audio for every prompt but one."""
    root = tmp_path_factory.mktemp("desk")
    (root / "prompts").mkdir()
    shutil.copy(repo / "prompts" / "zh-CN.yaml", root / "prompts" / "zh-CN.yaml")
    audio = root / "audio" / "zh-CN"
    audio.mkdir(parents=True)
    for prompt in load_catalog(root / "prompts" / "zh-CN.yaml"):
        if prompt.id != NO_AUDIO:
            _silent_wav(audio / f"{prompt.id}.wav")
    return root


def test_the_corpus_has_at_least_25_distinct_mistakes() -> None:
    messages = {_expectation(p)[0] for p in CASES}
    assert len(messages) >= 25


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_admin_sees_the_mistake_at_its_line(path: Path, root: Path) -> None:
    message, line, companions = _expectation(path)
    problems = check([path, *companions], root).problems
    assert problems, f"{path.name}: no problem reported"
    assert [(p.file, p.line) for p in problems if message in p.message] == [(path, line)], "\n".join(
        str(p) for p in problems
    )
    # the file is named with its line: what the admin reads is file:line: message
    assert any(str(p).startswith(f"{path}:{line}: ") for p in problems)


def test_shipped_flows_pass_the_check(repo: Path, rendered_audio: Path) -> None:
    problems = check([repo / "flows"], repo).problems
    assert problems == [], "\n".join(str(p) for p in problems)
