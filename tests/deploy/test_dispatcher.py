"""Several ``ivr serve`` nodes behind Kamailio's dispatcher (``deploy/kamailio/``), over real SIP.

Kamailio runs the shipped config unchanged (only its ``#!define``-s are set: addresses, the
dispatcher list of the nodes started here, the timers); three ``ivr serve`` processes are the
nodes, in direct mode on 127.0.0.1, taking calls from the proxy. Callers are scripted phones
(``ivr/demo/phone.py``) dialing the proxy. What a caller would notice is asserted: answered or
refused, by which node (the Contact of its 200), what it heard, how its BYE was answered; and
what an admin would: the one call register the nodes share.

Records: the three nodes share one PostgreSQL register (``[records] url``; a throwaway server
under a temporary folder, ``tests/postgres_cluster.py``), each under its name (``[line] node``).
The ``store`` fixture reads it back: every finished call once, with the node that took it; the
calls in progress each node holds; after ``kill -9`` of a node, its calls in progress cleared by
the others within the heartbeat bound (``ivr.records.line_beats``).

Seats: with ``seated_cluster`` every node reads one seats file naming two seat phones on loopback
(``ivr.demo.seat_phone``), rung by the nodes directly; the nodes share them through the register's
seat claims (one queue across lines, ``ivr.records.seat_claims``). The nodes keep desk hours in a
time zone where it is about noon, so a caller pressing 0 is queued for a seat whenever the test runs.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.call.events import Outcome
from ivr.demo.phone import PhoneCall, SipPhone
from ivr.demo.phone_script import Action, HangUp, Press, Silent, Tone, WaitForBot
from ivr.demo.seat_phone import SeatCall, SeatCallState, SeatPhone
from ivr.records.line_beats import BEAT_S, LOST_AFTER_S
from ivr.records.live_calls import LiveCalls
from ivr.records.register import CallRegister
from ivr.records.seat_claims import LEASE_S
from ivr.telephony.sip_message import SipMessage, uri_hostport
from tests.postgres_cluster import PostgresCluster
from tests.telephony.conftest import started_phone, wait_until, write_seats
from tests.telephony.harness.dispatcher import DispatcherSettings, KamailioDispatcher
from tests.telephony.harness.kamailio import kamailio_available
from tests.telephony.harness.ports import PortRange, allocate_rtp_range, release_rtp_range
from tests.telephony.harness.serve_node import ServeNode

pytestmark = pytest.mark.slow

FR_TIMER_S = 2.0  # the shipped config's: a node silent this long to an INVITE, the next gets it
PING_S = 1  # OPTIONS to every node each second (the shipped default is 2)
RING_S = 1.0  # the desk flow answers at the end of the first ring
GRACE_S = 6.0  # a draining node's live calls say goodbye within this
BATCH = 30  # callers at once; 3 batches per test: 90 callers (what 2 CPUs carry beside the nodes)
SHORT: list[Action] = [Silent(2), HangUp()]
SURVIVORS = ("node1", "node2")  # the nodes alive after node3's kill -9


class SharedStore:
    """The one PostgreSQL register of every node, read as an admin would (``ivr calls``, the wallboard)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.register = CallRegister(url, create=False)

    def records(self, node: str) -> str:
        """The ``[records]`` table of ``node``'s ivr.toml: the same database for every node."""
        return f'url = "{self.url}"'

    def calls(self) -> dict[str, list[str | None]]:
        """Caller number → the node of each finished call of that number in the register."""
        found: dict[str, list[str | None]] = {}
        for call in self.register.list_calls(limit=None):
            if call.caller is not None:
                found.setdefault(call.caller, []).append(call.node)
        return found

    def callers(self, node: str) -> set[str]:
        """The caller numbers of the finished calls ``node`` took."""
        return {number for number, nodes in self.calls().items() if node in nodes}

    def live(self, node: str) -> set[str]:
        """The caller numbers of the calls in progress on ``node``, as the wallboard reads them."""
        return {c.caller or "" for c in LiveCalls(self.register).all() if c.node == node}


@pytest.fixture
def store(postgres_cluster: PostgresCluster) -> Iterator[SharedStore]:
    shared = SharedStore(postgres_cluster.empty_register())
    try:
        yield shared
    finally:
        shared.register.close()


@dataclass
class Cluster:
    proxy: KamailioDispatcher
    nodes: dict[str, ServeNode]
    phones: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    numbers: Iterator[int] = field(default_factory=itertools.count)

    def phone(self) -> SipPhone:
        """A started phone with RTP ports of its own (a phone keeps its calls' sockets until closed)."""
        return self.phones.enter_context(started_phone(200))

    def close_phones(self) -> None:
        self.phones.close()

    def node_of(self, call: PhoneCall) -> str:
        """Which node answered: the port in the Contact of its 200 (the node's own address)."""
        port = uri_hostport(call.remote_target)[1]
        return next(name for name, node in self.nodes.items() if node.port == port)


@pytest.fixture
def cluster(tmp_path: Path, rendered_audio: Path, store: SharedStore) -> Iterator[Cluster]:
    """Three ``ivr serve`` nodes and Kamailio with the shipped dispatcher config, all stopped at the end."""
    with running_cluster(tmp_path, store) as started:
        yield started


def noon_zone() -> str:
    """A time zone where it is about noon now, well inside the desk flow's hours (08:50 to 17:30)."""
    offset = (12 - datetime.now(UTC).hour + 12) % 24 - 12  # hours east of UTC, -12 to 11
    return f"Etc/GMT{-offset:+d}"  # POSIX sign: Etc/GMT-8 is 8 hours east


@contextlib.contextmanager
def running_cluster(tmp_path: Path, store: SharedStore, seats: Path | None = None) -> Iterator[Cluster]:
    """The nodes (each reading the seats file ``seats``, if given) and the proxy; every one stopped at the end."""
    if not kamailio_available():
        pytest.skip("kamailio is not installed")
    zone = None if seats is None else noon_zone()  # the seats take calls in desk hours only
    ranges: list[PortRange] = []
    nodes: dict[str, ServeNode] = {}
    proxy: KamailioDispatcher | None = None
    cluster: Cluster | None = None
    try:
        for name in ("node1", "node2", "node3"):
            ranges.append(allocate_rtp_range(200))  # RTP and RTCP: 100 calls a node
            nodes[name] = ServeNode(
                name, tmp_path, store.records(name), ranges[-1], grace=GRACE_S, seats=seats, timezone=zone
            )
        for node in nodes.values():
            node.launch()
        for node in nodes.values():
            node.wait_ready()
        proxy = KamailioDispatcher(
            [n.address for n in nodes.values()],
            settings=DispatcherSettings(fr_timer_ms=int(FR_TIMER_S * 1000), ping_interval_s=PING_S),
        )
        proxy.start()
        cluster = Cluster(proxy, nodes)
        yield cluster
    finally:
        if cluster is not None:
            cluster.close_phones()
        if proxy is not None:
            proxy.close()
        for node in nodes.values():
            node.stop()
        for ports in ranges:
            release_rtp_range(ports)


@dataclass
class Caller:
    number: str
    call: PhoneCall
    phone: SipPhone


def dial(
    cluster: Cluster, count: int, script: Sequence[Action], to: tuple[str, int] | None = None
) -> list[Caller]:
    """``count`` callers at once, each with a number of its own, dialing the proxy (or ``to``)."""
    phone = cluster.phone()
    callers = []
    for _ in range(count):
        number = f"137{next(cluster.numbers):08d}"
        phone.user = number  # the From of the next call: each caller is a different person
        callers.append(Caller(number, phone.call(to or cluster.proxy.address, script), phone))
    return callers


def wait_done(callers: Sequence[Caller], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for caller in callers:  # bounded: each wait ends at its call's end or the shared deadline
        caller.call.done.wait(max(0.0, deadline - time.monotonic()))
    unfinished = [c.number for c in callers if not c.call.done.is_set()]
    assert not unfinished, f"{len(unfinished)} calls did not end within {timeout} s"


def wait_bye_answered(callers: Sequence[Caller], timeout: float) -> None:
    """Until every caller's BYE has its final answer (the phone retransmits it until then)."""
    wait_until(
        lambda: all(c.call.bye_tx is not None and not c.call.bye_tx.waiting for c in callers),
        timeout,
        "every BYE answered",
    )


def wait_answered(callers: Sequence[Caller], timeout: float) -> None:
    wait_until(
        lambda: all(c.call.answered_at is not None or c.call.done.is_set() for c in callers),
        timeout,
        "every caller answered",
    )


def by_node(cluster: Cluster, callers: Sequence[Caller]) -> dict[str, set[str]]:
    spread: dict[str, set[str]] = {name: set() for name in cluster.nodes}
    for caller in callers:
        spread[cluster.node_of(caller.call)].add(caller.number)
    return spread


def assert_all_answered(callers: Sequence[Caller]) -> None:
    refused = [(c.number, c.call.final_status) for c in callers if c.call.answered_at is None]
    assert not refused, f"callers not answered (number, status): {refused}"


def assert_in_register(store: SharedStore, finished: dict[str, set[str]], timeout: float = 15.0) -> None:
    """Every finished call is in the shared register once, with the node that took it (written just after
    its end)."""
    wanted = {number: [node] for node, numbers in finished.items() for number in numbers}
    wait_until(
        lambda: wanted.items() <= store.calls().items(),
        timeout,
        "the register has every finished call once, with the node that took it",
    )


def test_callers_are_spread_over_the_nodes_and_a_draining_node_gets_none(
    cluster: Cluster, store: SharedStore
) -> None:
    first = dial(cluster, BATCH, SHORT)
    wait_done(first, 30)
    assert_all_answered(first)
    spread = by_node(cluster, first)
    wait_bye_answered(first, 10)
    assert all(len(numbers) >= BATCH // 6 for numbers in spread.values()), {
        n: len(s) for n, s in spread.items()
    }
    for caller in first:  # record-routed: the caller's BYE reached the node holding the call
        assert caller.call.ended_by == "caller" and caller.call.responses[-1] == 200, caller.call.responses
    assert_in_register(store, spread)

    drained = cluster.nodes["node1"]
    (live,) = dial(cluster, 1, [Silent(60)], to=drained.address)  # keeps node1 in its grace, draining
    wait_answered([live], 10)
    drained.terminate()
    drained.wait_options(503, timeout=10)  # what the dispatcher's probe now hears from it
    second = dial(cluster, BATCH, SHORT)
    wait_done(second, 30)
    assert_all_answered(second)  # no caller refused: node1's 503s went on to the others
    after = by_node(cluster, second)
    assert after["node1"] == set(), f"{len(after['node1'])} new calls went to the draining node"
    wait_done([live], GRACE_S + 10)
    assert live.call.ended_by == "bot", "the draining node's live call was not ended with a goodbye"
    assert drained.wait(timeout=15) == 0
    assert_in_register(store, after | {"node1": spread["node1"] | {live.number}})

    drained.start()  # back: the dispatcher's next OPTIONS finds it, nobody tells Kamailio
    third: list[Caller] = []
    for _ in range(10):  # bounded: a round of 3 calls reaches every active node once
        batch = dial(cluster, 3, SHORT)
        wait_done(batch, 30)
        assert_all_answered(batch)
        third += batch
        if by_node(cluster, batch)["node1"]:
            break
    assert by_node(cluster, third)["node1"], "the restarted node got no calls"


def test_kill_9_of_a_node_loses_its_calls_only_and_new_callers_are_answered_by_the_others(
    cluster: Cluster, store: SharedStore
) -> None:
    finished = dial(cluster, BATCH, [Silent(1), HangUp()])
    wait_done(finished, 30)
    assert_all_answered(finished)
    finished_by = by_node(cluster, finished)
    assert_in_register(store, finished_by)

    # a long call on each node that lives on, straight to it: its row must outlive the sweep of node3's
    witnesses = {
        name: dial(cluster, 1, [Silent(60)], to=cluster.nodes[name].address)[0] for name in SURVIVORS
    }
    live = dial(cluster, BATCH, [Silent(12), HangUp()])
    wait_answered(live + list(witnesses.values()), 20)
    assert_all_answered(live + list(witnesses.values()))
    live_by = by_node(cluster, live)
    assert live_by["node3"], "no live call on the node to kill"
    wait_until(
        lambda: live_by["node3"] <= store.live("node3"), 10, "node3's calls in progress on the wallboard"
    )
    killed = cluster.nodes["node3"]
    killed.kill()
    killed_at = time.monotonic()  # the phones' clock
    after = dial(cluster, BATCH, SHORT)
    wait_done(after + live, 40)

    assert_all_answered(after)
    after_by = by_node(cluster, after)
    assert after_by["node3"] == set()
    slowest = max(c.call.answered_at - c.call.sent_at for c in after if c.call.answered_at is not None)
    # a call first sent to the dead node waits one FR_TIMER, then rings on another: never twice
    assert slowest < FR_TIMER_S + RING_S + 1.5, f"a caller waited {slowest:.1f} s for an answer"

    lost = [c for c in live if c.number in live_by["node3"]]
    wait_bye_answered(live, FR_TIMER_S + 5)  # the lost ones: Kamailio's timeout for the dead node
    for caller in lost:  # its calls are lost: the bot fell silent, the caller's BYE found nobody (408)
        assert caller.call.answered_at is not None
        silent_from = killed_at - caller.call.answered_at + 0.5  # what was on its way still plays
        assert all(end <= silent_from for _, end in caller.call.bot_speech), "the bot spoke after the kill"
        assert caller.call.responses[-1] == 408, caller.call.responses
    for caller in live:
        if caller not in lost:
            assert caller.call.ended_by == "caller" and caller.call.responses[-1] == 200
    assert_in_register(
        store,
        {
            "node1": finished_by["node1"] | live_by["node1"] | after_by["node1"],
            "node2": finished_by["node2"] | live_by["node2"] | after_by["node2"],
            "node3": finished_by["node3"],  # finished before the kill: still there after kill -9
        },
    )
    assert not store.callers("node3") & live_by["node3"], "a call live at the kill has a record"

    # the wallboard: node3's calls in progress cleared by the nodes alive, within the heartbeat bound
    bound = LOST_AFTER_S + 2 * BEAT_S + 5.0  # silent past the bound, then the next beat of a live node
    wait_until(
        lambda: not store.live("node3"),
        max(0.0, killed_at + bound - time.monotonic()),
        f"node3's calls in progress cleared within {bound:.0f} s of the kill",
    )
    for name, witness in witnesses.items():  # the others' calls in progress are still there, still up
        assert witness.number in store.live(name), f"{name}'s call in progress was cleared with node3's"
        assert not witness.call.done.is_set(), f"{name}'s long call ended"
    for witness in witnesses.values():
        witness.phone.hang_up(witness.call)
    wait_done(list(witnesses.values()), 10)
    assert_in_register(store, {name: {w.number} for name, w in witnesses.items()})


ASKING: list[Action] = [WaitForBot(), Press("0"), Tone(150, 600.0)]  # a person, please; then on the line
SEAT_TALK_S = 12.0  # from its answer: the whisper (about 7 s), the talk, its hang-up; then 10 s of wrap-up
ASKERS = 6  # two per node (round robin), three per seat: every seat is asked for while busy


class WatchedSeat(SeatPhone):
    """A real seat phone that notes where each INVITE came from and whether it was already on a call."""

    def __init__(self, user: str, **kw: object) -> None:
        super().__init__(user, **kw)  # type: ignore[arg-type]
        self.invites: list[tuple[int, bool]] = []  # (the node's port, rung while busy)

    def _on_invite(self, req: SipMessage, source: tuple[str, int], now: float) -> None:
        busy = any(c.state is not SeatCallState.ENDED for c in self.calls)
        self.invites.append((source[1], busy))
        super()._on_invite(req, source, now)


@pytest.fixture
def seats() -> Iterator[list[WatchedSeat]]:
    """Two started seat phones on loopback (the nodes ring them in direct mode), closed at the end."""
    opened: list[tuple[WatchedSeat, PortRange]] = []
    try:
        for user in ("1001", "1002"):
            ports = allocate_rtp_range(20)
            seat = WatchedSeat(
                user,
                rtp_ports=range(ports.low, ports.high + 1),
                answer_after_s=0.5,
                script=(Tone(SEAT_TALK_S, 1000.0), HangUp()),
            )
            opened.append((seat, ports))
            seat.start()
        yield [seat for seat, _ in opened]
    finally:
        for seat, ports in opened:
            try:
                seat.close()
            finally:
                release_rtp_range(ports)


@pytest.fixture
def seated_cluster(
    tmp_path: Path, rendered_audio: Path, store: SharedStore, seats: list[WatchedSeat]
) -> Iterator[Cluster]:
    """The three nodes, every one reading the same seats file naming the two seat phones."""
    with running_cluster(tmp_path, store, write_seats(tmp_path / "seats.yaml", *seats)) as started:
        yield started


def outcomes(store: SharedStore) -> dict[str | None, Outcome | None]:
    """Caller number → how its finished call ended, in the shared register."""
    return {c.caller: c.outcome for c in store.register.list_calls(limit=None)}


def test_two_seats_take_callers_of_every_node_one_call_at_a_time(
    seated_cluster: Cluster, store: SharedStore, seats: list[WatchedSeat]
) -> None:
    """Six callers through the proxy, two on each node, press 0 at once; two seats serve them all, each
    seat one call at a time (never rung while on a call), and between them callers of every node."""
    cluster = seated_cluster
    callers = dial(cluster, ASKERS, ASKING)
    wait_answered(callers, 20)
    assert_all_answered(callers)
    spread = by_node(cluster, callers)
    assert all(spread.values()), {n: len(s) for n, s in spread.items()}
    # put through one after the other; the seat hangs up, the caller hears goodbye and the bot's BYE
    wait_done(callers, 150)
    assert all(c.call.ended_by == "bot" for c in callers), [c.call.ended_by for c in callers]

    wanted = {c.number for c in callers}
    wait_until(lambda: wanted <= outcomes(store).keys(), 15, "every caller's call is in the register")
    heard = {number: outcome for number, outcome in outcomes(store).items() if number in wanted}
    assert set(heard.values()) == {Outcome.TRANSFERRED}, f"not every caller was put through: {heard}"
    node_of_port = {node.port: name for name, node in cluster.nodes.items()}
    served_from: dict[str, set[str]] = {}
    for seat in seats:
        rung_while_busy = [node_of_port.get(port, port) for port, busy in seat.invites if busy]
        assert not rung_while_busy, f"seat {seat.user} was rung on a call by {rung_while_busy}"
        talked = [(c.answered_at, c.ended_at) for c in seat.calls if c.answered_at is not None]
        assert all(end is not None for _, end in talked)
        for (_, ended), (began, _) in itertools.pairwise(sorted(talked)):
            assert ended is not None and began >= ended, f"seat {seat.user} had two calls at once"
        served_from[seat.user] = {node_of_port[port] for port, _ in seat.invites}
    answered = sum(1 for seat in seats for call in seat.calls if call.answered_at is not None)
    assert answered >= ASKERS, f"the seats answered {answered} calls for {ASKERS} callers"
    assert set().union(*served_from.values()) == set(cluster.nodes), served_from
    assert all(served_from.values()), f"a seat took no call: {served_from}"


def answered_from(seat: SeatPhone, ports: set[int]) -> list[SeatCall]:
    """The calls ``seat`` answered that a node listening on one of ``ports`` rang."""
    return [c for c in list(seat.calls) if c.answered_at is not None and c.dialog.source[1] in ports]


def test_a_seat_held_by_a_node_killed_with_9_is_rung_again_by_the_others_without_a_person(
    seated_cluster: Cluster, store: SharedStore, seats: list[WatchedSeat]
) -> None:
    """A seat is on a call of a node that is killed with -9; once the node's seat claims lapse (the
    lease), a caller waiting on another node is put through to that seat: nobody frees it by hand."""
    cluster = seated_cluster
    (first,) = dial(cluster, 1, ASKING)
    wait_answered([first], 20)
    victim = cluster.node_of(first.call)
    killed = cluster.nodes[victim]
    wait_until(
        lambda: any(answered_from(s, {killed.port}) for s in seats), 60, f"a seat answers for {victim}"
    )
    held = next(s for s in seats if answered_from(s, {killed.port}))
    killed.kill()
    later = dial(cluster, 2, ASKING)  # through the proxy: the nodes alive take them
    survivors = {n.port for name, n in cluster.nodes.items() if name != victim}
    # the lease, the next beats, the held seat's own end of the dead call, a ring refused meanwhile
    bound = LEASE_S + 2 * BEAT_S + SEAT_TALK_S + 5.0 + 20.0
    wait_until(
        lambda: bool(answered_from(held, survivors)),
        bound,  # from just after the kill
        f"seat {held.user}, held by {victim} at its kill, answers a caller of another node",
    )
    wait_done(later, 90)
    assert victim not in {cluster.node_of(c.call) for c in later}, "a later caller on the dead node"
    wanted = {c.number for c in later}
    wait_until(lambda: wanted <= outcomes(store).keys(), 15, "the later callers' calls are in the register")
    heard = {number: outcome for number, outcome in outcomes(store).items() if number in wanted}
    assert set(heard.values()) == {Outcome.TRANSFERRED}, f"not every later caller was put through: {heard}"
    first.phone.hang_up(first.call)  # the dead node's caller gives up: the proxy answers its BYE
    wait_bye_answered([first], FR_TIMER_S + 10)
