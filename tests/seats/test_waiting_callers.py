"""Callers waiting for a seat, in media time: the 15 s updates, positions, the apology, the way out.

Several calls run on one media clock against one seat queue; scripted seats
answer after S, never answer, or reject, as the test says.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import pytest

from ivr.call.engine import CallEngine
from ivr.call.events import CallEvent, EventKind, Outcome
from ivr.call.inputs import CallContext, CallInput, Dtmf
from ivr.flows.conversation import SimulatedTickets
from ivr.flows.loader import FlowFile
from ivr.hearing.line_classifier import LineClassifier
from ivr.media import SILENT_FRAME, frames_in
from ivr.prompts.player import PromptPlayer
from ivr.seats.desk import QueueDesk
from ivr.seats.directory import Seat
from ivr.seats.queue import Connected, QueueAction, Ring, SeatQueue, Whisper

WHISPER_S = 3.0


@dataclass
class ScriptedSeat:
    seat_id: str
    answers_after_s: float | None  # None: never answers
    talks_s: float = 40.0


@dataclass
class Floor:
    """Plays the seats' side of the queue in media time."""

    queue: SeatQueue
    seats: dict[str, ScriptedSeat]
    due: list[tuple[int, Callable[[int], list[QueueAction]]]] = field(default_factory=list)
    desk: QueueDesk | None = None

    def actions(self, actions: list[QueueAction], frame: int) -> None:
        for action in actions:
            if isinstance(action, Ring):
                seat = self.seats[action.seat_id]
                if seat.answers_after_s is not None:
                    self.due.append(
                        (
                            frame + frames_in(seat.answers_after_s),
                            partial(self._answered, action.seat_id),
                        )
                    )
            elif isinstance(action, Whisper):
                self.due.append((frame + frames_in(WHISPER_S), partial(self._connected, action.call_id)))
            elif isinstance(action, Connected):
                talk = frames_in(self.seats[action.seat_id].talks_s)
                self.due.append((frame + talk, partial(self._done, action.seat_id)))

    def _answered(self, seat_id: str, frame: int) -> list[QueueAction]:
        return self.queue.seat_answered(seat_id, frame)

    def _connected(self, call_id: str, frame: int) -> list[QueueAction]:
        return self.queue.connected(call_id, frame)

    def _done(self, seat_id: str, frame: int) -> list[QueueAction]:
        return self.queue.seat_done(seat_id, frame)

    def tick(self, frame: int) -> None:
        assert self.desk is not None
        ready = [d for d in self.due if d[0] <= frame]
        self.due = [d for d in self.due if d[0] > frame]
        for _, event in ready:
            self.desk.take(event(frame))
        self.desk.take(self.queue.tick(frame))


def run_floor(
    desk_flow: FlowFile,
    player: PromptPlayer,
    seats: list[ScriptedSeat],
    callers: int,
    keys: dict[int, tuple[float, str]] | None = None,
    seconds: float = 240,
    heard: dict[int, list[bytes]] | None = None,
    tickets: SimulatedTickets | None = None,
    replies: dict[str, str] | None = None,
) -> list[CallEngine]:
    """``callers`` calls a second apart each press 0 at the menu; ``keys``: caller → (at s, key) while waiting;
    ``replies``: prompt → the key each caller presses once that prompt has been said (a callback's questions)."""
    queue = SeatQueue(
        [
            Seat(id=s.seat_id, name="坐席", uri=f"sip:{s.seat_id}@127.0.0.1", skills=["reception"])
            for s in seats
        ]
    )
    clock = [0]
    floor = Floor(queue, {s.seat_id: s for s in seats})
    desk = QueueDesk(queue, lambda: clock[0], lambda actions: floor.actions(actions, clock[0]))
    floor.desk = desk
    engines: list[CallEngine] = []
    pressed: set[int] = set()
    for frame in range(frames_in(seconds)):
        clock[0] = frame
        floor.tick(frame)
        n = frame // frames_in(1.0)
        if frame % frames_in(1.0) == 0 and n < callers:
            engines.append(
                CallEngine(
                    desk_flow.flow,
                    player,
                    LineClassifier(),
                    CallContext(f"1380000000{n}", datetime(2026, 3, 2, 10, 0), call_id=f"call-{n}"),
                    seats=desk,
                    tickets=tickets,
                )
            )
        written = tickets.answers() if tickets is not None else []
        for i, engine in enumerate(engines):
            inputs: list[CallInput] = [a for a in written if engine.context.call_id == f"call-{i}"]
            # the prompt that finished last frame (a step may have begun after it in the same frame)
            said = next((e for e in reversed(engine.events) if e.kind is EventKind.PROMPT_FINISHED), None)
            if (
                replies
                and said is not None
                and said.kind is EventKind.PROMPT_FINISHED
                and said.frame == engine.frame - 1
                and str(said.detail["prompt"]) in replies
            ):
                inputs.append(Dtmf(replies[str(said.detail["prompt"])]))
            if engine.step == "menu" and engine.speaking is None and i not in pressed:
                inputs = [Dtmf("0")]
                pressed.add(i)
            if keys and i in keys and frame == frames_in(keys[i][0]):
                inputs.append(Dtmf(keys[i][1]))
            out = engine.tick(SILENT_FRAME, inputs)
            if heard is not None:
                heard.setdefault(i, []).append(out)
    return engines


def started(engine: CallEngine, prompt: str) -> list[CallEvent]:
    return [e for e in engine.events if e.kind is EventKind.PROMPT_STARTED and e.detail["prompt"] == prompt]


def test_waiting_callers_hear_progress_every_15_s_start_to_start(
    desk: FlowFile, player: PromptPlayer
) -> None:
    engines = run_floor(desk, player, [ScriptedSeat("1001", answers_after_s=None)], callers=1, seconds=110)
    to_seat = started(engines[0], "desk.please_wait")[0].frame
    updates = [e.frame for e in started(engines[0], "hold.progress")]
    assert len(updates) >= 5
    assert updates[0] - to_seat == frames_in(15)
    assert all(b - a == frames_in(15) for a, b in itertools.pairwise(updates))


def test_positions_count_down_as_callers_ahead_are_served(desk: FlowFile, player: PromptPlayer) -> None:
    engines = run_floor(
        desk, player, [ScriptedSeat("1001", answers_after_s=2.0, talks_s=20)], callers=3, seconds=180
    )
    third = engines[2]
    positions = [int(str(e.detail["position"])) for e in started(third, "hold.progress")]
    assert positions == sorted(positions, reverse=True) and positions[0] > positions[-1], positions
    assert third.handed_off == "reception" and third.outcome is Outcome.TRANSFERRED
    served = [e for e in engines if e.handed_off]
    assert len(served) == 3


def test_a_long_wait_ends_with_the_apology_before_the_caller_is_put_through(
    desk: FlowFile, player: PromptPlayer
) -> None:
    engines = run_floor(
        desk, player, [ScriptedSeat("1001", answers_after_s=2.0, talks_s=70)], callers=2, seconds=200
    )
    second = engines[1]
    assert second.handed_off
    assert started(second, "hold.sorry_wait"), "a wait over 60 s ends with 很抱歉,让您久等了"
    assert not started(engines[0], "hold.sorry_wait")  # the first caller was put through at once


def test_a_waiting_caller_can_press_1_for_a_callback_instead(desk: FlowFile, player: PromptPlayer) -> None:
    engines = run_floor(
        desk,
        player,
        [ScriptedSeat("1001", answers_after_s=None)],
        callers=1,
        keys={0: (40.0, "1")},
        seconds=90,
        tickets=(tickets := SimulatedTickets()),
        replies={"callback.confirm_number": "1"},
    )
    caller = engines[0]
    assert not caller.handed_off
    assert not started(caller, "callback.ask"), "the caller asked for it: no offer"
    assert [t.number for t in tickets.written] == ["13800000000"]
    written = [e.frame for e in caller.events if e.detail.get("state") == "written"]
    assert written and written[0] <= started(caller, "callback.taken")[0].frame, (
        "promised before it was written"
    )
    assert caller.outcome is Outcome.CALLBACK


def test_nobody_answering_for_the_maximum_wait_leads_to_the_callback_offer(
    desk: FlowFile, player: PromptPlayer
) -> None:
    engines = run_floor(
        desk,
        player,
        [ScriptedSeat("1001", answers_after_s=None)],
        callers=1,
        seconds=200,
        tickets=(tickets := SimulatedTickets()),
        replies={"desk.no_answer": "1", "callback.confirm_number": "1"},
    )
    caller = engines[0]
    gave_up = [e for e in caller.events if e.kind is EventKind.TRANSFER and e.detail.get("answered") is False]
    assert gave_up and gave_up[0].detail["waited_s"] == pytest.approx(desk.flow.hold.max_wait, abs=0.02)
    sorry = started(caller, "hold.sorry_wait")
    assert sorry and sorry[0].frame == gave_up[0].frame, "line 96: the long wait ends with the apology"
    no_answer = started(caller, "desk.no_answer")
    assert no_answer and no_answer[0].frame > sorry[0].frame, (
        "a seat was rung and nobody answered: it says so"
    )
    assert not started(caller, "callback.ask"), (
        "desk.no_answer's 您看可以吗? was the offer: key 1 answered it"
    )
    assert started(caller, "callback.taken")
    assert [(t.number, t.reason) for t in tickets.written] == [("13800000000", "no_seat")]


def test_between_updates_the_caller_hears_hold_music_not_dead_air(
    desk: FlowFile, player: PromptPlayer
) -> None:
    """The shipped desk flow plays its hold music between updates; updates keep their 15 s marks."""
    assert desk.flow.hold.music == "built-in"
    heard: dict[int, list[bytes]] = {}
    engines = run_floor(
        desk, player, [ScriptedSeat("1001", answers_after_s=50.0)], callers=1, seconds=75, heard=heard
    )
    caller = engines[0]
    to_seat = started(caller, "desk.please_wait")[0]
    updates = [e.frame for e in started(caller, "hold.progress")]
    assert [u - to_seat.frame for u in updates] == [frames_in(15), frames_in(30), frames_in(45)]
    frames = heard[0]
    finished = [e.frame for e in caller.events if e.kind is EventKind.PROMPT_FINISHED]
    gaps = [(end, nxt) for end, nxt in itertools.pairwise(sorted({*finished, *updates})) if end in finished]
    between = [f for end, nxt in gaps if to_seat.frame <= end < updates[-1] for f in frames[end + 1 : nxt]]
    assert between, "no time between the updates"
    silent = sum(f == SILENT_FRAME for f in between)
    assert silent / len(between) < 0.05, f"{silent} of {len(between)} frames between updates were dead air"
    assert caller.handed_off == "reception"
    connected = [e.frame for e in caller.events if e.kind is EventKind.TRANSFER][-1]  # put through
    assert all(f == SILENT_FRAME for f in frames[connected + 5 : connected + 100]), "music after the hand-off"
