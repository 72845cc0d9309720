"""Conversation tests written in flow files, run in media time (``ivr flow test``).

A test is a scripted caller and the prompts the caller should hear, in order,
with their times. ``simulate`` runs the real engine against the script, frame
by frame, as fast as the CPU allows; ``compare`` says what differs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import uuid4

from rich.console import Console
from rich.table import Table

from ivr.call.engine import CallEngine
from ivr.call.events import CallRecord, EventKind
from ivr.call.inputs import CallContext, CallInput, TicketWritten
from ivr.call.ports import LineHearing, PromptSource
from ivr.errors import ConfigError
from ivr.flows.caller import ScriptedCaller
from ivr.flows.checks import check
from ivr.flows.loader import FlowFile
from ivr.flows.schema import ConversationTest, Expect, Flow, SimulatedQueue
from ivr.media import frames_in, seconds_of

MAX_CALL_S = 600.0  # a simulated call still going after this is stopped and reported


@dataclass(frozen=True, slots=True)
class Heard:
    """One prompt as the caller heard it (or the hang-up, with ``prompt`` None)."""

    prompt: str | None
    start: int
    end: int
    hangup: str | None = None
    interrupted: bool = False


@dataclass
class Simulated:
    record: CallRecord
    heard: list[Heard]
    unmet_wait: str | None
    timed_out: bool
    tickets: list[Ticket]


@dataclass(frozen=True, slots=True)
class Ticket:
    call_id: str
    number: str
    source: str
    reason: str


class SimulatedTickets:
    """The callback book of a simulated call: a ticket is written (or fails) by the next tick."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.written: list[Ticket] = []
        self._answers: list[CallInput] = []

    def take(self, call_id: str, number: str, source: str, reason: str) -> None:
        if self.fail:
            self._answers.append(TicketWritten(False, "the register is down (conversation test)"))
            return
        self.written.append(Ticket(call_id, number, source, reason))
        self._answers.append(TicketWritten(True))

    def answers(self) -> list[CallInput]:
        out, self._answers = self._answers, []
        return out


class SimulatedSeats:
    """Seats signed in for ``skills`` (None: every skill). Without a ``queue`` a transfer to one of
    them is put through once its words are said; with one, the caller waits at its position until a
    seat answers ``answered_after`` into the wait (never, when unset). To any other skill, nobody can
    take it. ``clock`` is the call's frame."""

    def __init__(
        self,
        skills: Iterable[str] | None,
        queue: SimulatedQueue | None = None,
        clock: Callable[[], int] = lambda: 0,
    ) -> None:
        self.skills = None if skills is None else set(skills)
        self.queue = queue
        self.clock = clock
        self._asked: set[str] = set()
        self._joined: dict[str, int] = {}

    def can_serve(self, skill: str) -> bool:
        return self.skills is None or skill in self.skills

    def join(self, call_id: str, skill: str, frame: int, about: dict[str, str]) -> None:
        self._joined[call_id] = frame

    def waiting(self, call_id: str) -> tuple[int, float] | None:
        if self.queue is None:
            self._asked.add(call_id)  # the hand-off words are over: put through at the next frame
            return 1, 0.0
        return self.queue.position, self.queue.wait

    def connected(self, call_id: str) -> bool:
        if self.queue is None:
            return call_id in self._asked
        after = self.queue.answered_after
        began = self._joined.get(call_id)
        return after is not None and began is not None and self.clock() - began >= frames_in(after)

    def leave(self, call_id: str, frame: int, reason: str) -> None:
        pass


def simulate(
    flow: Flow,
    audio: PromptSource,
    hearing: LineHearing,
    test: ConversationTest,
    base: Path,
    max_s: float = MAX_CALL_S,
) -> Simulated:
    """Run ``test``'s caller against ``flow`` until someone hangs up (or ``max_s`` of media time)."""
    at = datetime.strptime(test.at, "%Y-%m-%d %H:%M")
    context = CallContext(
        test.caller_id,
        at,
        test.previous_call,
        resume_step=test.dropped_in,
        last_call_dropped=test.previous_call is not None and test.previous_ended == "dropped",
        call_id=uuid4().hex,
    )
    tickets = SimulatedTickets(fail=test.tickets == "fail")
    seats = None
    if test.seats is not None or test.queue is not None:
        seats = SimulatedSeats(test.seats, test.queue)
    engine = CallEngine(flow, audio, hearing, context, seats=seats, tickets=tickets)
    if seats is not None:
        seats.clock = lambda: engine.frame
    caller = ScriptedCaller(test.caller, base)
    ticks = caller.frames(engine)
    limit = frames_in(max_s)
    while not engine.ended and engine.frame < limit:
        frame, inputs = next(ticks, (b"", []))
        if not frame:  # the caller hung up and the script ended
            break
        engine.tick(frame, [*inputs, *tickets.answers()])
    ticks.close()
    record = CallRecord(
        call_id=uuid4().hex,
        flow=flow.flow,
        caller=test.caller_id,
        started_at=at,
        answered_frame=frames_in(flow.answer.at_s),
        ended_frame=engine.frame,
        outcome=engine.outcome,
        path=engine.path,
        events=engine.events,
    )
    return Simulated(record, heard_from(record), caller.unmet_wait, not engine.ended, tickets.written)


def heard_from(record: CallRecord) -> list[Heard]:
    out: list[Heard] = []
    started: dict[str, int] = {}
    for e in record.events:
        prompt = str(e.detail.get("prompt", ""))
        if e.kind is EventKind.PROMPT_STARTED:
            started[prompt] = e.frame
        elif e.kind in (EventKind.PROMPT_FINISHED, EventKind.PROMPT_INTERRUPTED):
            out.append(
                Heard(
                    prompt, started.pop(prompt), e.frame, interrupted=e.kind is EventKind.PROMPT_INTERRUPTED
                )
            )
        elif e.kind is EventKind.HANGUP:
            out.append(Heard(None, e.frame, e.frame, hangup=str(e.detail["by"])))
    return out


def _expectations(test: ConversationTest) -> list[Expect]:
    return [Expect(prompt=item) if isinstance(item, str) else item for item in test.expect]


def compare(test: ConversationTest, sim: Simulated) -> list[str]:
    """What the caller should have noticed but did not; empty when the test passes."""
    expected = _expectations(test)
    heard = sim.heard if any(e.hangup for e in expected) else [h for h in sim.heard if h.hangup is None]
    problems: list[str] = []
    if sim.unmet_wait:
        problems.append(f"the caller waited for '{sim.unmet_wait}', which the bot never finished saying")
    if sim.timed_out:
        problems.append(f"the call was still going after {MAX_CALL_S:g} s of media time")
    prev_end: int | None = None
    prev_start: int | None = None
    for i in range(max(len(expected), len(heard))):
        exp = expected[i] if i < len(expected) else None
        got = heard[i] if i < len(heard) else None
        if exp is None:
            problems.append(f"#{i + 1}: heard {_show(got)} but expected nothing more")
        elif got is None:
            problems.append(f"#{i + 1}: expected {_want(exp)} but the call ended")
        elif (exp.prompt or None) != got.prompt or (exp.hangup or None) != got.hangup:
            problems.append(f"#{i + 1}: expected {_want(exp)}, heard {_show(got)}")
        else:
            tol = frames_in(exp.within)
            if exp.at is not None and abs(got.start - frames_in(exp.at)) > tol:
                problems.append(
                    f"#{i + 1}: {_want(exp)} at {seconds_of(got.start):.2f} s, expected at {exp.at:.2f} s"
                )
            if (
                exp.gap is not None
                and prev_end is not None
                and abs(got.start - prev_end - frames_in(exp.gap)) > tol
            ):
                problems.append(
                    f"#{i + 1}: {_want(exp)} {seconds_of(got.start - prev_end):.2f} s after the previous prompt ended, "
                    f"expected {exp.gap:.2f} s"
                )
            if (
                exp.start_gap is not None
                and prev_start is not None
                and abs(got.start - prev_start - frames_in(exp.start_gap)) > tol
            ):
                problems.append(
                    f"#{i + 1}: {_want(exp)} {seconds_of(got.start - prev_start):.2f} s after the previous prompt "
                    f"started, expected {exp.start_gap:.2f} s"
                )
        if got is not None:
            prev_end = got.end
            prev_start = got.start
    if (
        test.outcome is not None
        and sim.record.outcome is not None
        and sim.record.outcome.value != test.outcome
    ):
        problems.append(f"outcome '{sim.record.outcome.value}', expected '{test.outcome}'")
    return problems


def _want(exp: Expect) -> str:
    return f"'{exp.prompt}'" if exp.prompt else f"hang-up by {exp.hangup}"


def _show(got: Heard | None) -> str:
    if got is None:
        return "nothing"
    if got.hangup:
        return f"hang-up by {got.hangup} at {seconds_of(got.start):.2f} s"
    return f"'{got.prompt}' at {seconds_of(got.start):.2f} s"


def timeline(sim: Simulated) -> Table:
    table = Table("start", "end", "the caller heard", box=None, pad_edge=False)
    for h in sim.heard:
        what = (
            f"[bold]hang-up by {h.hangup}[/]"
            if h.hangup
            else (h.prompt or "") + (" (cut off)" if h.interrupted else "")
        )
        table.add_row(f"{seconds_of(h.start):7.2f}", f"{seconds_of(h.end):7.2f}", what)
    return table


def run_conversation_tests(files: Iterable[Path], root: Path, console: Console | None = None) -> int:
    """``ivr flow test``: check the files, then run every conversation test; exit 0 when all pass."""
    console = console or Console()
    checked = check(files, root)
    if checked.problems:
        for problem in checked.problems:
            print(problem, file=sys.stderr)
        print("fix these first ('ivr flow check')", file=sys.stderr)
        return 1
    failed = passed = 0
    for flow_file in checked.flows:
        for test in flow_file.flow.tests:
            ok = run_one(flow_file, test, root, console)
            passed += ok
            failed += not ok
    console.print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def run_one(flow_file: FlowFile, test: ConversationTest, root: Path, console: Console) -> bool:
    from ivr.hearing.line_classifier import LineClassifier
    from ivr.prompts.audio_store import PromptAudio
    from ivr.prompts.player import PromptPlayer

    try:
        player = PromptPlayer(PromptAudio.open(root, flow_file.flow.locale))
    except ConfigError as err:
        console.print(f"[red]FAILED[/] {flow_file.path.name}: {test.name}\n{err}")
        return False
    sim = simulate(
        flow_file.flow,
        player,
        LineClassifier(),
        test,
        flow_file.path.parent,
    )
    problems = compare(test, sim)
    if not problems:
        console.print(f"[green]passed[/] {flow_file.path.name}: {test.name}")
        return True
    console.print(f"[red]FAILED[/] {flow_file.path.name}: {test.name}")
    for p in problems:
        console.print(f"    {p}")
    console.print(timeline(sim))
    return False
