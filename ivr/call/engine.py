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
from ivr.call.inputs import (
    CallContext,
    CallerHangup,
    CallInput,
    Dtmf,
    Heard,
    RecognitionLost,
    TicketWritten,
)
from ivr.call.line_watch import LineWatch
from ivr.call.ports import CallbackDesk, LineHearing, PromptSource, SeatDesk
from ivr.flows.schema import (
    NO_KEY,
    YES_KEY,
    Callback,
    Confirm,
    Flow,
    Listen,
    PromptRef,
    Say,
    Step,
    Transfer,
    as_say,
)
from ivr.hearing.intent_matcher import match_listen, match_yes_no
from ivr.hearing.line_state import LineState
from ivr.media import SILENT_FRAME, frames_in, seconds_of

Program = Generator[bytes, None, str | None]  # yields outbound frames, returns the next step (None: end)

MAX_STEPS_PER_FRAME = 64  # a flow that loops without saying anything stops here
LADDER_OUTCOME = {"silence": Outcome.SILENT_HANGUP, "noise": Outcome.NOISY_HANGUP}
LINGER_ANSWER_FRAMES = frames_in(10.0)  # the longest answer to 还需要什么帮助 waited for before moving on
YES, NO = "yes", "no"  # what a yes-or-no question the engine asks itself (callbacks) returns
MIN_NUMBER_DIGITS = 5  # a keyed-in callback number shorter than this is no number (95555 is the shortest)
STEP_OUTCOME = {
    "served": Outcome.SERVED,
    "declined": Outcome.DECLINED,
    "transferred": Outcome.TRANSFERRED,
    "callback": Outcome.CALLBACK,
}
# an offer already asked (system.fault_callback's or a no_answer's 您看可以吗?): how long its answer is
# waited for before the callback step asks its own offer, which names the keys (chosen)
OFFER_ANSWER_FRAMES = frames_in(5.0)
KEYPAD_TIMEOUT = frames_in(5.0)  # between digits of a keyed-in number
MIN_RECOGNITION_CONFIDENCE = 0.4  # a recognition result less sure than this counts as not understood
NOISY_UTTERANCE_FRAMES = frames_in(
    0.5
)  # this much noise around unrecognisable speech: the line is the problem


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
        tickets: CallbackDesk | None = None,
    ) -> None:
        self.flow = flow
        self.tickets = tickets  # where callback tickets are written; None: none can be, so none is promised
        self._ticket: TicketWritten | None = None  # the answer to the ticket asked for last
        self._callback_asked = False  # the caller pressed the callback key while waiting for a seat
        # the words just said asked the callback offer's question themselves (system.fault_callback,
        # a transfer's no_answer: …您看可以吗?): a callback step next hears the answer, not asking again
        self._offer_asked = False
        self._caller_heard = False  # the caller has spoken or keyed: a later silence is not a silent call
        self._yes_no: dict[str, Listen] = {}
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
                if isinstance(item, TicketWritten):
                    self._ticket = item
                    self._emit(EventKind.CALLBACK, state="written" if item.ok else "not written")
                    continue
                self._take(item)
            state = self.hearing.hear(inbound)
            if state in (LineState.SPEECH, LineState.QUIET):
                self._caller_heard = True
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
        self._caller_heard = True
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
        offer_asked, self._offer_asked = self._offer_asked, False
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
            taken = yield from self._callback(step.callback, offer_asked)
            return step.next if taken is not None else None
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

    def _listen(self, listen: Listen, question: bool = False) -> Program:
        """A listening step (or, ``question``, the bot's own yes-or-no question inside a step)."""
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
                if self.flow.line.recognition_lost_next is not None and not question:
                    self._offer_asked = True  # line 100: the apology asked 您看可以吗? itself
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
            watch.spoken = self._caller_heard
            due = watch.due(self.line)
            if due is not None:
                ladder, rung = due
                if rung.then == "hangup":
                    assert rung.say is not None
                    outcome = LADDER_OUTCOME.get(ladder) or self.outcome or Outcome.ABANDONED
                    yield from self._goodbye(rung.say, outcome)
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
            target = listen.heard_keys().get(item.digit)
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
        return listen.heard_intents()[found.intent].next

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
        if not self.transfers or (self.seats is not None and not self.seats.can_serve(transfer.skill)):
            # nobody who could take it is signed in (or the line has no seats): no queue nobody
            # serves, no ringing nobody answers; say why at once, then the fallback (the callback offer)
            self._emit(EventKind.TRANSFER, skill=transfer.skill, answered=False, reason="no seat")
            yield from self._say(as_say(transfer.no_seat))
            return fallback
        if self.seats is not None and self.transfers:
            put_through = yield from self._wait_for_seat(self.seats, transfer)
            if not put_through:
                return fallback
            self._emit(EventKind.TRANSFER, skill=transfer.skill)
            self.outcome = Outcome.TRANSFERRED
            self.handed_off = transfer.skill
            return None
        yield from self._say(as_say(transfer.say).model_copy(update={"barge_in": False}))
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
                self._callback_asked = keyed
                self._emit(
                    EventKind.TRANSFER, skill=transfer.skill, answered=False, waited_s=seconds_of(waited)
                )
                if not keyed:  # line 96: a long wait ends with the apology, whatever comes next
                    yield from self._say(Say(prompt=hold.sorry, barge_in=False))
                    if transfer.no_answer is not None:  # seats were signed in and rung: none took it
                        yield from self._say(as_say(transfer.no_answer))
                        self._offer_asked = True
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

    def _callback(self, callback: Callback, offer_asked: bool = False) -> Generator[bytes, None, bool | None]:
        """Offer, get a number, write the ticket, and only then promise (handbook lines 33, 100, 136).

        ``offer_asked``: the words just said asked the offer's question (system.fault_callback's
        您看可以吗?); its answer is heard first, and the offer (with its keys) is asked only if none came.

        Returns True when a ticket was written, False when none was (declined, no number, not
        written), None when the call ended here (a silent caller's goodbye).
        """
        asked, self._callback_asked = self._callback_asked, False
        if callback.offer is not None and not asked:
            answer = (yield from self._offer_answer()) if offer_asked else None
            if answer is None:
                answer = yield from self._ask_yes_no(as_say(callback.offer))
            if answer is None:
                return None
            if answer != YES:
                self._emit(EventKind.CALLBACK, state="declined", reason=callback.reason)
                return False
        got = yield from self._callback_number(callback)
        if got is None:
            return None
        number, source = got
        if not number:  # no number, no promise
            self._emit(EventKind.CALLBACK, state="no number", reason=callback.reason)
            yield from self._say(as_say(callback.no_number))
            return False
        self._emit(EventKind.CALLBACK, state="writing", source=source, reason=callback.reason)
        written = yield from self._write_ticket(number, source, callback)
        if not written:  # lines 97–100: own up to the fault; never promise what was not written
            self._emit(EventKind.ERROR, what="callback ticket", reason=self._ticket_failure())
            yield from self._say(as_say(callback.not_taken))
            return False
        self.outcome = Outcome.CALLBACK
        yield from self._say(as_say(callback.taken))
        return True

    def _callback_number(self, callback: Callback) -> Generator[bytes, None, tuple[str | None, str] | None]:
        """The caller-ID number read back and confirmed (1), or one keyed in (2, or a withheld number)."""
        caller = self.context.caller
        if callback.number == "caller_id" and caller and caller.isascii() and caller.isdigit():
            say = as_say(callback.confirm)
            say = say.model_copy(update={"vars": {**say.vars, "number": caller}})
            answer = yield from self._ask_yes_no(say)
            if answer is None:
                return None
            if answer == YES:
                return caller, "caller_id"
        yield from self._say(as_say(callback.key_in))
        digits = yield from self._key_in_number()
        if digits is not None and len(digits) < MIN_NUMBER_DIGITS:
            digits = None
        return digits, "keyed"

    def _ask_yes_no(self, say: Say) -> Generator[bytes, None, str | None]:
        """Ask a yes-or-no question as a listening step: yes, no (a caller never understood counts as
        no), or None when the line ladders ended the call."""
        key = f"{say.prompt}|{sorted(say.vars.items())}"
        listen = self._yes_no.get(key)
        if listen is None:
            listen = Listen(prompt=say, confirm=Confirm(yes=YES, no=NO), give_up=NO)
            self._yes_no[key] = listen
        answer = yield from self._listen(listen, question=True)
        return answer

    def _offer_answer(self) -> Generator[bytes, None, str | None]:
        """The answer to an offer the words just said asked (…您看可以吗?): key 1 or 2, or a yes or a
        no heard; None when none came within ``OFFER_ANSWER_FRAMES`` (the caller's words could not be
        heard, say, with recognition lost)."""
        for _ in range(OFFER_ANSWER_FRAMES):
            while self._inbox:
                item = self._inbox.popleft()
                if isinstance(item, Dtmf):
                    if item.digit in (YES_KEY, NO_KEY):
                        self._answers.append(("", f"按{item.digit}键"))
                        return YES if item.digit == YES_KEY else NO
                    continue
                if self.keys_only or not self._recognisable(item):
                    continue
                found = match_yes_no(item.text)
                if found is not None:
                    self._answers.append((found.intent, item.text))
                    self._emit(EventKind.INTENT, intent=found.intent, score=round(found.score, 3))
                    return found.intent
            yield SILENT_FRAME
        return None

    def _write_ticket(self, number: str, source: str, callback: Callback) -> Generator[bytes, None, bool]:
        """Hand the ticket to the writer and hold (silence, or the hold music) until it says it is
        written; not written, or no word within ``write_wait``: False."""
        if self.tickets is None:
            self._ticket = TicketWritten(False, "no callback book on this line")
            return False
        self._ticket = None
        self.tickets.take(self.context.record_id or self.context.call_id, number, source, callback.reason)
        music = self.audio.music(self.flow.hold.music) if self.flow.hold.music else []
        for i in range(frames_in(callback.write_wait)):
            if self._ticket is not None:
                return self._ticket.ok
            yield music[i % len(music)] if music else SILENT_FRAME
        if self._ticket is not None:
            return self._ticket.ok
        self._ticket = TicketWritten(False, f"not written within {callback.write_wait:g} s")
        return False

    def _ticket_failure(self) -> str:
        return self._ticket.reason if self._ticket is not None else "unknown"

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
        """Business done, caller still on the line (line 147): ask twice, then goodbye.

        With ``confirm``, the caller's answer to 还需要什么帮助 is heard out: a yes or a no goes where
        the step says; a request the next step understands, or anything else, goes on to ``next``.
        """
        self._business_done = True
        talking = 0  # frames of the caller's answer heard so far
        for rung in self.flow.line.linger:
            waited = 0
            while waited < frames_in(rung.after):
                if step.next is not None:
                    if self._inbox:
                        return self._after_linger(step, step.next)
                    if self.line is LineState.SPEECH:
                        talking += 1
                        if step.confirm is None or talking > LINGER_ANSWER_FRAMES:
                            return step.next  # no words came of it: the next step's ladders take over
                        yield SILENT_FRAME  # hear the caller out; the ladder waits meanwhile
                        continue
                waited += 1
                yield SILENT_FRAME
            if rung.say is None:
                continue
            if rung.then == "hangup":
                yield from self._goodbye(rung.say, self._ending_outcome(step))
                return None
            yield from self._say(as_say(rung.say))
        return step.next

    def _after_linger(self, step: Step, next_step: str) -> str:
        """Where an answer to the linger question goes (the answer stays in the inbox for ``next``)."""
        confirm = step.confirm
        if confirm is None:
            return next_step
        item = self._inbox[0]
        if isinstance(item, Dtmf):
            target = {YES_KEY: confirm.yes, NO_KEY: confirm.no}.get(item.digit)
            if target is not None:
                self._inbox.popleft()
                return target
            return next_step
        if self.keys_only or not self._recognisable(item):
            return next_step
        follow = self.flow.steps.get(next_step)
        if follow is not None and follow.listen is not None and match_listen(follow.listen, item.text):
            return next_step  # 押金多少: a question the next step answers, not a yes or a no
        found = match_yes_no(item.text)
        if found is None:
            return next_step
        self._inbox.popleft()
        self._emit(EventKind.INTENT, intent=found.intent, score=round(found.score, 3))
        return confirm.yes if found.intent == YES else confirm.no
