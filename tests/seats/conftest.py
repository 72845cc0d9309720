"""Seats for the queue tests, and scripted seats that answer, ignore, reject or hang up, in media time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import pytest

from ivr.media import frames_in
from ivr.seats.directory import Seat, SeatsFile
from ivr.seats.queue import (
    Connected,
    QueueAction,
    Ring,
    SeatQueue,
    StopRinging,
    Whisper,
)
from ivr.seats.whisper import CallerInfo

A = TypeVar("A")

SEATS_YAML = """\
seats:
  - id: "1001"
    name: 李明
    uri: sip:1001@desk.example
    role: shift_leader
    skills: [booking, complaint]
  - id: "1002"
    name: 王芳
    uri: sip:1002@desk.example
    skills: [booking]
  - id: "1003"
    name: 张伟
    uri: sip:1003@desk.example
    skills: [booking]
  - id: "9001"
    name: 赵主管
    uri: sip:8801@desk.example
    role: supervisor
    skills: [complaint]
"""


@pytest.fixture
def seats_path(tmp_path: Path) -> Path:
    path = tmp_path / "flows" / "seats.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(SEATS_YAML, encoding="utf-8")
    return path


def seats(*ids: str, skills: Sequence[str] = ("booking",)) -> list[Seat]:
    return [Seat(id=i, name=f"座席{i}", uri=f"sip:{i}@desk.example", skills=list(skills)) for i in ids]


def seats_file(*ids: str) -> SeatsFile:
    return SeatsFile(seats=seats(*ids))


Kind = Literal["answers", "never", "rejects", "unreachable", "whisper_hangup"]


@dataclass(frozen=True)
class Script:
    """What a seat does when it rings: after ``after_s`` it answers, rejects, … ('never' does nothing)."""

    kind: Kind = "answers"
    after_s: float = 2.0
    whisper_s: float = 3.0  # the whisper's length (answers) or when the seat hangs up in it
    talk_s: float = 60.0


ANSWERS = Script()
NEVER = Script("never")
REJECTS = Script("rejects", after_s=1.0)
UNREACHABLE = Script("unreachable", after_s=0.1)
WHISPER_HANGUP = Script("whisper_hangup", after_s=2.0, whisper_s=1.0)


@dataclass
class Sim:
    """Drives a SeatQueue frame by frame; seats follow their scripts (one per ring, the last repeats)."""

    queue: SeatQueue
    scripts: dict[str, list[Script]]
    frame: int = 0
    log: list[tuple[int, QueueAction]] = field(default_factory=list)
    _due: dict[int, list[tuple[tuple[str, str], str, str]]] = field(default_factory=dict)
    _rings: dict[str, int] = field(default_factory=dict)
    _cancelled: set[tuple[str, str]] = field(default_factory=set)
    _script_of: dict[str, tuple[Script, tuple[str, str]]] = field(default_factory=dict)

    def at(self, seconds: float, what: str, target: str, token: tuple[str, str] = ("", "")) -> None:
        self._due.setdefault(frames_in(seconds), []).append((token, what, target))

    def _later(self, frame: int, what: str, target: str, token: tuple[str, str]) -> None:
        self._due.setdefault(frame, []).append((token, what, target))

    def join(self, call_id: str, at_s: float, skill: str = "booking") -> None:
        self.at(at_s, "join:" + skill, call_id)

    def leave(self, call_id: str, at_s: float) -> None:
        self.at(at_s, "leave", call_id)

    def run_until(self, seconds: float) -> None:
        end = frames_in(seconds)
        while self.frame <= end:
            f = self.frame
            for token, what, target in self._due.pop(f, []):
                if token in self._cancelled:
                    continue
                self._react(f, self._input(f, what, target))
            self._react(f, self.queue.tick(f))
            self.frame += 1

    def _input(self, f: int, what: str, target: str) -> list[QueueAction]:
        q = self.queue
        if what.startswith("join:"):
            return q.join(target, what[5:], f, CallerInfo(number="13800138000", asked_for="订房"))
        handlers = {
            "leave": q.caller_left,
            "connected": q.connected,
            "answered": q.seat_answered,
            "rejects": q.seat_rejected,
            "unreachable": q.seat_unreachable,
            "whisper_hangup": q.seat_hung_up_in_whisper,
            "done": q.seat_done,
        }
        return handlers[what](target, f)

    def _react(self, f: int, actions: list[QueueAction]) -> None:
        for action in actions:
            self.log.append((f, action))
            if isinstance(action, Ring):
                n = self._rings.get(action.seat_id, 0)
                self._rings[action.seat_id] = n + 1
                plan = self.scripts.get(action.seat_id, [NEVER])
                script = plan[min(n, len(plan) - 1)]
                token = (action.seat_id, f"{action.call_id}#{n}")
                self._cancelled.discard(token)
                when = f + frames_in(script.after_s)
                if script.kind == "answers" or script.kind == "whisper_hangup":
                    self._later(when, "answered", action.seat_id, token)
                    self._script_of[action.seat_id] = (script, token)
                elif script.kind != "never":
                    self._later(when, script.kind, action.seat_id, token)
            elif isinstance(action, StopRinging):
                for token in self._tokens_of(action.seat_id, action.call_id):
                    self._cancelled.add(token)
            elif isinstance(action, Whisper):
                script, token = self._script_of[action.seat_id]
                then = f + frames_in(script.whisper_s)
                if script.kind == "whisper_hangup":
                    self._later(then, "whisper_hangup", action.seat_id, token)
                else:
                    self._later(then, "connected", action.call_id, token)
            elif isinstance(action, Connected):
                script, token = self._script_of[action.seat_id]
                self._later(f + frames_in(script.talk_s), "done", action.seat_id, ("", ""))

    def _tokens_of(self, seat_id: str, call_id: str) -> list[tuple[str, str]]:
        return [
            token
            for items in self._due.values()
            for token, _, _ in items
            if token[0] == seat_id and token[1].startswith(call_id + "#")
        ]

    # -- reading the log --------------------------------------------------------

    def of(self, kind: type[A]) -> list[tuple[float, A]]:
        """Actions of one kind, with the media time (s) they came at."""
        return [(round(f * 0.02, 2), a) for f, a in self.log if isinstance(a, kind)]

    def rings(self) -> list[tuple[float, str, str]]:
        return [(round(f * 0.02, 2), a.seat_id, a.call_id) for f, a in self.log if isinstance(a, Ring)]


def sim(queue: SeatQueue, **scripts: Script | list[Script]) -> Sim:
    """``sim(q, s1002=ANSWERS, s1003=[REJECTS, ANSWERS])``: seat ids prefixed with 's'."""
    plans = {k.removeprefix("s"): v if isinstance(v, list) else [v] for k, v in scripts.items()}
    return Sim(queue, plans)
