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


LADDERS = ("silence", "spoken_silence", "noise", "quiet", "linger", "unclear")


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
    spoken_silence: list[Rung] = Field(
        default_factory=lambda: [_rung(10, "silent.still_there"), _rung(10, "silent.goodbye", "hangup")],
        description="a silent line after the caller has spoken or keyed: ask whether they are still there, "
        "then goodbye, and the call is not filed as a silent call; the silent-call script (lines 110–111, "
        "您的电话已接通,请讲) is for a caller never heard",
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
        for name in LADDERS:
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


# What a caller says to a yes-or-no question (handbook line 28's 征询语 …好吗?), and the keys for it.
# A no that holds a yes (不需要, 不可以) wins: the matcher prefers the phrase covering more of the words.
YES_PHRASES = ("好的", "可以", "需要", "行", "是", "对", "同意", "好啊", "要的")
NO_PHRASES = (
    "不用", "不需要", "没有了", "没有", "没事了", "不", "不要", "不可以", "不行", "不是", "不对", "不同意", "不好", "算了",
)  # fmt: skip
YES_KEY = "1"
NO_KEY = "2"


class Confirm(Strict):
    """The bot asked a yes-or-no question: where a yes (好的, 可以, 需要 … or key 1) and a no
    (不用, 不需要, 没有了 … or key 2) go."""

    yes: StepName
    no: StepName

    def intents(self) -> dict[str, Intent]:
        return {
            "yes": Intent(phrases=list(YES_PHRASES), next=self.yes),
            "no": Intent(phrases=list(NO_PHRASES), next=self.no),
        }


class Listen(Strict):
    prompt: PromptRef | None = Field(default=None, description="said first; the caller may talk over it")
    intents: dict[str, Intent] = Field(default_factory=dict)
    keys: dict[Digit, StepName] = Field(default_factory=dict, description="DTMF key → step")
    no_match: list[Rung] = Field(
        default_factory=lambda: [_rung(0, "ask_repeat"), _rung(0, "ask_repeat")],
        description="what is said when nothing matched, in turn; past the last, 'give_up' runs",
    )
    give_up: StepName | None = Field(default=None, description="where to go after the no-match ladder")
    confirm: Confirm | None = Field(
        default=None,
        description="the prompt asks a yes-or-no question: yes (好的, 可以, 需要, 行, 是 or key 1) goes to "
        "'yes', no (不用, 不需要, 没有了, 不 or key 2) to 'no'",
    )

    @model_validator(mode="after")
    def _something_to_hear(self) -> Listen:
        if not self.intents and not self.keys and self.confirm is None:
            raise ValueError("a listen step needs 'intents', 'keys' or 'confirm'")
        if self.confirm is not None:
            taken = sorted({YES_KEY, NO_KEY} & set(self.keys))
            if taken:
                raise ValueError(
                    f"key {taken[0]} is taken by 'confirm' (1 yes, 2 no); use another key or drop confirm"
                )
            named = sorted({"yes", "no"} & set(self.intents))
            if named:
                raise ValueError(f"intent '{named[0]}' is taken by 'confirm'; name it otherwise")
        return self

    def heard_intents(self) -> dict[str, Intent]:
        """The intents the step listens for: its own, then yes and no when it asks for a confirmation."""
        if self.confirm is None:
            return self.intents
        return {**self.intents, **self.confirm.intents()}

    def heard_keys(self) -> dict[str, str]:
        """The keys the step listens for: its own, and 1 (yes) and 2 (no) when it asks for a confirmation."""
        if self.confirm is None:
            return dict(self.keys)
        return {**self.keys, YES_KEY: self.confirm.yes, NO_KEY: self.confirm.no}


class Transfer(Strict):
    skill: str = Field(min_length=1)
    say: PromptRef = "transfer.to_seat"
    no_seat: PromptRef = Field(
        default="transfer.no_seat",
        description="said when no seat with the skill is signed in (or all are on a break): the caller is "
        "not queued for nobody, the flow's fallback ('next') follows at once",
    )
    no_answer: PromptRef | None = Field(
        default=None,
        description="said when the caller waited for seats that were signed in and none took the call (the "
        "wait ran out), after hold.sorry; never when nobody was rung (that is no_seat). It may end with the "
        "callback offer's own question (…您看可以吗?): a callback step next hears the answer to it "
        "instead of asking again",
    )
    ring_timeout: Duration = Field(default=15.0, ge=5, le=60, description="ring each seat this long")


class Callback(Strict):
    """Take a callback ticket (handbook lines 33, 100, 136): ask, get a number, write it, then promise.

    The promise (``taken``) is said only once the ticket is in the register; a ticket that cannot
    be written within ``write_wait`` is owned up to with ``not_taken`` (lines 97–100). No number,
    no ticket, no promise.
    """

    number: Literal["caller_id", "ask"] = Field(
        default="caller_id",
        description="caller_id: read the caller's number back to confirm it (1) or key another in (2); "
        "ask: always key it in. A withheld number is always keyed in",
    )
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")] = Field(
        default="callback", description="why, on the ticket: after_hours, max_wait, no_seat, complaint …"
    )
    offer: PromptRef | None = Field(
        default=None,
        description="asked first, a yes-or-no question (1 yes, 2 no); no offer: the caller already asked",
    )
    confirm: PromptRef = Field(
        default="callback.confirm_number", description="reads the caller's number back ({number})"
    )
    key_in: PromptRef = Field(default="callback.key_in", description="asks for the number, ending with #")
    taken: PromptRef = Field(default="callback.taken", description="the promise, once the ticket is written")
    no_number: PromptRef = Field(
        default="callback.no_number", description="said when no number was confirmed or keyed in"
    )
    not_taken: PromptRef = Field(
        default="system.fault_notice",
        description="said instead of the promise when the ticket was not written",
    )
    write_wait: Duration = Field(
        default=5.0, ge=1, le=30, description="how long the caller hears the hold before not_taken"
    )


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
    confirm: Confirm | None = Field(
        default=None,
        description="finish steps: the linger ladder asks 还需要什么帮助; a yes (需要, 好的 … or 1) goes to "
        "'yes', a no (不用, 没有了 … or 2) to 'no'; anything else to 'next'",
    )
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
        if self.confirm is not None and action != "finish":
            raise ValueError("a step's 'confirm' belongs to a finish step; a listen step has its own")
        if self.confirm is not None and self.next is None:
            raise ValueError(
                "a finish step with 'confirm' needs 'next': where an answer that is neither goes"
            )
        if action == "finish" and self.finish is False:
            raise ValueError("finish: false is not a step; remove the step or write finish: true")
        return self

    def targets(self) -> list[str]:
        """Step names this step can go to."""
        out: list[str] = [self.next] if self.next else []
        if self.listen:
            out += [i.next for i in self.listen.heard_intents().values()]
            out += list(self.listen.keys.values())
            out += [self.listen.give_up] if self.listen.give_up else []
        if self.confirm:
            out += [self.confirm.yes, self.confirm.no]
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
    start_gap: Duration | None = Field(
        default=None,
        description="starts this long after the previous prompt started (start to start, as hold.every counts)",
    )
    hangup: Literal["bot", "caller"] | None = None
    within: Duration = Field(default=0.0, ge=0, description="timing tolerance")

    @model_validator(mode="after")
    def _what(self) -> Expect:
        if (self.prompt is None) == (self.hangup is None):
            raise ValueError("an expectation names either a 'prompt' or a 'hangup'")
        if self.hangup is not None and (self.gap is not None or self.start_gap is not None):
            raise ValueError("'gap' and 'start_gap' apply to prompts; for a hang-up use 'at'")
        return self


class SimulatedQueue(Strict):
    """The seats' side of a conversation test's transfers: the caller waits in a queue (hold.progress
    every hold.every, hold.sorry after hold.sorry_after) until a seat takes the call, or never."""

    position: int = Field(default=1, ge=1, le=99, description="the caller's place, said in hold.progress")
    wait: Duration = Field(default=60.0, ge=0, description="the estimated wait, said in hold.progress")
    answered_after: Duration | None = Field(
        default=None,
        gt=0,
        description="a seat takes the call this long after the transfer began; unset: none does "
        "(the wait runs to hold.max_wait)",
    )


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
    seats: list[str] | None = Field(
        default=None,
        description="skills some seat is signed in for (a transfer to any other finds nobody); "
        "unset: every transfer is put through",
    )
    queue: SimulatedQueue | None = Field(
        default=None,
        description="transfers wait in a queue as this says (with 'seats' unset, every skill has a seat); "
        "unset: a transfer is put through once its words are said",
    )
    tickets: Literal["written", "fail"] = Field(
        default="written", description="whether callback tickets can be written (fail: the register is down)"
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
