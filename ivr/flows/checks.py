"""``ivr flow check``: everything wrong in flows, prompt catalogs and seats files, as file:line.

Schema errors come from pydantic (see ``ivr.files``); this module adds the
checks that need more than one file or the whole flow: prompt ids against the
catalog, audio on disk, steps that go nowhere or are never reached, hours that
do not exist, supervisors' numbers a caller could hear (in any numerals), transfers to
skills no seat has.

A flow checked without a seats file is checked against the seats file the line
would use: ``[line] seats`` in the root's ``ivr.toml``, else ``seats.yaml``
beside the flow.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.errors import ConfigError, Problem
from ivr.files import code_part, line_of, read_yaml
from ivr.flows.loader import FlowFile, load_flow
from ivr.flows.schema import LADDERS, Condition, Expect, Flow, PromptRef, Rung, Say, as_say
from ivr.prompts.audio_store import REQUIRED_FORMAT, AudioFormatError, check_wav
from ivr.prompts.catalog import REQUIRED_IDS, Catalog, catalog_path, load_catalog
from ivr.prompts.hold_music import music_path
from ivr.prompts.numerals import numbers_in
from ivr.seats.directory import SeatsFile, load_seats


@dataclass
class CheckedSet:
    """What one check run found, and the files that loaded."""

    problems: list[Problem] = field(default_factory=list)
    flows: list[FlowFile] = field(default_factory=list)
    seats: list[tuple[Path, SeatsFile]] = field(default_factory=list)
    catalogs: dict[str, Catalog] = field(default_factory=dict)


def yaml_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        else:
            yield path


def check(paths: Iterable[Path], root: Path, *, find_seats: bool = True) -> CheckedSet:
    """Check every file named (folders: their *.yaml) against the catalogs and audio under ``root``.

    ``find_seats``: with no seats file among ``paths``, check the flows against the one the line
    would use (``ivr flow check``); ``ivr serve`` names its own, or has none, and says False.
    """
    out = CheckedSet()
    for path in yaml_files(paths):
        _load_one(path, root, out)
    seats = list(out.seats) or (_line_seats(out.flows, root, out.problems) if find_seats else [])
    private = {n: p for p, s in seats for n in s.private_numbers()}
    for locale, loaded in out.catalogs.items():
        _check_catalog_privacy(catalog_path(root, locale), loaded, private, out.problems)
    for flow_file in out.flows:
        catalog = out.catalogs.get(flow_file.flow.locale)
        if catalog is not None:
            out.problems += FlowChecks(flow_file, catalog, root, private).run()
        if seats:
            out.problems += _skills_without_seats(flow_file, seats)
    out.problems.sort(key=lambda p: (str(p.file), p.line))
    return out


def _load_one(path: Path, root: Path, out: CheckedSet) -> None:
    try:
        tree = read_yaml(path)
        kind = _kind(tree)
        if kind == "flow":
            flow_file = load_flow(path)
            out.flows.append(flow_file)
            _need_catalog(flow_file.flow.locale, root, out)
        elif kind == "seats":
            out.seats.append((path, load_seats(path)))
        elif kind == "prompts":
            catalog = load_catalog(path)
            out.catalogs.setdefault(catalog.locale, catalog)
        else:
            out.problems.append(
                Problem(
                    path,
                    line_of(tree, ()),
                    "not a flow ('flow:'), seats ('seats:') or prompt catalog ('prompts:') file",
                )
            )
    except ConfigError as err:
        out.problems += err.problems


def _line_seats(flows: list[FlowFile], root: Path, problems: list[Problem]) -> list[tuple[Path, SeatsFile]]:
    """The seats file the line would use with these flows: ivr.toml's ``[line] seats``, else seats.yaml beside."""
    candidates: list[Path] = []
    config = root / "ivr.toml"
    if config.is_file():
        try:
            named = tomllib.loads(config.read_text(encoding="utf-8")).get("line", {}).get("seats")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, AttributeError):
            named = None  # ivr.toml's own mistakes are reported by ``ivr serve``, which reads it
        if isinstance(named, str):
            candidates.append(root / named)
    candidates += [f.path.parent / "seats.yaml" for f in flows]
    for path in candidates:
        if path.is_file():
            try:
                return [(path, load_seats(path))]
            except ConfigError as err:
                problems += err.problems
                return []
    return []


def _skills_without_seats(flow_file: FlowFile, seats: list[tuple[Path, SeatsFile]]) -> list[Problem]:
    """A transfer to a skill no seat has never reaches a person: every caller sent there waits for nobody."""
    have = {skill for _, s in seats for seat in s.seats for skill in seat.skills}
    where = ", ".join(str(p) for p, _ in seats)
    out: list[Problem] = []
    for name, step in flow_file.flow.steps.items():
        if step.transfer is not None and step.transfer.skill not in have:
            out.append(
                Problem(
                    flow_file.path,
                    flow_file.line("steps", name, "transfer", "skill"),
                    f"transfer to skill '{step.transfer.skill}': no seat in {where} has it"
                    f"{_did_you_mean(step.transfer.skill, sorted(have))}; "
                    "give a seat that skill, or transfer to one a seat has",
                )
            )
    return out


def _kind(tree: Any) -> str | None:
    if not isinstance(tree, dict):
        return None
    for key in ("flow", "seats", "prompts"):
        if key in tree:
            return key
    return None


def _need_catalog(locale: str, root: Path, out: CheckedSet) -> None:
    if locale in out.catalogs:
        return
    path = catalog_path(root, locale)
    try:
        catalog = load_catalog(path)
    except ConfigError as err:
        out.problems += err.problems
        return
    out.catalogs[locale] = catalog
    missing = [i for i in REQUIRED_IDS if i not in catalog]
    if missing:
        out.problems.append(Problem(path, 1, f"the catalog lacks required prompts: {', '.join(missing)}"))


def _check_catalog_privacy(
    path: Path, catalog: Catalog, private: dict[str, Path], problems: list[Problem]
) -> None:
    if not private:
        return
    tree = read_yaml(path)
    for i, prompt in enumerate(catalog.prompts):
        for number in sorted(numbers_in(catalog.filled(prompt))):
            if number in private:
                line = tree["prompts"][i].lc.key("text")[0] + 1
                problems.append(
                    Problem(
                        path,
                        line,
                        f"prompt '{prompt.id}' speaks {number}, a supervisor's number "
                        f"(from {private[number]}); the handbook (line 36) never gives it out",
                    )
                )


class FlowChecks:
    """Cross-reference checks on one loaded flow."""

    def __init__(self, flow_file: FlowFile, catalog: Catalog, root: Path, private: dict[str, Path]) -> None:
        self.file = flow_file
        self.flow = flow_file.flow
        self.catalog = catalog
        self.audio_dir = root / "audio" / self.flow.locale
        self.root = root
        self.private = private
        self.problems: list[Problem] = []
        self._audio_checked: set[str] = set()  # missing audio is reported at a prompt's first use

    def problem(self, loc: tuple[int | str, ...], message: str) -> None:
        self.problems.append(Problem(self.file.path, self.file.line_at(loc), message))

    def run(self) -> list[Problem]:
        self._steps_exist()
        self._reachable()
        self._prompts()
        self._hours()
        self._hold_music()
        self._listen_steps()
        self._tests()
        self._full_width_lists()
        return self.problems

    def _full_width_lists(self) -> None:
        """``[没有了，再见]`` is valid YAML, one phrase no caller says: a Chinese input method's comma."""
        text = self.file.path.read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), start=1):
            code = code_part(line)
            if "[" in code and "，" in code:
                self.problems.append(
                    Problem(
                        self.file.path,
                        n,
                        "full-width comma '，' in a list — YAML needs ','; as written, the items "
                        "either side of it are one",
                    )
                )

    def _hold_music(self) -> None:
        spec = self.flow.hold.music
        path = None if spec is None else music_path(spec, self.root)
        if path is None:
            return
        loc = ("hold", "music")
        if not path.exists():
            self.problem(loc, f"hold music {spec} not found (under {self.root}); or say 'built-in'")
            return
        try:
            check_wav(path, spec)
        except AudioFormatError as exc:
            self.problem(
                loc,
                "; ".join(
                    f"hold music {name}: {why}; it must be {REQUIRED_FORMAT}" for name, why in exc.problems
                ),
            )

    # steps ------------------------------------------------------------------------------

    def _steps_exist(self) -> None:
        names = list(self.flow.steps)
        if self.flow.start not in self.flow.steps:
            self.problem(
                ("start",) if "start" in self.file.tree else ("steps",),
                f"the flow starts at step '{self.flow.start}', which is not a step{_did_you_mean(self.flow.start, names)}",
            )
        after_fault = self.flow.line.recognition_lost_next
        if after_fault is not None and after_fault not in self.flow.steps:
            self.problem(
                ("line", "recognition_lost_next"),
                f"after a system fault the call goes to '{after_fault}', which is not a step"
                f"{_did_you_mean(after_fault, names)}",
            )
        for name, step in self.flow.steps.items():
            for target, loc in _target_locs(name, step):
                if target not in self.flow.steps:
                    self.problem(
                        loc,
                        f"step '{name}' goes to '{target}', which is not a step{_did_you_mean(target, names)}",
                    )

    def _reachable(self) -> None:
        seen: set[str] = set()
        todo = [self.flow.start]
        if self.flow.line.recognition_lost_next is not None:
            todo.append(self.flow.line.recognition_lost_next)
        while todo:
            name = todo.pop()
            if name in seen or name not in self.flow.steps:
                continue
            seen.add(name)
            todo += self.flow.steps[name].targets()
        for name in self.flow.steps:
            if name not in seen:
                self.problem(("steps", name), f"step '{name}' is never reached from '{self.flow.start}'")

    # prompts ----------------------------------------------------------------------------

    def _prompts(self) -> None:
        for loc, say in self._says():
            self._prompt(loc, say)

    def _says(self) -> Iterator[tuple[tuple[int | str, ...], Say]]:
        return prompt_refs(self.flow)

    def _prompt(self, loc: tuple[int | str, ...], say: Say) -> None:
        prompt = self.catalog.by_id.get(say.prompt)
        if prompt is None:
            self.problem(
                loc,
                f"unknown prompt '{say.prompt}' (not in prompts/{self.flow.locale}.yaml)"
                f"{_did_you_mean(say.prompt, list(self.catalog.by_id))}",
            )
            return
        call_vars = [v for v in prompt.variables if v not in self.catalog.placeholders]
        runtime = {"position", "minutes", "seconds"}  # filled by the queue while a caller waits
        if loc[-2:] == ("callback", "confirm"):
            runtime.add("number")  # the caller's number, read back
        missing = [v for v in call_vars if v not in say.vars and v not in runtime]
        if missing:
            self.problem(loc, f"prompt '{say.prompt}' needs vars: {', '.join(missing)}")
        unused = [v for v in say.vars if v not in call_vars]
        if unused:
            self.problem(
                loc,
                f"prompt '{say.prompt}' has no {{{unused[0]}}}; vars given: {', '.join(say.vars)}",
            )
        for name, value in say.vars.items():
            for number in sorted(numbers_in(str(value)) & set(self.private)):
                self.problem(
                    loc,
                    f"{name}: {value} is a supervisor's number{'' if number == value else f' ({number})'} "
                    f"(from {self.private[number]}); the handbook (line 36) never gives it to a caller",
                )
        if say.prompt in self._audio_checked:
            return
        self._audio_checked.add(say.prompt)
        if (
            not (self.audio_dir / f"{say.prompt}.wav").exists()
            and not (self.audio_dir / f"{say.prompt}.1.wav").exists()
        ):
            self.problem(
                loc,
                f"no audio for prompt '{say.prompt}' ({self.audio_dir / say.prompt}.wav); "
                "run 'ivr prompts build' or record it",
            )

    # the rest ---------------------------------------------------------------------------

    def _hours(self) -> None:
        for name, step in self.flow.steps.items():
            for i, case in enumerate(step.branch or []):
                cond: Condition | None = case.when
                loc: tuple[int | str, ...] = ("steps", name, "branch", i, "when")
                while cond is not None:
                    if cond.hours is not None and cond.hours not in self.flow.hours:
                        self.problem(
                            (*loc, "hours"),
                            f"no opening hours named '{cond.hours}'"
                            f"{_did_you_mean(cond.hours, list(self.flow.hours))}"
                            + ("" if self.flow.hours else "; define them under 'hours:'"),
                        )
                    cond, loc = cond.not_, (*loc, "not")

    def _listen_steps(self) -> None:
        for name, step in self.flow.steps.items():
            if step.listen is None:
                continue
            owner: dict[str, str] = {}
            for intent, spec in step.listen.intents.items():
                for j, phrase in enumerate(spec.phrases):
                    if phrase in owner and owner[phrase] != intent:
                        self.problem(
                            ("steps", name, "listen", "intents", intent, "phrases", j),
                            f"phrase '{phrase}' belongs to both '{owner[phrase]}' and '{intent}'",
                        )
                    owner.setdefault(phrase, intent)
            if step.listen.confirm is not None:
                for intent, spec in step.listen.confirm.intents().items():
                    for phrase in spec.phrases:
                        if phrase in owner:
                            self.problem(
                                ("steps", name, "listen", "confirm"),
                                f"phrase '{phrase}' of '{owner[phrase]}' is also a {intent} to 'confirm'; "
                                "drop it from the intent or drop confirm",
                            )
            if step.listen.give_up is None and step.listen.no_match:
                self.problem(
                    ("steps", name, "listen"),
                    f"listen step '{name}' has a no-match ladder but no 'give_up' step for after it",
                )

    def _tests(self) -> None:
        for t, test in enumerate(self.flow.tests):
            for e, item in enumerate(test.expect):
                prompt = item if isinstance(item, str) else item.prompt
                if prompt is not None and prompt not in self.catalog:
                    loc: tuple[int | str, ...] = ("tests", t, "expect", e)
                    if isinstance(item, Expect):
                        loc = (*loc, "prompt")
                    self.problem(
                        loc,
                        f"test '{test.name}' expects unknown prompt '{prompt}'"
                        f"{_did_you_mean(prompt, list(self.catalog.by_id))}",
                    )
            for c, action in enumerate(test.caller):
                if action.waits_for is not None and action.waits_for not in self.catalog:
                    self.problem(
                        ("tests", t, "caller", c, "waits_for"),
                        f"test '{test.name}' waits for unknown prompt '{action.waits_for}'",
                    )


def prompt_refs(flow: Flow) -> Iterator[tuple[tuple[int | str, ...], Say]]:
    """Every prompt the flow can say (its ladders, hold words, steps), with where it is named."""
    for ladder in LADDERS:
        rungs: list[Rung] = getattr(flow.line, ladder)
        for i, rung in enumerate(rungs):
            if rung.say is not None:
                yield ("line", ladder, i, "say"), as_say(rung.say)
    yield ("line", "recognition_lost"), as_say(flow.line.recognition_lost)
    yield ("hold", "progress"), Say(prompt=flow.hold.progress)
    yield ("hold", "sorry"), Say(prompt=flow.hold.sorry)
    for name, step in flow.steps.items():
        base: tuple[int | str, ...] = ("steps", name)
        if step.say is not None:
            refs = step.say if isinstance(step.say, list) else [step.say]
            for i, ref in enumerate(refs):
                yield (
                    (*base, "say", i) if isinstance(step.say, list) else (*base, "say"),
                    as_say(ref),
                )
        if step.hangup is not None:
            yield (*base, "hangup"), as_say(step.hangup)
        if step.transfer is not None:
            yield (*base, "transfer", "say"), as_say(step.transfer.say)
            yield (*base, "transfer", "no_seat"), as_say(step.transfer.no_seat)
            if step.transfer.no_answer is not None:
                yield (*base, "transfer", "no_answer"), as_say(step.transfer.no_answer)
        if step.callback is not None:
            cb = step.callback
            said: dict[str, PromptRef] = {"confirm": cb.confirm, "key_in": cb.key_in}
            said |= {"taken": cb.taken, "no_number": cb.no_number, "not_taken": cb.not_taken}
            if cb.offer is not None:
                said["offer"] = cb.offer
            for field, ref in said.items():
                yield (*base, "callback", field), as_say(ref)
        if step.listen is not None:
            if step.listen.prompt is not None:
                yield (*base, "listen", "prompt"), as_say(step.listen.prompt)
            for i, rung in enumerate(step.listen.no_match):
                if rung.say is not None:
                    yield (*base, "listen", "no_match", i, "say"), as_say(rung.say)


def _target_locs(name: str, step: Any) -> Iterator[tuple[str, tuple[int | str, ...]]]:
    base: tuple[int | str, ...] = ("steps", name)
    if step.next:
        yield step.next, (*base, "next")
    if step.otherwise:
        yield step.otherwise, (*base, "otherwise")
    for i, case in enumerate(step.branch or []):
        yield case.next, (*base, "branch", i, "next")
    if step.confirm:
        yield step.confirm.yes, (*base, "confirm", "yes")
        yield step.confirm.no, (*base, "confirm", "no")
    if step.listen:
        if step.listen.confirm:
            yield step.listen.confirm.yes, (*base, "listen", "confirm", "yes")
            yield step.listen.confirm.no, (*base, "listen", "confirm", "no")
        for intent, spec in step.listen.intents.items():
            yield spec.next, (*base, "listen", "intents", intent, "next")
        for key, target in step.listen.keys.items():
            yield target, (*base, "listen", "keys", key)
        if step.listen.give_up:
            yield step.listen.give_up, (*base, "listen", "give_up")


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
