"""Many callers at the same moment, as the desk sees it: every caller hears ringing at once, and every
ringing caller shows on the console's live table before the line answers."""

from __future__ import annotations

import time
from pathlib import Path

from ivr.records.live_calls import LiveState
from tests.telephony.conftest import LineMaker
from tests.telephony.raw_sip import RawCaller

BURST = 24  # more than the console is told of on one tick: the rest follow on the next ticks


def test_a_burst_of_callers_all_hear_ringing_and_all_show_as_ringing_on_the_console(
    open_line: LineMaker, raw: RawCaller, rendered_audio: Path
) -> None:
    line = open_line(max_calls=BURST)  # the shipped desk flow: answered after one ring (1 s)
    target = (line.line.host, line.line.port)
    dialogs = [raw.invite(target) for _ in range(BURST)]
    rung = {raw.expect(180).call_id for _ in dialogs}
    assert rung == {d.call_id for d in dialogs}
    time.sleep(0.3)  # a quarter of the ring: the console has heard of every caller by then
    assert line.live_board.flush(5.0)
    live = line.live_board.calls.all()
    assert {c.call_id for c in live} == rung
    assert all(c.state is LiveState.RINGING for c in live)
