"""What the queue costs the media tick with 50 callers waiting and 10 seats.

Runs a ``SeatQueue`` in media time: 50 callers wait at once (each caller put
through is replaced by a new one, so 50 are always waiting); seats answer
after 3 s, hear a 3 s whisper, talk 60 s and wrap up 10 s; one seat in five
never answers. Per 20 ms tick it times what the line would run: the seat
events due on that tick, then ``tick(frame)``. Separately it times a progress
round: ``positions()`` and ``estimated_wait_s`` for every waiting caller (each
caller hears one every 15 s). Reports numbers only; it gates on nothing.

    python bench/queue_updates.py [--waiting 50] [--seats 10] [--minutes 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

from ivr.media import frames_in
from ivr.seats.directory import Seat
from ivr.seats.queue import Connected, QueueAction, Ring, SeatQueue, StopRinging, Whisper
from ivr.seats.state import SeatTiming
from ivr.seats.whisper import CallerInfo


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


def run(waiting: int, seat_count: int, minutes: float) -> tuple[list[float], list[float], list[float], int]:
    seats = [
        Seat(id=f"{1000 + n}", name=f"座席{n}", uri=f"sip:{1000 + n}@desk", skills=["booking"])
        for n in range(seat_count)
    ]
    deaf = {s.id for n, s in enumerate(seats) if n % 5 == 4}
    queue = SeatQueue(seats, timing=SeatTiming(wrap_up_s=10, no_answer_pause_s=30, max_no_answer=0))
    due: dict[int, list[Callable[[int], list[QueueAction]]]] = defaultdict(list)
    ringing: dict[str, str] = {}  # seat → call it rings for (to drop a stale answer)
    caller = CallerInfo(number="13800138000", asked_for="订房")
    joined = 0

    def join(frame: int) -> list[QueueAction]:
        nonlocal joined
        joined += 1
        return queue.join(f"c{joined}", "booking", frame, caller, max_wait_s=3600)

    def answer(seat_id: str, call_id: str) -> Callable[[int], list[QueueAction]]:
        def event(frame: int) -> list[QueueAction]:
            return queue.seat_answered(seat_id, frame) if ringing.get(seat_id) == call_id else []

        return event

    def connect(call_id: str) -> Callable[[int], list[QueueAction]]:
        return lambda frame: queue.connected(call_id, frame)

    def hang_up(seat_id: str) -> Callable[[int], list[QueueAction]]:
        return lambda frame: queue.seat_done(seat_id, frame)

    def react(frame: int, actions: list[QueueAction]) -> None:
        for a in actions:
            if isinstance(a, Ring):
                ringing[a.seat_id] = a.call_id
                if a.seat_id not in deaf:
                    due[frame + frames_in(3)].append(answer(a.seat_id, a.call_id))
            elif isinstance(a, StopRinging):
                ringing.pop(a.seat_id, None)
            elif isinstance(a, Whisper):
                due[frame + frames_in(3)].append(connect(a.call_id))
                ringing.pop(a.seat_id, None)
            elif isinstance(a, Connected):
                due[frame + frames_in(60)].append(hang_up(a.seat_id))
                due[frame + 1].append(join)  # keep the line full

    for _ in range(waiting):
        react(0, join(0))
    tick_cost: list[float] = []
    busy_cost: list[float] = []
    progress_cost: list[float] = []
    every = frames_in(15)
    for frame in range(1, frames_in(minutes * 60)):
        t0 = time.perf_counter()
        out: list[QueueAction] = []
        events = due.pop(frame, ())
        for event in events:
            out.extend(event(frame))
        out.extend(queue.tick(frame))
        elapsed = time.perf_counter() - t0
        tick_cost.append(elapsed)
        if out:
            busy_cost.append(elapsed)
        react(frame, out)
        if frame % every == 0:
            t0 = time.perf_counter()
            for call_id, position in queue.positions().items():
                queue.estimated_wait_s(call_id, position)
            progress_cost.append(time.perf_counter() - t0)
    return tick_cost, busy_cost, progress_cost, joined


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waiting", type=int, default=50)
    parser.add_argument("--seats", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=10.0, help="media time to run")
    args = parser.parse_args()
    ticks, busy, progress, callers = run(args.waiting, args.seats, args.minutes)

    def us(samples: list[float], q: int) -> float:
        return percentile(samples, q) * 1e6

    print(
        f"{args.waiting} callers waiting, {args.seats} seats, {args.minutes:g} min of media time, {callers} callers"
    )
    print(f"{'cost (µs)':<34}{'p50':>9}{'p99':>9}{'max':>9}{'count':>8}")
    for name, samples in (
        ("per tick (events + tick)", ticks),
        ("ticks where something happened", busy),
        ("progress round (all waiting)", progress),
    ):
        print(
            f"{name:<34}{us(samples, 50):>9.1f}{us(samples, 99):>9.1f}{max(samples) * 1e6:>9.1f}{len(samples):>8}"
        )
    print(f"per-tick p99 as a share of the 20 ms tick: {percentile(ticks, 99) / 0.020:.5f}")


if __name__ == "__main__":
    main()
