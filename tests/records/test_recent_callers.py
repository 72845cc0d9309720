"""Repeat callers (handbook line 141): who called lately and where a dropped call was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.call.events import CallRecord, Outcome
from ivr.records.recent_callers import RecentCallers
from ivr.records.register import CallRegister


def _record(caller: str, outcome: Outcome, path: list[str], at: datetime) -> CallRecord:
    return CallRecord("id-" + caller + outcome.value, "desk", caller, at, 50, 500, outcome, path, [])


def test_a_dropped_call_is_remembered_with_where_it_was(tmp_path: Path) -> None:
    clock = [datetime(2026, 3, 2, 10, 0, tzinfo=UTC)]
    recent = RecentCallers(now=lambda: clock[0])
    recent.ended(
        _record("13800000001", Outcome.ABANDONED, ["start", "greet", "menu", "find_person"], clock[0])
    )
    clock[0] += timedelta(seconds=90)
    assert recent.seconds_since_last_call("13800000001") == 90.0
    assert recent.dropped_path("13800000001")[-1] == "find_person"
    assert recent.seconds_since_last_call("13900000000") is None
    recent.ended(_record("13800000001", Outcome.SERVED, ["start", "greet", "menu", "bye"], clock[0]))
    assert recent.dropped_path("13800000001") == []  # served: nothing to carry on with


def test_recent_callers_survive_a_restart_through_the_register(store: Path | str) -> None:
    now = datetime.now(UTC)
    with CallRegister(store) as register:
        register.save(
            _record("13800000002", Outcome.ABANDONED, ["start", "menu"], now - timedelta(minutes=3))
        )
        recent = RecentCallers()
        recent.seed(register)
    seconds = recent.seconds_since_last_call("13800000002")
    assert seconds is not None and 150 < seconds < 200


def test_only_a_cut_off_call_is_remembered_as_dropped_across_a_restart(store: Path | str) -> None:
    """Line 141's apology is for a call that was cut off; the latest call of a number decides."""
    now = datetime.now(UTC)
    with CallRegister(store) as register:
        register.save(
            _record("13800000003", Outcome.ABANDONED, ["start", "menu"], now - timedelta(minutes=4))
        )
        register.save(
            _record("13800000003", Outcome.SERVED, ["start", "menu", "bye"], now - timedelta(minutes=2))
        )
        register.save(
            _record("13800000004", Outcome.ABANDONED, ["start", "menu"], now - timedelta(minutes=1))
        )
        recent = RecentCallers()
        recent.seed(register)
    assert recent.dropped_path("13800000003") == []  # its last call ended with a goodbye
    assert recent.dropped_path("13800000004") == ["start", "menu"]


def test_a_caller_who_rang_line_a_is_a_repeat_caller_on_line_b(store: Path | str) -> None:
    """Two lines sharing one register (``[records] url``): each learns of the other's calls at its next look."""
    clock = [datetime(2026, 3, 2, 10, 0, tzinfo=UTC)]
    line_a, line_b = RecentCallers(now=lambda: clock[0]), RecentCallers(now=lambda: clock[0])
    with CallRegister(store) as register_a, CallRegister(store) as register_b:
        line_a.seed(register_a)
        line_b.seed(register_b)
        dropped = _record("13800000005", Outcome.ABANDONED, ["start", "menu", "find_person"], clock[0])
        line_a.ended(dropped)
        register_a.save(dropped)  # ended 11 s after it arrived (answered at frame 50, 500 frames later)
        clock[0] += timedelta(seconds=60)
        assert line_b.dropped_path("13800000005") == []  # line B has not looked yet
        line_b.catch_up(register_b)
        assert line_b.dropped_path("13800000005") == ["start", "menu", "find_person"]
        assert line_b.seconds_since_last_call("13800000005") == 49.0
        assert line_b.seconds_since_last_call("13900000000") is None

        served = _record("13800000005", Outcome.SERVED, ["start", "menu", "bye"], clock[0])
        line_b.ended(served)
        register_b.save(served)
        clock[0] += timedelta(seconds=30)
        line_a.catch_up(register_a)
        assert line_a.dropped_path("13800000005") == []  # its latest call, on line B, ended with a goodbye
        line_a.catch_up(register_a)  # looking again changes nothing
        assert line_a.seconds_since_last_call("13800000005") == 19.0
