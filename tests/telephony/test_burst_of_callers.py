"""Many callers at the same moment, as the desk sees it: every caller hears ringing at once, and every
ringing caller shows on the console's live table while it still rings."""

from __future__ import annotations

from pathlib import Path

from ivr.records.live_calls import LiveState
from tests.telephony.conftest import REPO, LineMaker, wait_until
from tests.telephony.raw_sip import RawCaller

BURST = 24  # more than the console is told of on one tick: the rest follow on the next ticks


def test_a_burst_of_callers_all_hear_ringing_and_all_show_as_ringing_on_the_console(
    open_line: LineMaker, raw: RawCaller, rendered_audio: Path, tmp_path: Path
) -> None:
    # the shipped desk flow, answered after two rings (6 s) instead of one: time for a loaded machine
    desk = (REPO / "flows" / "desk.yaml").read_text(encoding="utf-8")
    assert "  rings: 1 " in desk
    flow = tmp_path / "desk.yaml"
    flow.write_text(desk.replace("  rings: 1 ", "  rings: 2 ", 1), encoding="utf-8")
    line = open_line(flow=flow, max_calls=BURST)
    target = (line.line.host, line.line.port)
    dialogs = [raw.invite(target) for _ in range(BURST)]
    rung = {raw.expect(180).call_id for _ in dialogs}
    assert rung == {d.call_id for d in dialogs}

    def all_on_the_board() -> bool:
        assert line.live_board.flush(5.0)
        return {c.call_id for c in line.live_board.calls.all()} == rung

    wait_until(all_on_the_board, 4.0, "every ringing caller on the console's live table")
    assert all(c.state is LiveState.RINGING for c in line.live_board.calls.all())
