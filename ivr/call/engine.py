"""The call engine: one flow, one call, one 20 ms frame at a time.

``tick(inbound, inputs)`` takes the caller's frame and whatever else arrived
(keys, recognition results, hang-up) and returns the frame the bot sends. The
flow runs as a generator that yields one outbound frame per tick, so every
wait in the flow is an exact count of frames and nothing reads a clock.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Generator, Iterable
from datetime import timedelta

from ivr.call.conditions import holds
from ivr.call.events import CallEvent, Detail, EventKind, Outcome
from ivr.call.inputs import CallContext, CallerHangup, CallInput, Dtmf, Heard, RecognitionLost
from ivr.call.line_watch import LineWatch
from ivr.call.ports import LineHearing, PromptSource, SeatDesk
from ivr.flows.schema import Callback, Flow, Listen, PromptRef, Say, Step, Transfer, as_say
from ivr.hearing.intent_matcher import match_listen
from ivr.hearing.line_state import LineState
from ivr.media import SILENT_FRAME, frames_in, seconds_of

Program = Generator[bytes, None, str | None]  # yields outbound frames, returns the next step (None: end)

MAX_STEPS_PER_FRAME = 64  # a flow that loops without saying anything stops here
LADDER_OUTCOME = {"silence": Outcome.SILENT_HANGUP, "noise": Outcome.NOISY_HANGUP}
STEP_OUTCOME = {
    "served": Outcome.SERVED,
    "declined": Outcome.DECLINED,
    "transferred": Outcome.TRANSFERRED,
    "callback": Outcome.CALLBACK,
}
KEYPAD_TIMEOUT = frames_in(5.0)
MIN_RECOGNITION_CONFIDENCE = 0.4  # a recognition result less sure than this counts as not understood
NOISY_UTTERANCE_FRAMES = frames_in(
    0.5
)  # this much noise around unrecognisable speech: the line is the problem  # between digits of a keyed-in number


class FlowLoopError(RuntimeError):
    """The flow went round its steps without a single frame passing."""


class CallEngine:
    def __init__(
        self,
        flow: Flow,
        audio: PromptSource,
        hearing: LineHearing,
        context: CallContext,
        transfers: bool = True,
        seats: SeatDesk | None = None,
    ) -> None:
        self.flow = flow
        self.transfers = transfers  # False: no seats to hand to, so a transfer step runs its fallback
        self.seats = seats  # the queue for human seats; None: a transfer hands the call on at once
        self._queued = False
        self.audio = audio
        self.hearing = hearing
        self.context = context
        self.events: list[CallEvent] = []
        self.path: list[str] = []
        self.outcome: Outcome | None = None
        self.ended_by: str | None = None  # 'caller' | 'bot' | 'transfer'
        self.handed_off: str | None = None  # the skill a caller was transferred to
        self.frame = 0  # frames since the answer; the tick being run
        self.line = LineState.SILENCE
        self._inbox: deque[Dtmf | Heard] = deque()
        self._playing: str | None = None
        self._business_done = False
        self._last_intent: str | None = None
        # the caller's answers in order, (intent or "", their words or the key): for the seat's
        # whisper, e.g. a complaint's reason (line 120); caller data, never logged
        self._answers: list[tuple[str, str]] = []
        self._steps_this_frame = 0
        self.keys_only = False  # recognition failed: words are no longer heard, keys still are
        self._apology_due = False
        self._saying_goodbye = False
        self._closing = False
        self._program = self._run()
        self._emit(EventKind.ANSWERED)

    @property
    def ended(self) -> bool:
        return self.ended_by is not None

    @property
    def speaking(self) -> str | None:
        """The prompt the bot is saying now, if any."""
        return self._playing

    @property
    def step(self) -> str | None:
        """The step the flow is in."""
        return self.path[-1] if self.path else None

    # --- the tick ----------------------------------------------------------------------

    def tick(self, inbound: bytes, inputs: Iterable[CallInput] = ()) -> bytes:
        """Run one frame: hear ``inbound``, take ``inputs``, return the bot's frame."""
        if self.ended:
            return SILENT_FRAME
        try:
            for item in inputs:
                if isinstance(item, CallerHangup):
                    self._caller_hung_up()
                    return SILENT_FRAME
                if isinstance(item, RecognitionLost):
                    self._recognition_lost(item)
                    continue
                self._take(item)
            state = self.hearing.hear(inbound)
            if state is not self.line:
                self.line = state
                self._emit(EventKind.LINE, state=state.value)
            self._steps_this_frame = 0
            try:
                return next(self._program)
            except StopIteration:
                if not self.ended:  # a hand-off already ended the call ("transfer")
                    self._end("bot")
                return SILENT_FRAME
        finally:
            self.frame += 1

    def _take(self, item: Dtmf | Heard) -> None:
        if isinstance(item, Dtmf):
            self._emit(EventKind.DTMF, digit=item.digit)
        else:
            self._emit(EventKind.HEARD, text=item.text, confidence=round(item.confidence, 3))
        self._inbox.append(item)

    def _recognition_lost(self, item: RecognitionLost) -> None:
        if self.keys_only:
            return
        self.keys_only = True
        self._emit(EventKind.ERROR, what="recognition", reason=item.reason)
        self._apology_due = True

    def _caller_hung_up(self) -> None:
        self.hang_up("caller")

    def hang_up(self, by: str) -> None:
        """The call ends from outside the flow: the caller hung up, or the line dropped the call."""
        if self.ended:
            return
        if self._queued and self.seats is not None:
            self.seats.leave(self.context.call_id, self.frame, "hung up while waiting")
            self._queued = False
        if self._playing is not None:
            self._emit(EventKind.PROMPT_INTERRUPTED, prompt=self._playing, by="hangup")
            self._playing = None
        if self.outcome is None:
            self.outcome = Outcome.SERVED if self._business_done else Outcome.ABANDONED
        self._program.close()
        self._end(by)

    def fail(self, reason: str) -> None:
        """A fault in the bot ended the call (the line hangs up): the record says failed, and why.

        ``reason`` is the fault's one line (an ``error`` event, ``what=fault``). A call already
        ended (put through, or its goodbye said) keeps its events; only the outcome changes.
        """
        self._emit(EventKind.ERROR, what="fault", reason=reason)
        self.outcome = Outcome.FAILED
        self.hang_up("bot")

    # --- after the hand-off: the line bridges the call to a seat; the record goes on -------

    def put_through_tick(self) -> None:
        """One more frame of a call the line has put through to a seat: the record's clock keeps counting."""
        if self.ended_by == "transfer":
            self.frame += 1

    def held_tick(self) -> None:
        """One frame in which the caller holds the bot (a re-INVITE or UPDATE said sendonly/inactive).

        The flow waits with the caller: the prompt stops where it is and goes on after the hold,
        and the silence and noise ladders do not run (a caller who put us on hold is not a
        silent caller and hears nothing we would say). The record's clock counts on.
        """
        if not self.ended:
            self.frame += 1

    def hold_event(self, state: str) -> None:
        """The caller put the bot on hold (``held``) or took it off (``resumed``), for the record."""
        self._emit(EventKind.HOLD, state=state)

    def put_through_event(self, kind: EventKind, **detail: Detail) -> None:
        """Something that happened on a put-through call (the seat talking or leaving, the goodbye, the
        hang-up): the call's record tells the whole call, not only the bot's part."""
        if self.ended_by == "transfer":
            self._emit(kind, **detail)

    def close_line(self) -> None:
        """The line is shutting down: stop what the flow was doing, say goodbye, hang up.

        Nobody is dropped without a goodbye: a call already saying one finishes it; a
        caller waiting for a seat leaves the queue first. The next frames are the goodbye.
        """
        if self.ended or self._closing:
            return
        self._closing = True
        if self._saying_goodbye:
            return
        if self._queued and self.seats is not None:
            self.seats.leave(self.context.call_id, self.frame, "the line is closing")
            self._queued = False
        if self._playing is not None:
            self._emit(EventKind.PROMPT_INTERRUPTED, prompt=self._playing, by="line closing")
            self._playing = None
        self._program.close()
        self._emit(EventKind.STEP, step="line closing")
        self._program = self._closing_words()

    def _closing_words(self) -> Program:
        outcome = self.outcome or (Outcome.SERVED if self._business_done else Outcome.LINE_CLOSED)
        yield from self._goodbye("goodbye", outcome)
        return None

    def _end(self, by: str) -> None:
        if self.outcome is None:
            self.outcome = Outcome.SERVED if self._business_done else Outcome.FAILED
        self.ended_by = by
        if by != "transfer":
            self._emit(EventKind.HANGUP, by=by, outcome=self.outcome.value)

    def _emit(self, kind: EventKind, **detail: Detail) -> None:
        self.events.append(CallEvent(self.frame, kind, detail))

    # --- the flow ----------------------------------------------------------------------

    def _run(self) -> Program:
        name: str | None = self.flow.start
        while name is not None:
            self._steps_this_frame += 1
            if self._steps_this_frame > MAX_STEPS_PER_FRAME:
                raise FlowLoopError(
                    f"flow '{self.flow.flow}' loops through step '{name}' without saying anything"
                )
            self.path.append(name)
            self._emit(EventKind.STEP, step=name)
            name = yield from self._step(self.flow.steps[name])
            if self.handed_off is not None:
                self._end("transfer")
                return None
        return None

    def _step(self, step: Step) -> Program:
        action = step.action
        if action == "say":
            assert step.say is not None
            for ref in step.say if isinstance(step.say, list) else [step.say]:
                yield from self._say(as_say(ref))
            resume = self.context.resume_step
            if step.resume and resume in self.flow.steps and self.flow.steps[resume].listen is not None:
                return resume  # line 141: carry on where the dropped call was
            return step.next
        if action == "listen":
            assert step.listen is not None
            return (yield from self._listen(step.listen))
        if action == "branch":
            return self._branch(step)
        if action == "transfer":
            assert step.transfer is not None
            return (yield from self._transfer(step.transfer, step.next))
        if action == "callback":
            assert step.callback is not None
            yield from self._callback(step.callback)
            return step.next
        if action == "hangup":
            assert step.hangup is not None
            self._business_done = True
            yield from self._goodbye(step.hangup, self._ending_outcome(step))
            return None
        assert action == "finish"
        return (yield from self._finish(step))

    def _ending_outcome(self, step: Step) -> Outcome:
        """A step's own outcome, else what the call already achieved (a callback), else served."""
        if step.outcome is not None:
            return STEP_OUTCOME[step.outcome]
        return self.outcome or Outcome.SERVED

    def _say(self, say: Say, stop: Callable[[], bool] | None = None) -> Generator[bytes, None, bool]:
        """Play a prompt; returns False if the caller talked or keyed over it (or ``stop()`` came true)."""
        frames = self.audio.frames(say)
        self._emit(EventKind.PROMPT_STARTED, prompt=say.prompt, **self._spoken_numbers(say))
        self._playing = say.prompt
        for i, frame in enumerate(frames):
            if i and say.barge_in and (self.line is LineState.SPEECH or self._key_waiting()):
                self._emit(
                    EventKind.PROMPT_INTERRUPTED, prompt=say.prompt, by="caller", after_s=seconds_of(i)
                )
                self._playing = None
                return False
            if i and stop is not None and stop():
                self._emit(EventKind.PROMPT_INTERRUPTED, prompt=say.prompt, by="seat", after_s=seconds_of(i))
                self._playing = None
                return False
            yield frame
        self._playing = None
        self._emit(EventKind.PROMPT_FINISHED, prompt=say.prompt)
        return True

    @staticmethod
    def _spoken_numbers(say: Say) -> dict[str, Detail]:
        """Queue figures said in a prompt (position, minutes), for the record; never staff numbers."""
        return {k: v for k, v in say.vars.items() if k in ("position", "minutes")}

    def _key_waiting(self) -> bool:
        return any(isinstance(item, Dtmf) for item in self._inbox)

    def _goodbye(self, ref: PromptRef, outcome: Outcome) -> Generator[bytes, None, None]:
        """Say goodbye (not to be talked over), then let the caller hang up first (line 35)."""
        self.outcome = outcome
        self._saying_goodbye = True
        yield from self._say(as_say(ref).model_copy(update={"barge_in": False}))
        for _ in range(frames_in(self.flow.line.goodbye_wait)):
            yield SILENT_FRAME

    def _listen(self, listen: Listen) -> Program:
        watch = LineWatch(self.flow.line)
        if listen.prompt is not None:
            yield from self._say(as_say(listen.prompt))
            watch.prompt_said()
        misses = 0
        unclear = 0
        while True:
            if self._apology_due:  # lines 97–100: say the system fault, then go on with keys
                self._apology_due = False
                yield from self._say(as_say(self.flow.line.recognition_lost))
                if self.flow.line.recognition_lost_next is not None:  # line 100: the callback offer
                    return self.flow.line.recognition_lost_next
                watch.prompt_said()
            while self._inbox:
                item = self._inbox.popleft()
                if isinstance(item, Heard) and not self.keys_only and not self._recognisable(item):
                    noisy = watch.noise_heard >= NOISY_UTTERANCE_FRAMES
                    rung = watch.next_noise_rung() if noisy else None
                    if rung is None and not noisy:
                        unclear += 1
                        rungs = self.flow.line.unclear
                        if unclear > len(rungs):
                            if listen.give_up is not None:
                                return listen.give_up
                            continue
                        rung = rungs[unclear - 1]
                    if rung is not None:
                        if rung.then == "hangup":
                            assert rung.say is not None
                            yield from self._goodbye(
                                rung.say, Outcome.NOISY_HANGUP if noisy else Outcome.ABANDONED
                            )
                            return None
                        if rung.say is not None:
                            yield from self._say(as_say(rung.say))
                        watch.prompt_said()
                    continue
                target = self._answer_to(listen, item)
                if target is not None:
                    return target
                misses += 1
                if misses > len(listen.no_match):
                    if listen.give_up is not None:
                        return listen.give_up
                    continue
                rung = listen.no_match[misses - 1]
                if rung.say is not None and rung.then == "hangup":
                    yield from self._goodbye(rung.say, Outcome.ABANDONED)
                    return None
                if rung.say is not None:
                    yield from self._say(as_say(rung.say))
                watch.prompt_said()
            due = watch.due(self.line)
            if due is not None:
                ladder, rung = due
                if rung.then == "hangup":
                    assert rung.say is not None
                    yield from self._goodbye(rung.say, LADDER_OUTCOME.get(ladder, Outcome.ABANDONED))
                    return None
                if rung.say is not None:
                    yield from self._say(as_say(rung.say))
                watch.prompt_said()
                continue
            watch.count(self.line)
            yield SILENT_FRAME

    @staticmethod
    def _recognisable(item: Heard) -> bool:
        return bool(item.text.strip()) and item.confidence >= MIN_RECOGNITION_CONFIDENCE

    def _answer_to(self, listen: Listen, item: Dtmf | Heard) -> str | None:
        if isinstance(item, Dtmf):
            target = listen.keys.get(item.digit)
            if target is not None:
                self._answers.append(("", f"按{item.digit}键"))
            return target
        if self.keys_only or not self._recognisable(item):
            return None
        found = match_listen(listen, item.text)
        self._answers.append((found.intent if found else "", item.text))
        if found is None:
            return None
        self._last_intent = found.intent
        self._emit(EventKind.INTENT, intent=found.intent, score=round(found.score, 3))
        return listen.intents[found.intent].next

    def _branch(self, step: Step) -> str:
        assert step.branch is not None and step.otherwise is not None
        now = self.context.answered_at + timedelta(seconds=seconds_of(self.frame))
        for case in step.branch:
            if holds(
                case.when,
                self.flow,
                now,
                self.context.caller,
                self.context.seconds_since_last_call,
                self._last_intent,
                self.context.last_call_dropped,
            ):
                return case.next
        return step.otherwise

    def _transfer(self, transfer: Transfer, fallback: str | None) -> Program:
        if self.seats is not None and self.transfers:
            put_through = yield from self._wait_for_seat(self.seats, transfer)
            if not put_through:
                return fallback
            self._emit(EventKind.TRANSFER, skill=transfer.skill)
            self.outcome = Outcome.TRANSFERRED
            self.handed_off = transfer.skill
            return None
        yield from self._say(as_say(transfer.say).model_copy(update={"barge_in": False}))
        if not self.transfers:  # nobody to hand to: say so, and go where the flow goes when no seat answers
            self._emit(EventKind.TRANSFER, skill=transfer.skill, answered=False)
            yield from self._say(as_say(transfer.no_answer))
            return fallback
        self._emit(EventKind.TRANSFER, skill=transfer.skill)
        self.outcome = Outcome.TRANSFERRED
        self.handed_off = transfer.skill
        return None

    def _wait_for_seat(self, seats: SeatDesk, transfer: Transfer) -> Generator[bytes, None, bool]:
        """Queue for a seat: transfer.to_seat, then progress every ``hold.every`` (lines 95–96), start to start.

        Returns True once a seat has the call, False for the fallback (max wait, or a callback asked for).
        """
        hold = self.flow.hold
        call_id = self.context.call_id
        began = self.frame
        seats.join(call_id, transfer.skill, began, self._about_caller(transfer.skill))
        self._queued = True
        every = frames_in(hold.every)
        next_update = began + every  # start to start, from the start of transfer.to_seat

        def put_through() -> bool:  # a seat took the call: hold prompts stop there
            return seats.connected(call_id)

        yield from self._say(as_say(transfer.say).model_copy(update={"barge_in": False}), put_through)
        music = self.audio.music(hold.music) if hold.music else []
        played = 0  # the music goes on where it stopped for an update
        while True:
            waited = self.frame - began
            if seats.connected(call_id):
                self._queued = False
                if waited >= frames_in(hold.sorry_after):
                    yield from self._say(Say(prompt=hold.sorry, barge_in=False))
                return True
            state = seats.waiting(call_id)
            keyed = self._take_key(hold.callback_key)
            if state is None or waited >= frames_in(hold.max_wait) or keyed:
                reason = "callback asked" if keyed else "max wait"
                seats.leave(call_id, self.frame, reason)
                self._queued = False
                self._emit(
                    EventKind.TRANSFER, skill=transfer.skill, answered=False, waited_s=seconds_of(waited)
                )
                return False
            if self.frame >= next_update:
                position, wait_s = state
                minutes = max(1, min(120, round(wait_s / 60)))
                yield from self._say(
                    Say(prompt=hold.progress, vars={"position": position, "minutes": minutes}), put_through
                )
                next_update += every
                continue
            if music:
                yield music[played % len(music)]
                played += 1
            else:
                yield SILENT_FRAME

    def _take_key(self, key: str | None) -> bool:
        for item in list(self._inbox):
            if isinstance(item, Dtmf) and item.digit == key:
                self._inbox.remove(item)
                return True
        return False

    def _about_caller(self, skill: str) -> dict[str, str]:
        """What the seat hears before the caller is put through (never said to the caller)."""
        about = {"skill": skill, "number": self.context.caller or ""}
        if self._last_intent:
            about["asked"] = self._last_intent
        if self._answers:
            about["answers"] = json.dumps(self._answers, ensure_ascii=False)
        if self.context.seconds_since_last_call is not None:
            about["repeat"] = "yes"
        return about

    def _callback(self, callback: Callback) -> Generator[bytes, None, None]:
        number = self.context.caller if callback.number == "caller_id" else None
        if number is None:
            number = yield from self._key_in_number()
        self._emit(EventKind.CALLBACK, number=number, source=callback.number if number else "none")
        if number:
            self.outcome = Outcome.CALLBACK

    def _key_in_number(self) -> Generator[bytes, None, str | None]:
        """Digits until '#', or until the caller stops keying for a while."""
        digits = ""
        idle = 0
        while idle < KEYPAD_TIMEOUT and len(digits) < 20:
            keys = [item for item in self._inbox if isinstance(item, Dtmf)]
            for item in keys:
                self._inbox.remove(item)
                if item.digit == "#":
                    return digits or None
                digits += item.digit
            idle = 0 if keys else idle + 1
            yield SILENT_FRAME
        return digits or None

    def _finish(self, step: Step) -> Program:
        """Business done, caller still on the line (line 147): ask twice, then goodbye."""
        self._business_done = True
        for rung in self.flow.line.linger:
            for _ in range(frames_in(rung.after)):
                if step.next is not None and (self.line is LineState.SPEECH or self._inbox):
                    return step.next
                yield SILENT_FRAME
            if rung.say is None:
                continue
            if rung.then == "hangup":
                yield from self._goodbye(rung.say, self._ending_outcome(step))
                return None
            yield from self._say(as_say(rung.say))
        return step.next
