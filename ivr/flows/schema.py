"""The flow language: what an admin may write in ``flows/*.yaml``.

Every model forbids unknown keys. Thresholds default to the handbook's values
(answer before the third ring, 10 s of silence, 10 s of noise, a progress
update every 15 s). Cross-references (prompt ids, step names, audio) are
checked by ``ivr.flows.checks`` once the whole file has loaded.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ivr.flows.durations import Clock, Duration

StepName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
PromptId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Digit = Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- answering -------------------------------------------------------------------------


class Ring(Strict):
    """The ring cadence the caller hears before the bot answers (China: 1 s on, 4 s off)."""

    on: Duration = Field(default=1.0, gt=0)
    off: Duration = Field(default=4.0, ge=0)


class Answer(Strict):
    """When to pick up. The handbook (lines 31, 277): before the third ring."""

    rings: int = Field(default=1, ge=0, le=10, description="rings the caller hears before the bot answers")
    ring: Ring = Field(default_factory=Ring)

    @property
    def at_s(self) -> float:
        """Seconds after the call arrives at which the bot answers: at the end of ring ``rings``."""
        if self.rings == 0:
            return 0.0
        return (self.rings - 1) * (self.ring.on + self.ring.off) + self.ring.on

    @property
    def third_ring_s(self) -> float:
        return 2 * (self.ring.on + self.ring.off)

    @model_validator(mode="after")
    def _before_third_ring(self) -> Answer:
        if self.at_s >= self.third_ring_s:
            raise ValueError(
                f"rings: {self.rings} answers at {self.at_s:g} s, at or after the start of the third "
                f"ring ({self.third_ring_s:g} s with {self.ring.on:g} s on / {self.ring.off:g} s off); "
                "the handbook (line 31) says answer before the third ring: use rings 0, 1 or 2"
            )
        return self


# --- hours and conditions --------------------------------------------------------------


class Opening(Strict):
    days: list[Day] = Field(min_length=1)
    open: Clock
    close: Clock

    @model_validator(mode="after")
    def _open_before_close(self) -> Opening:
        if self.open >= self.close:
            raise ValueError(f"open {self.open:%H:%M} is not before close {self.close:%H:%M}")
        return self


class TimeRange(Strict):
    """From..to on the clock; may wrap past midnight (``from: "22:00", to: "06:00"``)."""

    from_: Clock = Field(alias="from")
    to: Clock

    def contains(self, t: time) -> bool:
        if self.from_ <= self.to:
            return self.from_ <= t < self.to
        return t >= self.from_ or t < self.to


class Condition(Strict):
    """All the keys given must hold (and); ``not`` negates a whole condition."""

    hours: str | None = Field(default=None, description="within the named opening hours")
    days: list[Day] | None = Field(default=None, min_length=1)
    time: TimeRange | None = None
    caller: list[str] | None = Field(
        default=None,
        min_length=1,
        description="caller number starts with one of these ('anonymous' for no number)",
    )
    repeat_caller: Duration | None = Field(
        default=None, gt=0, description="the same number called within this long before"
    )
    dropped_call: Duration | None = Field(
        default=None,
        gt=0,
        description="the same number's last call, within this long before, was cut off before its business "
        "was done: the line was lost or the caller hung up mid-step (line 141)",
    )
    intent: str | None = Field(default=None, description="the last intent heard is this one")
    not_: Condition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError(
                "an empty condition; give hours, days, time, caller, repeat_caller, dropped_call, intent or not"
            )
        return self


class Case(Strict):
    when: Condition
    next: StepName


# --- saying ----------------------------------------------------------------------------


class Say(Strict):
    prompt: PromptId
    vars: dict[str, str | int] = Field(default_factory=dict, description="call variables, e.g. staff_id")
    barge_in: bool = Field(default=True, description="the caller may talk over it")


PromptRef = PromptId | Say


def as_say(ref: PromptRef) -> Say:
    return ref if isinstance(ref, Say) else Say(prompt=ref)


# --- line conditions -------------------------------------------------------------------


class Rung(Strict):
    """One rung of a ladder: after this long of the condition, say this, then go on or hang up."""

    after: Duration
    say: PromptRef | None = None
    then: Literal["continue", "hangup"] = "continue"


def _rung(after: float, say: str, then: Literal["continue", "hangup"] = "continue") -> Rung:
    return Rung(after=after, say=say, then=then)


class LineHandling(Strict):
    """Ladders that run in every listening step (handbook lines 104–111, 147)."""

    silence: list[Rung] = Field(
        default_factory=lambda: [_rung(10, "silent.nudge"), _rung(10, "silent.goodbye", "hangup")],
        description="a silent line: seconds of silence counted from the end of the last prompt",
    )
    noise: list[Rung] = Field(
        default_factory=lambda: [_rung(3, "noisy.repeat"), _rung(10, "noisy.goodbye", "hangup")],
        description="a noisy line: seconds of continuous noise; the ladder restarts when it clears",
    )
    quiet: list[Rung] = Field(
        default_factory=lambda: [_rung(1.5, "quiet.adjust")],
        description="a caller too quiet to hear: seconds of quiet speech, said when the caller pauses",
    )
    linger: list[Rung] = Field(
        default_factory=lambda: [
            _rung(0, "anything_else"),
            _rung(4, "anything_else"),
            _rung(4, "goodbye", "hangup"),
        ],
        description="business done, caller still on the line (line 147): ask twice, then goodbye",
    )
    unclear: list[Rung] = Field(
        default_factory=lambda: [_rung(0, "mandarin.please"), _rung(0, "mandarin.find_someone")],
        description="speech heard but nothing recognisable, in turn (lines 139–140: a caller not speaking "
        "Mandarin); past the last, the step's give_up runs. On a noisy line the noise ladder runs instead",
    )
    recognition_lost: PromptRef = Field(
        default="system.fault_notice",
        description="said once when speech recognition fails mid-call (lines 97–100); keys still work",
    )
    recognition_lost_next: StepName | None = Field(
        default=None,
        description="after that apology, go to this step (e.g. the callback step, for line 100's offer); "
        "unset: the call goes on where it was, with keys",
    )
    goodbye_wait: Duration = Field(
        default=3.0,
        ge=0,
        le=30,
        description="after a goodbye, how long to let the caller hang up first (line 35)",
    )

    @model_validator(mode="after")
    def _ladders(self) -> LineHandling:
        for name in ("silence", "noise", "quiet", "linger", "unclear"):
            ladder: list[Rung] = getattr(self, name)
            for i, rung in enumerate(ladder):
                if name not in ("linger", "unclear") and rung.after < 1:
                    raise ValueError(f"{name}[{i}].after: {rung.after:g} s is too short; at least 1 s")
                if rung.after > 120:
                    raise ValueError(f"{name}[{i}].after: {rung.after:g} s is over the 120 s limit")
                if rung.then == "hangup" and rung.say is None:
                    raise ValueError(f"{name}[{i}]: hangs up without a goodbye; give it a 'say'")
                if rung.then == "hangup" and i != len(ladder) - 1:
                    raise ValueError(f"{name}[{i}]: hangs up, so the rungs after it can never run")
        return self


class Hold(Strict):
    """While a caller waits for a seat (lines 95–96)."""

    every: Duration = Field(default=15.0, ge=5, le=60, description="progress update interval, start to start")
    progress: PromptId = "hold.progress"
    sorry_after: Duration = Field(default=60.0, ge=0, description="a wait this long ends with the apology")
    sorry: PromptId = "hold.sorry_wait"
    music: str | None = Field(
        default=None,
        description="played between updates: 'built-in' (soft chimes) or a WAV file (8 kHz mono 16-bit) "
        "relative to the project root, e.g. audio/hold/music.wav",
    )
    max_wait: Duration = Field(default=120.0, ge=15, le=3600, description="then the callback offer")
    callback_key: Digit | None = Field(
        default="1", description="pressed while waiting: leave a callback request"
    )


# --- steps -----------------------------------------------------------------------------


class Intent(Strict):
    phrases: list[str] = Field(min_length=1)
    next: StepName


class Listen(Strict):
    prompt: PromptRef | None = Field(default=None, description="said first; the caller may talk over it")
    intents: dict[str, Intent] = Field(default_factory=dict)
    keys: dict[Digit, StepName] = Field(default_factory=dict, description="DTMF key → step")
    no_match: list[Rung] = Field(
        default_factory=lambda: [_rung(0, "ask_repeat"), _rung(0, "ask_repeat")],
        description="what is said when nothing matched, in turn; past the last, 'give_up' runs",
    )
    give_up: StepName | None = Field(default=None, description="where to go after the no-match ladder")

    @model_validator(mode="after")
    def _something_to_hear(self) -> Listen:
        if not self.intents and not self.keys:
            raise ValueError("a listen step needs 'intents' or 'keys'")
        return self


class Transfer(Strict):
    skill: str = Field(min_length=1)
    say: PromptRef = "transfer.to_seat"
    no_answer: PromptRef = Field(
        default="transfer.no_answer", description="said when no seat can take the call"
    )
    ring_timeout: Duration = Field(default=15.0, ge=5, le=60, description="ring each seat this long")


class Callback(Strict):
    number: Literal["caller_id", "ask"] = "caller_id"


Outcome = Literal["served", "declined", "transferred", "callback"]


class Step(Strict):
    """One step; exactly one action key: say, listen, branch, transfer, callback, hangup, finish."""

    say: PromptRef | list[PromptRef] | None = None
    listen: Listen | None = None
    branch: list[Case] | None = Field(default=None, min_length=1)
    otherwise: StepName | None = None
    transfer: Transfer | None = None
    callback: Callback | None = None
    hangup: PromptRef | None = Field(default=None, description="the goodbye said before hanging up")
    finish: bool | None = Field(default=None, description="business done: the linger ladder runs")
    next: StepName | None = None
    resume: bool = Field(
        default=False,
        description="say steps: a caller whose last call dropped goes back to the listening step "
        "they were in (line 141) instead of 'next'",
    )
    outcome: Outcome | None = Field(default=None, description="how the register files a call ending here")

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        given = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            what = ", ".join(given) if given else "none"
            raise ValueError(f"a step needs exactly one of {', '.join(ACTIONS)} (found: {what})")
        action = given[0]
        if action == "branch" and self.otherwise is None:
            raise ValueError("a branch needs 'otherwise': where to go when no case holds")
        if action != "branch" and self.otherwise is not None:
            raise ValueError("'otherwise' belongs to a branch step")
        if action in ("say", "transfer", "callback") and self.next is None:
            raise ValueError(f"a {action} step needs 'next'")
        if action in ("listen", "branch", "hangup") and self.next is not None:
            raise ValueError(f"a {action} step goes on by its own keys; 'next' has no meaning here")
        if self.resume and action != "say":
            raise ValueError("'resume' belongs to a say step")
        if action == "finish" and self.finish is False:
            raise ValueError("finish: false is not a step; remove the step or write finish: true")
        return self

    def targets(self) -> list[str]:
        """Step names this step can go to."""
        out: list[str] = [self.next] if self.next else []
        if self.listen:
            out += [i.next for i in self.listen.intents.values()]
            out += list(self.listen.keys.values())
            out += [self.listen.give_up] if self.listen.give_up else []
        if self.branch:
            out += [c.next for c in self.branch]
            out += [self.otherwise] if self.otherwise else []
        return out


ACTIONS = ("say", "listen", "branch", "transfer", "callback", "hangup", "finish")


# --- conversation tests ----------------------------------------------------------------


class Noise(Strict):
    for_: Duration = Field(alias="for", gt=0)
    level: float = Field(default=-20.0, le=0, ge=-90, description="dBFS")
    kind: Literal["white", "pink", "brown", "hum", "crackle"] = "white"


class Says(Strict):
    text: str = Field(
        min_length=1, description="what the caller says (spoken by espeak-ng unless 'wav' is given)"
    )
    wav: str | None = Field(default=None, description="a recording of it, relative to the flow file")
    level: float = Field(default=-20.0, le=0, ge=-90, description="speech level in dBFS")
    heard_as: str | None = Field(default=None, description="what recognition returns (default: the text)")
    confidence: float = Field(default=1.0, ge=0, le=1, description="how sure recognition is of it")


class CallerAction(Strict):
    """One thing the scripted caller does; exactly one key."""

    silent: Duration | None = None
    noise: Noise | None = None
    says: str | Says | None = None
    presses: Annotated[str, StringConstraints(pattern=r"^[0-9*#]+$")] | None = None
    hangs_up: Literal[True] | None = None
    waits_for: PromptId | None = Field(
        default=None, description="until the bot has finished saying this prompt"
    )
    recognition_fails: Literal[True] | None = Field(
        default=None, description="the speech recogniser fails here (a system fault, lines 97–100)"
    )

    @model_validator(mode="after")
    def _one(self) -> CallerAction:
        if len(self.model_fields_set) != 1:
            raise ValueError(
                "each caller action has exactly one of silent, noise, says, presses, hangs_up, waits_for, "
                "recognition_fails"
            )
        return self


class Expect(Strict):
    """One thing the caller should notice: a prompt (with its timing), or the hang-up."""

    prompt: PromptId | None = None
    at: Duration | None = Field(default=None, description="starts this long after the answer")
    gap: Duration | None = Field(default=None, description="starts this long after the previous prompt ended")
    hangup: Literal["bot", "caller"] | None = None
    within: Duration = Field(default=0.0, ge=0, description="timing tolerance")

    @model_validator(mode="after")
    def _what(self) -> Expect:
        if (self.prompt is None) == (self.hangup is None):
            raise ValueError("an expectation names either a 'prompt' or a 'hangup'")
        if self.hangup is not None and self.gap is not None:
            raise ValueError("'gap' applies to prompts; for a hang-up use 'at'")
        return self


class ConversationTest(Strict):
    name: str = Field(min_length=1)
    at: str = Field(default="2026-03-02 10:00", description="wall time of the call, YYYY-MM-DD HH:MM")
    caller_id: str | None = "13800000000"
    dropped_in: StepName | None = Field(
        default=None, description="the step the previous call dropped in (with previous_call)"
    )
    previous_call: Duration | None = Field(
        default=None, gt=0, description="the same number called this long before (for repeat_caller rules)"
    )
    previous_ended: Literal["dropped", "finished"] = Field(
        default="dropped",
        description="how that previous call ended: cut off (line lost, caller hung up mid-step) or finished",
    )
    caller: list[CallerAction] = Field(min_length=1)
    expect: list[PromptId | Expect] = Field(min_length=1)
    outcome: str | None = None


# --- the flow --------------------------------------------------------------------------


class Flow(Strict):
    flow: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", description="the flow's name")
    description: str | None = None
    locale: str = "zh-CN"
    answer: Answer = Field(default_factory=Answer)
    hours: dict[str, list[Opening]] = Field(default_factory=dict)
    line: LineHandling = Field(default_factory=LineHandling)
    hold: Hold = Field(default_factory=Hold)
    start: StepName = "start"
    steps: dict[StepName, Step] = Field(min_length=1)
    tests: list[ConversationTest] = Field(default_factory=list)
