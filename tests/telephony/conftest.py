"""Fixtures for the desk line over real SIP: a Kamailio, lines in direct and register mode, phones.

Every line, phone, registrar and RTP range a fixture opens is closed by it in a
``finally``; nothing here outlives its scope. Loopback only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.call.events import CallRecord
from ivr.config import IvrConfig, LineSettings, RecordsSettings, SipSettings
from ivr.demo.phone import SipPhone
from ivr.demo.seat_phone import SeatPhone
from ivr.line.open_line import OpenLine
from tests.telephony.harness.kamailio import Kamailio, KamailioSettings, kamailio_available
from tests.telephony.harness.ports import (
    LOOPBACK,
    PortRange,
    allocate_rtp_range,
    free_udp_port,
    release_rtp_range,
)
from tests.telephony.raw_sip import RawCaller

REPO = Path(__file__).resolve().parents[2]
DESK_DAY = datetime(2026, 3, 2, 10, 0)  # a Monday morning, in desk hours: hours rules greet the caller
LINE_USER = "ivr"


def desk_hours() -> datetime:
    return DESK_DAY


def rtp_ports(ports: PortRange) -> str:
    return f"{ports.low}-{ports.high}"


@pytest.fixture(scope="module")
def registrar() -> Iterator[Kamailio]:
    """One Kamailio for the module (users ivr, caller, seats; password "secret")."""
    if not kamailio_available():
        pytest.skip("kamailio is not installed")
    server = Kamailio(settings=KamailioSettings(fr_timer_ms=2000))
    try:
        server.start()
        yield server
    finally:
        server.close()


class LineMaker:
    """Opens started ``OpenLine``s on free ports with their own RTP range and register (or the ``records``
    given: lines sharing one); closes them all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._open: list[tuple[OpenLine, PortRange]] = []

    def __call__(
        self,
        *,
        flow: Path | str = "flows/desk.yaml",
        seats: Path | str | None = None,
        mode: str = "direct",
        registrar: Kamailio | None = None,
        password: str = "secret",
        rtp_size: int = 100,
        start: bool = True,
        records: RecordsSettings | None = None,
        **sip: object,
    ) -> OpenLine:
        ports = allocate_rtp_range(rtp_size)
        try:
            settings: dict[str, object] = {
                "mode": mode,
                "bind": f"{LOOPBACK}:{free_udp_port()}",
                "rtp_ports": rtp_ports(ports),
                "grace": 1.0,
                **sip,
            }
            if mode == "register":  # at the registrar's UDP port unless ``server`` says otherwise
                assert registrar is not None
                settings = {
                    "server": f"{registrar.host}:{registrar.port}",
                    "username": LINE_USER,
                    "password": password,
                } | settings
            n = len(self._open)
            config = IvrConfig(
                sip=SipSettings.model_validate(settings),
                line=LineSettings(flow=str(flow), seats=None if seats is None else str(seats)),
                records=records or RecordsSettings(path=str(self.directory / f"calls-{n}.db")),
            )
            line = OpenLine(config, REPO, wall_clock=desk_hours)
        except BaseException:
            release_rtp_range(ports)
            raise
        self._open.append((line, ports))
        if start:
            line.start()
        return line

    def close(self) -> None:
        while self._open:
            line, ports = self._open.pop()
            try:
                line.stop(grace=0.5)
            finally:
                release_rtp_range(ports)


@pytest.fixture
def open_line(tmp_path: Path) -> Iterator[LineMaker]:
    """A factory of lines for one test: ``open_line(flow=..., mode=..., max_calls=...)``."""
    maker = LineMaker(tmp_path)
    try:
        yield maker
    finally:
        maker.close()


@pytest.fixture(scope="module")
def direct_line(tmp_path_factory: pytest.TempPathFactory, rendered_audio: Path) -> Iterator[OpenLine]:
    """The shipped desk flow in direct mode (answers at the end of the first ring, 1 s)."""
    maker = LineMaker(tmp_path_factory.mktemp("direct-line"))
    try:
        yield maker()
    finally:
        maker.close()


def wait_for_record(line: OpenLine, caller: str, timeout: float = 3.0) -> CallRecord:
    """The call's record (written at the tick that ends the call, just after the caller saw the end)."""
    with line.line.ended:
        line.line.ended.wait_for(lambda: any(r.caller == caller for r in line.records), timeout)
    return next(r for r in reversed(line.records) if r.caller == caller)


def wait_registered(line: OpenLine, timeout: float = 5.0, count: int = 1) -> None:
    registration = line.line.registration
    assert registration is not None
    with line.line.ended:  # the line notifies this condition on every registrar response
        line.line.ended.wait_for(lambda: registration.registrations >= count, timeout)
    assert registration.registrations >= count, f"not registered: {registration.state}"


@pytest.fixture(scope="module")
def register_line(
    tmp_path_factory: pytest.TempPathFactory, rendered_audio: Path, registrar: Kamailio
) -> Iterator[OpenLine]:
    """The shipped desk flow registered at the module's Kamailio as user 'ivr'."""
    maker = LineMaker(tmp_path_factory.mktemp("register-line"))
    try:
        line = maker(mode="register", registrar=registrar)
        wait_registered(line)
        yield line
    finally:
        maker.close()


@contextlib.contextmanager
def started_phone(rtp_size: int = 20, **options: Any) -> Iterator[SipPhone]:
    """A started caller phone (``SipPhone(**options)``) with an RTP range of its own; on leaving it is
    closed and its range given back."""
    ports = allocate_rtp_range(rtp_size)
    try:
        phone = SipPhone(rtp_ports=range(ports.low, ports.high + 1), **options)
        try:
            phone.start()
            yield phone
        finally:
            phone.close()
    finally:
        release_rtp_range(ports)


@pytest.fixture
def phone() -> Iterator[SipPhone]:
    """A started caller phone with its own RTP range."""
    with started_phone(200) as sip_phone:
        yield sip_phone


CallerNumbers = Callable[[], str]


@pytest.fixture(scope="session")
def caller_number() -> CallerNumbers:
    """A fresh caller number per call: the desk flow treats a number that called minutes ago as a dropped call."""
    counter = iter(range(10_000_000))

    def fresh() -> str:
        return f"139{next(counter):08d}"

    return fresh


@pytest.fixture
def raw(caller_number: CallerNumbers) -> Iterator[RawCaller]:
    """A raw caller (exactly the SIP it is told to send) with a number of its own: a number that called
    minutes ago hears the dropped-call apology."""
    ports = allocate_rtp_range(4)
    caller = RawCaller(ports, user=caller_number())
    try:
        yield caller
    finally:
        caller.close()
        release_rtp_range(ports)


def write_seats(path: Path, *seats: SeatPhone, uri_params: str = "") -> Path:
    """A seats file with these phones, in this order, each with every skill the desk flow transfers to."""
    lines = ["seats:"]
    for seat in seats:
        lines += [
            f'  - id: "{seat.user}"',
            f"    name: 座席{seat.user}",
            f'    uri: "{seat.uri}{uri_params}"',
            "    skills: [reception, business, home_decor]",  # every skill the desk flow transfers to
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_until(what: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {message}")
        time.sleep(0.05)


SeatMaker = Callable[..., SeatPhone]


@pytest.fixture
def seat_phone() -> Iterator[SeatMaker]:
    """Started seat phones (``kind``: a SeatPhone subclass), each with its own RTP range; all closed at the end."""
    opened: list[tuple[SeatPhone, PortRange]] = []

    def make(user: str, kind: type[SeatPhone] = SeatPhone, **kw: object) -> SeatPhone:
        ports = allocate_rtp_range(20)
        seat = kind(user, rtp_ports=range(ports.low, ports.high + 1), **kw)  # type: ignore[arg-type]
        opened.append((seat, ports))
        seat.start()
        return seat

    try:
        yield make
    finally:
        for seat, ports in opened:
            try:
                seat.close()
            finally:
                release_rtp_range(ports)
