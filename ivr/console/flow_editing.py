"""Editing a flow or the prompt catalog from the console: the same checks as ``ivr flow check``, first.

A save is checked as if the new text were on disk, in a shadow of the line's
folder (a temporary folder of links to the real files, with the edited file
written there as a real file), so the file on disk is never touched by a
broken save. Problems come back as ``file:line: message`` naming the real
file. A good save replaces the file atomically (write beside it, rename).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import Problem
from ivr.flows.checks import CheckedSet, check, yaml_files
from ivr.flows.loader import FlowFile

Stamp = tuple[tuple[str, int, int], ...]  # files with when they changed and their sizes


@dataclass(frozen=True, slots=True)
class EditableFile:
    """A file the console may show and save: a flow, the seats file or a prompt catalog."""

    relative: str  # as shown, e.g. flows/desk.yaml
    kind: str  # flow | seats | prompts


class FlowFiles:
    """The files under ``root`` an admin may edit from the console: ``flows_dir``'s YAML and the catalogs."""

    def __init__(self, root: Path, flows_dir: Path, seats: Path | None) -> None:
        self.root = root
        self.flows_dir = flows_dir
        self.seats = seats
        self._checked: dict[str, tuple[Stamp, CheckedSet]] = {}
        self._pictures: dict[str, tuple[Stamp, bytes]] = {}

    def editable(self) -> list[EditableFile]:
        out = []
        for path in yaml_files([self.root / self.flows_dir]):
            rel = path.relative_to(self.root).as_posix()
            kind = "seats" if self.seats is not None and path == self.root / self.seats else "flow"
            out.append(EditableFile(rel, kind))
        for path in sorted((self.root / "prompts").glob("*.yaml")):
            out.append(EditableFile(path.relative_to(self.root).as_posix(), "prompts"))
        return out

    def find(self, relative: str) -> EditableFile | None:
        """The editable file named ``relative``; None for anything else (no other path is ever opened)."""
        return next((f for f in self.editable() if f.relative == relative), None)

    def read(self, file: EditableFile) -> str:
        return (self.root / file.relative).read_text(encoding="utf-8")

    def check_file(self, file: EditableFile) -> CheckedSet:
        """What ``ivr flow check`` says of the file as it is on disk (with the seats file, for a flow).

        Kept until any file the check reads (flows, prompts, audio) changes: the flows page and its
        pictures ask for every file at once.
        """
        stamp = self._stamp()
        kept = self._checked.get(file.relative)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        result = check(self._companions(self.root, file), self.root)
        self._checked[file.relative] = (stamp, result)
        return result

    def _stamp(self) -> Stamp:
        """Every file the checks read, with when it changed and its size."""
        out = []
        for folder in (self.root / self.flows_dir, self.root / "prompts", self.root / "audio"):
            for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
                info = path.stat()
                out.append((str(path), info.st_mtime_ns, info.st_size))
        if self.seats is not None and (self.root / self.seats).is_file():
            info = (self.root / self.seats).stat()
            out.append((str(self.seats), info.st_mtime_ns, info.st_size))
        return tuple(out)

    def check_text(self, file: EditableFile, text: str) -> list[Problem]:
        """The problems ``text`` would have if it were ``file``: checked in a shadow, the disk untouched."""
        with tempfile.TemporaryDirectory(prefix="ivr-console-check-") as shadow_dir:
            shadow = Path(shadow_dir)
            edited = Path(file.relative)
            for entry in self.root.iterdir():
                if entry.name != edited.parts[0]:
                    (shadow / entry.name).symlink_to(entry.resolve())
            self._shadow_tree(self.root / edited.parts[0], shadow / edited.parts[0], edited.parts[1:])
            (shadow / edited).write_text(text, encoding="utf-8")
            result = check(self._companions(shadow, file), shadow)
            return [_unshadow(p, shadow, self.root) for p in result.problems]

    def save(self, file: EditableFile, text: str) -> list[Problem]:
        """Check ``text``; with no problems, replace the file with it. Returns the problems (none: saved)."""
        problems = self.check_text(file, text)
        if problems:
            return problems
        if file.kind == "prompts":
            problem = self._render_prompts(file, text)
            if problem is not None:
                return [problem]
        target = self.root / file.relative
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".saving", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return []

    def _render_prompts(self, file: EditableFile, text: str) -> Problem | None:
        """Render the audio of the prompts ``text`` changed (as ``ivr prompts build``), before the catalog is
        written: the line's reload then finds the new words' audio. Rendered in a copy of the audio folder
        and moved in only when every clip rendered; on failure nothing changes and the reason is returned."""
        from ivr.prompts.audio_store import audio_dir
        from ivr.prompts.build import MANIFEST, build
        from ivr.prompts.catalog import load_catalog

        locale = Path(file.relative).stem
        audio = audio_dir(self.root, locale)
        audio.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".rendering.", dir=self.root) as staging:
            work = Path(staging) / "audio"
            try:
                shutil.copytree(audio, work, symlinks=True)
                catalog_file = Path(staging) / Path(file.relative).name
                catalog_file.write_text(text, encoding="utf-8")
                report = build(load_catalog(catalog_file), work)
            except Exception as exc:  # espeak missing or failing, a disk full: the save is refused
                return Problem(Path(file.relative), 1, f"rendering the prompts' audio failed: {exc}")
            for outcome in report.outcomes:
                if outcome.status == "rendered":
                    shutil.move(work / outcome.name, audio / outcome.name)
            if (work / MANIFEST).exists():
                shutil.move(work / MANIFEST, audio / MANIFEST)
        return None

    def picture(self, file: EditableFile) -> bytes | None:
        """The flow drawn as ``ivr flow graph`` draws it (SVG); None for a file with problems or not a flow."""
        from ivr.flows.graph import flow_graph

        checked = self.flow_of(file)
        if checked is None:
            return None
        stamp = self._stamp()
        kept = self._pictures.get(file.relative)
        if kept is None or kept[0] != stamp:
            kept = (stamp, flow_graph(checked.flow).pipe(format="svg"))
            self._pictures[file.relative] = kept
        return kept[1]

    def flow_of(self, file: EditableFile) -> FlowFile | None:
        """The checked flow in ``file`` (None if it is not a flow or has problems)."""
        result = self.check_file(file)
        if result.problems or not result.flows:
            return None
        return result.flows[0]

    def _companions(self, root: Path, file: EditableFile) -> list[Path]:
        """What to check with ``file``: a flow with the seats file; a catalog with every flow it serves."""
        if file.kind == "prompts":
            return [root / file.relative, root / self.flows_dir]
        paths = [root / file.relative]
        if self.seats is not None and file.kind == "flow":
            paths.append(root / self.seats)
        return paths

    @staticmethod
    def _shadow_tree(real: Path, shadow: Path, rest: tuple[str, ...]) -> None:
        """``shadow``: a folder whose entries link to ``real``'s, except along ``rest`` (the edited file's path)."""
        shadow.mkdir()
        for entry in real.iterdir():
            if len(rest) > 1 and entry.name == rest[0]:
                FlowFiles._shadow_tree(entry, shadow / entry.name, rest[1:])
            elif not (len(rest) == 1 and entry.name == rest[0]):
                (shadow / entry.name).symlink_to(entry.resolve())


def _unshadow(problem: Problem, shadow: Path, root: Path) -> Problem:
    """The problem as ``ivr flow check`` would put it: the real file (relative to the root), no shadow."""
    message = problem.message.replace(str(shadow), str(root))
    try:
        return Problem(problem.file.relative_to(shadow), problem.line, message)
    except ValueError:
        return Problem(problem.file, problem.line, message)
