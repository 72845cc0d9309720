"""A caller may hang up at any moment: every step of both shipped flows, on entry and mid-prompt.

Routes through each flow are found by exploring it: at each listening step the
caller picks one intent or key, under several call contexts (in hours, after
hours, evening, weekend, a cut-off caller ringing back). Then each step reached is replayed with the
caller hanging up on entering it, and again halfway through its first prompt.
Every call must end without an exception and leave a complete record that the
register keeps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from ivr.call.engine import CallEngine
from ivr.call.events import CallRecord, EventKind
from ivr.call.inputs import CallContext, CallerHangup, CallInput, Dtmf, Heard
from ivr.flows.loader import FlowFile
from ivr.flows.schema import Flow, Intent, Say
from ivr.hearing.line_classifier import LineClassifier
from ivr.media import SILENT_FRAME, frames_in
from ivr.prompts.catalog import CALL_VARIABLES
from ivr.prompts.player import PromptPlayer
from ivr.records.register import CallRegister

CONTEXTS = {
    "weekday morning": CallContext("13800000001", datetime(2026, 3, 2, 10, 0)),
    "weekday evening": CallContext("13800000001", datetime(2026, 3, 6, 19, 30)),
    "late night": CallContext("13800000001", datetime(2026, 3, 6, 23, 0)),
    "weekend morning": CallContext("13800000001", datetime(2026, 3, 7, 10, 0)),
    "cut-off caller ringing back": CallContext(
        "13800000001", datetime(2026, 3, 2, 10, 0), seconds_since_last_call=60.0, last_call_dropped=True
    ),
}
LIMIT = frames_in(300)
Choice = tuple[str, str]  # (listen step, intent name or 'key:N')


@dataclass
class Drive:
    engine: CallEngine
    waiting_in: str | None  # the listen step the caller was left in, choices used up


def _hears(flow: Flow, step: str) -> tuple[dict[str, Intent], dict[str, str], int | None]:
    """What a step that waits for the caller understands: intents, keys, and the misses before it gives
    up (None: it never does). A finish step with ``confirm`` hears a yes or a no."""
    spec = flow.steps[step]
    if spec.listen is not None:
        listen = spec.listen
        misses = len(listen.no_match) + 1 if listen.give_up else None
        return listen.heard_intents(), listen.heard_keys(), misses
    assert spec.confirm is not None
    return spec.confirm.intents(), {"1": spec.confirm.yes, "2": spec.confirm.no}, None


def _answers(flow: Flow, step: str) -> bool:
    spec = flow.steps[step]
    return spec.listen is not None or spec.confirm is not None


def _choose(flow: Flow, step: str, choice: str) -> list[CallInput]:
    intents, _, misses = _hears(flow, step)
    if choice.startswith("key:"):
        return [Dtmf(choice[4:])]
    if choice == "miss":  # nothing the step knows, until it gives up
        assert misses is not None
        return [Heard("嗯") for _ in range(misses)]
    return [Heard(intents[choice].phrases[0])]


def drive(
    flow: Flow,
    player: PromptPlayer,
    context: CallContext,
    route: list[Choice],
    hang_at: tuple[str, str] | None = None,
) -> Drive:
    """Run a call: answer each listening step with the route's next choice; hang up as told.

    ``hang_at`` is (step, 'entry' | 'mid-prompt'). Without it, the drive stops once the
    route is used up and the bot waits in a listening step.
    """
    engine = CallEngine(flow, player, LineClassifier(), context)
    choices = deque(route)
    answered_visit = -1
    hang_frame: int | None = None
    for _ in range(LIMIT):
        inputs: list[CallInput] = []
        step = engine.step
        if (
            hang_at is not None
            and hang_at[0] in engine.path
            and hang_frame is None
            and (hang_at[1] == "entry" or engine.speaking is not None)
        ):
            hang_frame = engine.frame + (0 if hang_at[1] == "entry" else _half(engine, player))
        if hang_frame is not None and engine.frame >= hang_frame:
            inputs = [CallerHangup()]
        elif (
            step is not None
            and _answers(flow, step)
            and engine.speaking is None
            and answered_visit != len(engine.path)
        ):
            if not choices:
                if hang_at is None:
                    return Drive(engine, step)
            else:
                listen_step, choice = choices.popleft()
                assert listen_step == step, f"route expected {listen_step}, flow is in {step}"
                inputs = _choose(flow, step, choice)
                answered_visit = len(engine.path)
        engine.tick(SILENT_FRAME, inputs)
        if engine.ended:
            break
    return Drive(engine, None)


def _half(engine: CallEngine, player: PromptPlayer) -> int:
    started = [e for e in engine.events if e.kind is EventKind.PROMPT_STARTED]
    prompt = str(started[-1].detail["prompt"])
    # a prompt with call variables (a staff number): any value gives a length to cut halfway through;
    # the number read back is the caller's own
    anything = {name: "1" for name in CALL_VARIABLES}
    if prompt == "callback.confirm_number":
        anything["number"] = engine.context.caller or ""
    length = len(player.frames(Say(prompt=prompt, vars=anything)))
    return max(1, length // 2)


def explore(flow: Flow, player: PromptPlayer) -> dict[str, tuple[str, list[Choice]]]:
    """The first (context, route) found that reaches each step."""
    found: dict[str, tuple[str, list[Choice]]] = {}
    for name, context in CONTEXTS.items():
        todo: deque[list[Choice]] = deque([[]])
        seen_listens: set[str] = set()
        while todo:
            route = todo.popleft()
            result = drive(flow, player, context, route)
            for step in result.engine.path:
                found.setdefault(step, (name, route))
            where = result.waiting_in
            if where is None or where in seen_listens:
                continue
            seen_listens.add(where)
            intents, keys, misses = _hears(flow, where)
            todo += [[*route, (where, intent)] for intent in intents]
            todo += [[*route, (where, f"key:{key}")] for key in keys]
            todo += [[*route, (where, "miss")]] if misses is not None else []
    return found


def reachable_in_media_time(flow: Flow) -> set[str]:
    """Steps reachable when a transfer always hands the call to a seat (its 'next' is for later)."""
    seen: set[str] = set()
    todo = [flow.start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        step = flow.steps[name]
        todo += [] if step.transfer is not None else step.targets()
    return seen


def assert_complete(record: CallRecord) -> None:
    kinds = [e.kind for e in record.events]
    assert record.outcome is not None
    assert kinds[0] is EventKind.ANSWERED
    assert kinds[-1] is EventKind.HANGUP and record.events[-1].detail["by"] == "caller"
    open_prompts: list[str] = []
    for e in record.events:
        if e.kind is EventKind.PROMPT_STARTED:
            open_prompts.append(str(e.detail["prompt"]))
        elif e.kind in (EventKind.PROMPT_FINISHED, EventKind.PROMPT_INTERRUPTED):
            assert open_prompts.pop() == e.detail["prompt"]
    assert open_prompts == [], "a prompt was left playing in the record"


@pytest.mark.parametrize("which", ["desk", "hotel"])
def test_caller_hangs_up_at_every_step_and_the_call_is_fully_recorded(
    which: str, request: pytest.FixtureRequest, player: PromptPlayer, tmp_path: Path
) -> None:
    flow_file: FlowFile = request.getfixturevalue(which)
    flow = flow_file.flow
    found = explore(flow, player)
    assert reachable_in_media_time(flow) <= set(found), "steps no route reached"
    register = CallRegister(tmp_path / "calls.db")
    n = 0
    for step, (context_name, route) in found.items():
        for moment in ("entry", "mid-prompt"):
            result = drive(flow, player, CONTEXTS[context_name], route, hang_at=(step, moment))
            engine = result.engine
            if engine.ended_by == "transfer" or (moment == "mid-prompt" and not _cut_off(engine)):
                continue  # handed to a seat first, or the step says nothing to hang up in
            assert engine.ended_by == "caller", f"{step} ({moment}): call not ended by the caller"
            record = CallRecord(
                f"{which}-{n}",
                flow.flow,
                "13800000001",
                datetime(2026, 3, 2, 10, 0),
                0,
                engine.frame,
                engine.outcome,
                engine.path,
                engine.events,
            )
            assert_complete(record)
            register.save(record)
            n += 1
    assert len(register.list_calls(limit=None)) == n
    register.close()


def _cut_off(engine: CallEngine) -> bool:
    return any(e.kind is EventKind.PROMPT_INTERRUPTED and e.detail["by"] == "hangup" for e in engine.events)
