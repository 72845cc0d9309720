"""The one media clock, in real time: an absolute 20 ms schedule, no CPU while idle, real-time if allowed."""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from ivr.telephony.media_clock import PERIOD_S, MediaClock


class Ticks:
    def __init__(self, busy_for: int, work_s: float = 0.0) -> None:
        self.busy_for = busy_for  # ticks wanted
        self.work_s = work_s
        self.due: list[float] = []
        self.ran: list[float] = []
        self.done = threading.Event()

    def busy(self) -> bool:
        return len(self.due) < self.busy_for

    def on_tick(self, due: float) -> None:
        self.due.append(due)
        self.ran.append(time.monotonic())
        if self.work_s:
            time.sleep(self.work_s)
        if not self.busy():
            self.done.set()


def run_clock(ticks: Ticks, realtime: bool = False) -> MediaClock:
    clock = MediaClock(ticks.on_tick, ticks.busy, realtime=realtime)
    clock.start()
    try:
        assert ticks.done.wait(10), "the clock stopped ticking"
    finally:
        clock.stop()
    return clock


def test_ticks_keep_an_absolute_20_ms_schedule_even_with_work_in_them() -> None:
    """200 ticks whose work takes 5 ms each: tick k is due at t0 + k·20 ms, no drift at all."""
    ticks = Ticks(busy_for=200, work_s=0.005)
    run_clock(ticks)
    due = np.array(ticks.due)
    assert np.allclose(np.diff(due), PERIOD_S, atol=1e-9)  # the schedule itself never drifts
    late = np.array(ticks.ran) - due
    assert np.median(late) < 0.005  # and ticks run on it (generous bound: a shared CI machine)


def test_an_idle_clock_does_not_tick_or_spend_cpu() -> None:
    ticks = Ticks(busy_for=0)
    clock = MediaClock(ticks.on_tick, ticks.busy, lambda: None)
    cpu0 = time.process_time()
    clock.start()
    try:
        time.sleep(0.5)
        assert clock.stats.ticks == 0
    finally:
        clock.stop()
    assert time.process_time() - cpu0 < 0.05  # the whole process: nothing polls


def realtime_allowed() -> bool:
    """Whether this machine lets a thread take SCHED_FIFO (root with CAP_SYS_NICE; not every container)."""
    result: list[bool] = []

    def probe() -> None:  # a thread of its own, which ends with its priority
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except (AttributeError, OSError):
            result.append(False)
        else:
            result.append(True)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return result[0]


def test_real_time_scheduling_is_taken_when_allowed_and_never_needed() -> None:
    ticks = Ticks(busy_for=20)
    clock = run_clock(ticks, realtime=True)
    assert clock.stats.realtime is realtime_allowed()  # taken where allowed; elsewhere it ticks without
    assert clock.failure is None and len(ticks.due) == 20
