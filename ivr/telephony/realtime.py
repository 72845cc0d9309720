"""Real-time scheduling for the line's own threads (Linux SCHED_FIFO), when the system allows it.

The media clock (priority 10) must start each tick within a fraction of a
millisecond, and the SIP transport (priority 5) must answer an INVITE with 180
at once, even on a machine busy with other work. Both threads sleep until
something is due, and Linux keeps 5 % of every second for normal threads
(``sched_rt_runtime_us``), so an overloaded line cannot lock a core up.
Without root or CAP_SYS_NICE the request is refused and the thread runs at
normal priority: the line says so once and works the same, with more jitter.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

CLOCK_PRIORITY = 10  # SCHED_FIFO 1-99: above every normal thread, below the kernel's own
SIP_PRIORITY = 5


def ask_for_realtime(what: str, priority: int) -> bool:
    """Put the calling thread on SCHED_FIFO at ``priority``; False (and a log line) if refused."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, OSError) as exc:  # not Linux, or no CAP_SYS_NICE
        log.info("%s runs at normal priority (real-time scheduling refused: %s)", what, exc)
        return False
    return True
