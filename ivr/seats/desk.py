"""The seat queue as the call engine sees it (the engine's ``SeatDesk`` port).

``QueueDesk`` joins callers to a ``SeatQueue`` and answers the engine's
questions (position, estimated wait, put through yet?). The queue's actions
(ring a seat, whisper, give up) go to whoever drives the seats: the telephony
edge for real seats, a scripted floor in media-time tests. All frames are the
line's one media clock, shared by every call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from ivr.seats.queue import Connected, GiveUp, QueueAction, SeatQueue
from ivr.seats.whisper import CallerInfo, intent_label

COMPLAINT_INTENTS = frozenset({"complaint", "criticism"})  # the leader hears why first (line 120)


def caller_info(about: Mapping[str, str]) -> CallerInfo:
    """The engine's note on a caller (``CallEngine._about_caller``) as the whisper's words.

    A complaint's reason is the caller's answer to 是因为什么原因呢 (line 115), the answer after
    the complaint, in their own words or the key they pressed; else the complaint itself.
    """
    answers: list[tuple[str, str]] = [(str(i), str(w)) for i, w in json.loads(about.get("answers") or "[]")]
    at = next((n for n, (intent, _) in enumerate(answers) if intent in COMPLAINT_INTENTS), None)
    reason = None
    if at is not None:
        reason = answers[at + 1][1] if at + 1 < len(answers) else answers[at][1]
    return CallerInfo(
        number=about.get("number") or None,
        asked_for=intent_label(about.get("asked")),
        repeat_caller=about.get("repeat") == "yes",
        complaint=reason,
    )


class QueueDesk:
    def __init__(
        self,
        queue: SeatQueue,
        clock: Callable[[], int],
        on_actions: Callable[[list[QueueAction]], None],
        ring_timeout_s: float = 15.0,
        max_wait_s: float = 120.0,
        ring_timeouts: Mapping[str, float] | None = None,
        on_join: Callable[[str, str], object] | None = None,
    ) -> None:
        """``ring_timeouts``: skill → seconds to ring each seat (the flow's transfer steps), else ``ring_timeout_s``.
        ``on_join``: told (call id, skill) of each caller who joins, before the queue's actions."""
        self.queue = queue
        self._clock = clock  # the line's media clock, in frames
        self._on_actions = on_actions
        self.ring_timeout_s = ring_timeout_s
        self.max_wait_s = max_wait_s
        self.ring_timeouts = dict(ring_timeouts or {})
        self._on_join = on_join
        self._connected: set[str] = set()
        self._gave_up: set[str] = set()

    def take(self, actions: list[QueueAction]) -> None:
        """Note what concerns the callers, then hand every action on to the seats' driver."""
        for action in actions:
            if isinstance(action, Connected):
                self._connected.add(action.call_id)
            elif isinstance(action, GiveUp):
                self._gave_up.add(action.call_id)
        self._on_actions(actions)

    # --- the engine's port -------------------------------------------------------------

    def join(self, call_id: str, skill: str, frame: int, about: dict[str, str]) -> None:
        caller = caller_info(about)
        if self._on_join is not None:
            self._on_join(call_id, skill)
        self.take(
            self.queue.join(
                call_id,
                skill,
                self._clock(),
                caller,
                ring_timeout_s=self.ring_timeouts.get(skill, self.ring_timeout_s),
                max_wait_s=self.max_wait_s,
            )
        )

    def waiting(self, call_id: str) -> tuple[int, float] | None:
        if call_id in self._gave_up or call_id not in self.queue.waiting():
            return None
        position = self.queue.position(call_id)
        return position, self.queue.estimated_wait_s(call_id, position)

    def connected(self, call_id: str) -> bool:
        return call_id in self._connected

    def can_serve(self, skill: str) -> bool:
        return self.queue.can_serve(skill)

    def leave(self, call_id: str, frame: int, reason: str) -> None:
        if call_id in self.queue.waiting():
            self.take(self.queue.caller_left(call_id, self._clock()))
