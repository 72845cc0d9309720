"""Several lines on one register (issue #12): a line starting clears only its own calls in progress; a
line that stops beating is lost, and the lines still alive clear what it left; finished calls stay,
each with the line that took it. Run on both back ends (SQLite, then a real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.line.line_beat import LineBeat
from ivr.records.line_beats import LOST_AFTER_S, LineBeats
from ivr.records.live_calls import LineStatus, LiveCall, LiveCallBoard, LiveCalls, LiveState
from ivr.records.register import CallRegister
from ivr.records.writer import RegisterWriter
from ivr.seats.board import SeatBoard
from ivr.seats.directory import Seat, SeatsFile
from ivr.seats.state import SeatChanged, SeatState
from tests.records.conftest import MakeRecord

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
LOST = timedelta(seconds=LOST_AFTER_S)


def live(call_id: str, seat: str | None = None) -> LiveCall:
    state = LiveState.IN_FLOW if seat is None else LiveState.WITH_SEAT
    return LiveCall(call_id, "13812345678", "desk", state, T0, seat_id=seat)


def test_a_line_starting_clears_its_own_calls_in_progress_and_not_the_other_lines(store: Path | str) -> None:
    with CallRegister(store) as reader:
        LiveCalls(reader, "node1").put(live("node1-call"), T0)
        LiveCalls(reader, "node2").put(live("node2-left-when-it-died"), T0)
        with LiveCallBoard(CallRegister(store), lambda: T0, node="node2") as board:
            assert board.flush(5)
            assert [(c.call_id, c.node) for c in LiveCalls(reader).all()] == [("node1-call", "node1")]
            board.update(live("node2-call"))
            assert board.flush(5)
        assert {c.node for c in LiveCalls(reader).all()} == {"node1", "node2"}


def test_a_lost_lines_calls_in_progress_are_cleared_by_a_live_line_after_the_bound_not_before(
    store: Path | str, make_record: MakeRecord
) -> None:
    seats = SeatsFile(seats=[Seat(id="1001", name="王芳", uri="sip:1001@127.0.0.1")])
    with CallRegister(store) as reader:
        node1, node2 = LineBeats(reader, "node1"), LineBeats(reader, "node2")
        node1.beat(T0)
        node2.beat(T0)
        reader.save(make_record("node2-finished"), "node2")
        LiveCalls(reader, "node1").put(live("node1-call"), T0)
        LiveCalls(reader, "node2").put(live("node2-call", seat="1001"), T0)
        SeatBoard(seats, reader).record(SeatChanged("1001", SeatState.TALKING, 0, call_id="node2-call"), T0)
        LineStatus(reader, "node1").put({"register_queue_depth": 1}, T0)
        LineStatus(reader, "node2").put({"register_queue_depth": 7}, T0)

        # node2 is killed at T0: node1 goes on beating
        assert node1.beat(T0 + LOST).live_calls == 0  # silent for the bound exactly: not lost yet
        assert len(LiveCalls(reader).all()) == 2
        swept = node1.beat(T0 + LOST + timedelta(seconds=1))
        assert (swept.live_calls, swept.seats) == (1, 1)
        assert [c.call_id for c in LiveCalls(reader).all()] == ["node1-call"]
        assert SeatBoard(seats, reader).get("1001").state is SeatState.AVAILABLE  # free for the others
        assert LineStatus(reader).get() == {"register_queue_depth": 1.0}  # /metrics adds up live lines
        finished = reader.list_calls()
        assert [(c.call_id, c.node) for c in finished] == [("node2-finished", "node2")]
        assert [(line.node, line.alive) for line in node1.lines(T0 + LOST * 2)] == [
            ("node1", True),
            ("node2", False),
        ]


def test_a_seat_on_a_break_stays_on_it_when_the_line_it_talked_on_is_lost(store: Path | str) -> None:
    seats = SeatsFile(seats=[Seat(id="1001", name="王芳", uri="sip:1001@127.0.0.1")])
    with CallRegister(store) as reader:
        LineBeats(reader, "node2").beat(T0)
        LiveCalls(reader, "node2").put(live("node2-call", seat="1001"), T0)
        board = SeatBoard(seats, reader)
        board.record(SeatChanged("1001", SeatState.TALKING, 0, call_id="node2-call"), T0)
        board.pause("1001", "培训", T0)
        LineBeats(reader, "node1").beat(T0 + LOST * 2)
        row = board.get("1001")
        assert (row.state, row.reason) == (SeatState.ON_BREAK, "培训")


def test_each_finished_call_keeps_the_line_that_took_it(store: Path | str, make_record: MakeRecord) -> None:
    with CallRegister(store) as reader:
        with RegisterWriter(CallRegister(store), node="node3") as writer:
            assert writer.submit(make_record("on-node3"))
        assert reader.list_calls()[0].node == "node3"


def test_the_running_line_beats_from_its_start_and_leaves_when_closed(store: Path | str) -> None:
    with CallRegister(store) as reader:
        beat = LineBeat(CallRegister(store), "node1", lambda: T0)
        beat.start()  # the first beat is written before start returns
        try:
            assert [(line.node, line.alive) for line in LineBeats(reader, "x").lines(T0)] == [("node1", True)]
        finally:
            beat.close()
        assert LineBeats(reader, "x").lines(T0) == []
