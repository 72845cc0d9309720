"""Seat claims in the shared register, on both back ends: two lines racing for one seat, exactly one rings
it; a line killed without a word gives its seats back after the lease; a release wakes a listening line
(PostgreSQL); callers waiting on other lines count in a caller's place."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.records.register import CallRegister
from ivr.records.seat_claims import SeatClaims

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def test_lines_racing_for_one_seat_get_it_exactly_once(store: Path | str) -> None:
    registers = [CallRegister(store) for _ in range(4)]  # each line has its own connection(s)
    lines = [SeatClaims(r, f"line-{n}") for n, r in enumerate(registers)]
    start = threading.Barrier(len(lines))
    won: list[list[bool]] = [[] for _ in lines]

    def race(n: int) -> None:
        start.wait()
        for round_ in range(20):
            won[n].append(lines[n].claim(f"seat-{round_}", f"call-{n}", seconds(round_)))

    threads = [threading.Thread(target=race, args=(n,)) for n in range(len(lines))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for round_ in range(20):
            winners = [n for n in range(len(lines)) if won[n][round_]]
            assert len(winners) == 1, (round_, winners)
            assert lines[0].holder(f"seat-{round_}") == (f"line-{winners[0]}", f"call-{winners[0]}")
    finally:
        for r in registers:
            r.close()


def test_a_seat_is_free_for_the_others_once_its_line_releases_it(store: Path | str) -> None:
    register = CallRegister(store)
    try:
        a, b = SeatClaims(register, "a"), SeatClaims(register, "b")
        assert a.claim("1001", "call-a", seconds(0))
        assert not b.claim("1001", "call-b", seconds(1))
        assert b.look(seconds(1)).busy == {"1001"}
        mine = a.look(seconds(1))
        assert mine.busy == set() and mine.mine == {"1001": "call-a"}  # its own claim is not "elsewhere"
        assert not a.release("1001", "call-other")  # a release for another call leaves the claim
        assert a.release("1001", "call-a")
        assert b.look(seconds(2)).busy == set()
        assert b.claim("1001", "call-b", seconds(2))
        assert a.claim("1002", "call-a", seconds(3)) and a.claim("1002", "call-a2", seconds(4))  # its own
        assert a.holder("1002") == ("a", "call-a2")
    finally:
        register.close()


def test_a_line_killed_without_a_word_gives_its_seats_back_after_the_lease(store: Path | str) -> None:
    register = CallRegister(store)
    try:
        dead, alive = SeatClaims(register, "dead", lease_s=10), SeatClaims(register, "alive", lease_s=10)
        assert dead.claim("1001", "call-dead", seconds(0))
        dead.waiting("w-dead", "booking", seconds(0))
        alive.waiting("w-alive", "booking", seconds(1))
        assert alive.look(seconds(9)).busy == {"1001"}  # within the lease: still held
        assert not alive.claim("1001", "call-alive", seconds(9))
        assert alive.look(seconds(9)).ahead == {"w-alive": 1}
        view = alive.look(seconds(11))  # no beat from "dead" for more than 10 s
        assert view.busy == set() and view.ahead == {}
        assert alive.claim("1001", "call-alive", seconds(11))
        assert alive.holder("1001") == ("alive", "call-alive")
    finally:
        register.close()


def test_callers_on_other_lines_who_came_first_are_counted_for_each_caller(store: Path | str) -> None:
    register = CallRegister(store)
    try:
        a, b = SeatClaims(register, "a"), SeatClaims(register, "b")
        b.waiting("b1", "booking", seconds(0))
        a.waiting("a1", "booking", seconds(1))
        b.waiting("b2", "booking", seconds(2))
        b.waiting("b3", "complaint", seconds(0))  # another skill: another queue
        a.waiting("a2", "booking", seconds(3))
        assert a.look(seconds(4)).ahead == {"a1": 1, "a2": 2}
        b.left("b1")
        assert a.look(seconds(5)).ahead == {"a2": 1}  # a caller with none ahead has no row
        assert b.look(seconds(6)).ahead == {"b2": 1}  # a1 came before b2
        a.forget()  # line a stops
        assert b.look(seconds(7)).ahead == {}
    finally:
        register.close()


def test_a_release_wakes_a_line_listening_for_it(postgres_cluster: object) -> None:
    from ivr.records.claim_signals import ClaimSignals
    from tests.postgres_cluster import PostgresCluster

    assert isinstance(postgres_cluster, PostgresCluster)
    url = postgres_cluster.empty_register()
    register = CallRegister(url)
    signals = ClaimSignals(url)
    try:
        a = SeatClaims(register, "a")
        assert not signals.wait(0.05)  # nothing yet
        assert a.claim("1001", "call-a", seconds(0))
        assert signals.wait(10)  # the claim itself is signalled: others stop offering the seat
        heard = threading.Event()

        def listen() -> None:
            if signals.wait(10):
                heard.set()

        listener = threading.Thread(target=listen)
        listener.start()
        assert a.release("1001", "call-a")
        listener.join(15)
        assert heard.is_set(), "the listening line was not told of the release"
        assert not a.release("1001", "call-a")  # nothing released: nothing signalled
        assert not signals.wait(0.2)
    finally:
        signals.close()
        register.close()


def test_a_new_register_has_the_claims_tables(store: Path | str) -> None:
    register = CallRegister(store)
    try:
        counts = register.read(
            lambda conn: [
                conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("line_beats", "seat_claims", "waiting_callers")
            ]
        )
        assert counts == [0, 0, 0]
    finally:
        register.close()


def test_a_free_seat_goes_to_the_caller_who_has_waited_longest_on_any_line(store: Path | str) -> None:
    """A caller told they are first (hold.progress counts other lines' callers) is not overtaken by a
    newer caller on another line: that line's claim is refused until the earlier caller has a seat."""
    register = CallRegister(store)
    try:
        a, b = SeatClaims(register, "a"), SeatClaims(register, "b")
        b.waiting("b1", "booking", seconds(0))
        a.waiting("a1", "booking", seconds(1))
        assert not a.claim("1001", "a1", seconds(2)), "b1 came first and has no seat yet"
        assert a.holder("1001") is None and a.look(seconds(2)).busy == set(), "the refusal holds nothing"
        assert b.claim("1001", "b1", seconds(3)), "the earliest caller's line gets the seat"
        b.left("b1")  # put through
        assert a.claim("1002", "a1", seconds(4)), "no one before a1 waits any more"
    finally:
        register.close()


def test_only_an_earlier_caller_still_without_a_seat_on_a_live_line_of_the_same_skill_comes_first(
    store: Path | str,
) -> None:
    register = CallRegister(store)
    try:
        a, b = SeatClaims(register, "a", lease_s=10), SeatClaims(register, "b", lease_s=10)
        b.waiting("b-other-skill", "complaint", seconds(0))
        b.waiting("b-rung", "booking", seconds(0))
        assert b.claim("2001", "b-rung", seconds(0)), "b-rung's seat is being rung for them"
        a.waiting("a1", "booking", seconds(1))
        assert a.claim("1001", "a1", seconds(2)), "an earlier caller of another skill, or one being rung"
        assert a.release("1001", "a1")
        b.waiting("b-late", "booking", seconds(3))  # b's last beat
        assert a.claim("1001", "a1", seconds(4)), "a caller who came later on the other line"
        assert a.release("1001", "a1")
        assert b.release("2001", "b-rung")  # b-rung's seat did not answer: they wait again, before a1
        assert not a.claim("1001", "a1", seconds(5)), "b-rung came first and has no seat now"
        assert a.claim("1001", "a1", seconds(14)), "b has not beaten for over 10 s: its callers are void"
    finally:
        register.close()


def test_a_claim_not_first_come_takes_a_free_seat_whoever_waits_elsewhere(store: Path | str) -> None:
    register = CallRegister(store)
    try:
        a, b = SeatClaims(register, "a"), SeatClaims(register, "b")
        b.waiting("b1", "booking", seconds(0))
        a.waiting("a1", "booking", seconds(1))
        assert not a.claim("1001", "a1", seconds(2))
        assert a.claim("1001", "a1", seconds(5), first_come=False), "the other line let the seat go by"
        assert not b.claim("1001", "b1", seconds(6)), "held: the seat is never rung for two callers"
    finally:
        register.close()
