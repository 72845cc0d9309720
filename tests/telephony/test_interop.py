"""The interop matrix: real softphones (baresip, linphonec) as callers and as seats, over UDP,
TCP and TLS, straight at the line and through Kamailio; every cell a real call with audio
checked both ways.

- a caller: the softphone dials the line and sends a 600 Hz tone; the bot thanks it, the
  softphone presses 1 (RFC 4733), the bot says goodbye and hangs up. The line's record shows
  the key and the caller's tone (the line not silent); the softphone's recording holds the
  bot's words (at least the goodbye's worth of speech).
- a seat: a scripted caller (``SipPhone``) is put through at once to the softphone, which
  answers by itself and sends a 1000 Hz tone; each side hears the other's tone across the
  bridge (FFT windows, as in test_seats_sip), then the caller hangs up and the line ends the
  seat's leg.
- the SRTP cell (``tls-kamailio-srtp``): the field case, signalling over TLS through Kamailio and
  media SRTP (SDES keys in the TLS-carried SDP); the line runs ``[sip] srtp = "require"``, so a
  plain offer would be refused and the seat is rung with RTP/SAVP; the softphone takes SRTP only
  (baresip's ``srtp-mand``, linphonec's mandatory SRTP) and says it switched SRTP on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytest

from ivr.call.events import EventKind
from ivr.demo.phone import PhoneCallState, SipPhone
from ivr.demo.phone_script import Tone
from ivr.flows.schema import Say
from ivr.line.open_line import OpenLine
from ivr.seats.queue import Connected
from tests.telephony.conftest import (
    LINE_USER,
    CallerNumbers,
    LineMaker,
    wait_for_record,
    wait_registered,
    wait_until,
)
from tests.telephony.harness.baresip import Baresip, baresip_available
from tests.telephony.harness.certificate import self_signed_certificate
from tests.telephony.harness.kamailio import Kamailio, KamailioSettings, kamailio_tls_available
from tests.telephony.harness.linphone import Linphonec, linphonec_available
from tests.telephony.harness.ports import LOOPBACK
from tests.telephony.harness.softphone import Registration, write_tone
from tests.telephony.key_flows import key_flow
from tests.telephony.test_seats_sip import CALLER_HZ, SEAT_HZ, tone_windows
from tests.telephony.test_transports_sip import flow_file, free_port

pytestmark = pytest.mark.slow


def caller_flow(tmp_path: Path) -> Path:
    """Thanks the caller, waits for key 1, says goodbye and hangs up half a second later."""
    return key_flow(tmp_path / "flow.yaml", "interop-caller", key="1", goodbye_wait="0.5s")


SEAT_FLOW = """\
flow: interop-seat
description: puts the caller through to a seat at once
locale: zh-CN
answer:
  rings: 0
steps:
  start:
    transfer:
      skill: reception
      say: desk.please_wait
      no_answer: desk.no_answer
      ring_timeout: 5s
    next: bye
  bye:
    hangup: goodbye
"""

# measured: the line's TLS connections to linphonec's TLS port are dropped, its log says
# "New connection arriving on TLS, not handled !" (belle-sip listens on TLS but serves only
# connections it opened itself); through Kamailio it is reached over its own connection
LINPHONEC_NO_TLS_SERVER = "linphonec 5.1 (belle-sip) takes no incoming TLS connection: 'New connection arriving on TLS, not handled !'"
SEAT_USER = "seat1001"
CALLER_USER = "caller"
BRIDGED_FOR = 100  # frames (2 s) of bridged audio before the caller hangs up
SPEAKING_DBFS = -45.0


class Softphone(Protocol):
    """What a cell needs of a softphone harness."""

    def dial(self, uri: str) -> None: ...
    def send_key(self, key: str) -> None: ...
    def wait_established(self, timeout: float) -> None: ...
    def wait_closed(self, timeout: float) -> None: ...
    def heard(self) -> list[bytes]: ...
    def tail(self, lines: int = 30) -> str: ...
    def said_srtp(self) -> bool: ...
    def stop(self) -> None: ...


def speech_frames(frames: list[bytes]) -> int:
    """How many 20 ms frames are louder than speech's floor."""
    x = np.frombuffer(b"".join(frames), "<i2").astype(np.float64)
    x = x[: len(x) // 160 * 160].reshape(-1, 160)
    return int(np.sum(np.sqrt(np.mean(x * x, axis=1)) > 32768 * 10 ** (SPEAKING_DBFS / 20)))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the line, Kamailio and the softphones (each trusts it)."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


class Cell:
    """One cell's parts: the line, maybe a Kamailio, the softphone; all stopped by ``close``."""

    def __init__(
        self, tmp_path: Path, transport: str, via: str, cert: tuple[Path, Path], srtp: bool = False
    ) -> None:
        self.tmp_path = tmp_path
        self.transport = transport
        self.via = via
        self.srtp = srtp
        self.cert, self.key = cert
        self.proxy: Kamailio | None = None
        self.phones: list[Softphone] = []

    def start_proxy(self) -> Kamailio:
        tls = self.transport == "tls"
        settings = KamailioSettings(
            fr_timer_ms=2000,
            tcp=self.transport == "tcp",
            tls_cert=self.cert if tls else None,
            tls_key=self.key if tls else None,
        )
        self.proxy = Kamailio(settings=settings)
        self.proxy.start()
        return self.proxy

    def proxy_port(self) -> int:
        assert self.proxy is not None
        port = self.proxy.tls_port if self.transport == "tls" else self.proxy.port
        assert port is not None
        return port

    def softphone(self, kind: str, user: str, hz: float, *, seat: bool) -> Softphone:
        tone = write_tone(self.tmp_path / f"tone-{hz:g}.wav", hz, 40)
        registration = None
        if self.proxy is not None:
            registration = Registration(LOOPBACK, self.proxy_port(), self.transport)
        if kind == "linphonec":
            if not linphonec_available():
                pytest.skip("linphonec (linphone-cli) is not installed")
            linphone = Linphonec(
                self.tmp_path / kind,
                user=user,
                tone=tone,
                registration=registration,
                auto_answer=seat,
                ca_file=self.cert,
                srtp=self.srtp,
            )
            self.phones.append(linphone)
            linphone.start()
            return linphone
        if not baresip_available():
            pytest.skip("baresip is not installed")
        pem = self.tmp_path / "baresip-cert.pem"
        pem.write_bytes(self.cert.read_bytes() + self.key.read_bytes())
        phone = Baresip(
            self.tmp_path / kind,
            user=user,
            tone=tone,
            registration=registration,
            auto_answer=seat,
            ca_file=self.cert,
            certificate=pem,
            srtp=self.srtp,
        )
        self.phones.append(phone)
        phone.start()
        return phone

    def line_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"srtp": "require"} if self.srtp else {}
        if self.transport != "tls" or self.via != "direct":
            return settings
        return settings | {
            "tls_bind": f"{LOOPBACK}:{free_port(LOOPBACK)}",
            "tls_cert": str(self.cert),
            "tls_key": str(self.key),
        }

    def check_media(self, line_said: list[str]) -> None:
        """In the SRTP cell both ends said their media is SRTP: the softphone (its own log) and the
        line (its ``answered (PCMU, SRTP)``, for a caller)."""
        if not self.srtp:
            return
        for phone in self.phones:
            assert phone.said_srtp(), f"the softphone did not switch SRTP on\n{phone.tail()}"
        assert all("SRTP" in said for said in line_said), line_said

    def check_transport(self, line: OpenLine, *, method: str, seat: bool) -> None:
        """The softphone's SIP really went over the cell's transport: the line's own counts when
        direct, Kamailio's log (``request METHOD … over PROTO``) when through the proxy."""
        if self.proxy is not None:
            said = [s for s in self.proxy.log_tail(400).splitlines() if f"request {method} " in s]
            assert any(s.endswith(f"over {self.transport}") for s in said), said
            return
        stats = line.line.transport.stats
        streams = stats.connected if seat else stats.accepted
        assert (streams >= 1) == (self.transport != "udp"), (self.transport, stats)

    def close(self) -> None:
        while self.phones:
            self.phones.pop().stop()
        if self.proxy is not None:
            self.proxy.close()

    def diagnosis(self) -> str:
        parts = [p.tail(40) for p in self.phones]
        if self.proxy is not None:
            parts.append(self.proxy.log_tail(30))
        return "\n---\n".join(parts)


@pytest.fixture
def cell(request: pytest.FixtureRequest, tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[Cell]:
    transport, via, *media = request.param
    if via == "kamailio" and transport == "tls" and not kamailio_tls_available():
        pytest.skip("Kamailio's TLS module is not installed (kamailio-tls-modules)")
    made = Cell(tmp_path, transport, via, certificate, srtp=media == ["srtp"])
    try:
        yield made
    finally:
        made.close()


TRANSPORTS = ["udp", "tcp", "tls"]
PATHS = ["direct", "kamailio"]
CELLS = [pytest.param((t, v), id=f"{t}-{v}") for v in PATHS for t in TRANSPORTS]
CELLS.append(pytest.param(("tls", "kamailio", "srtp"), id="tls-kamailio-srtp"))
PHONES = ["baresip", "linphonec"]


@pytest.mark.parametrize("cell", CELLS, indirect=True)
@pytest.mark.parametrize("kind", PHONES)
def test_a_softphone_caller_hears_the_bot_and_the_bot_hears_it(
    kind: str,
    cell: Cell,
    open_line: LineMaker,
    tmp_path: Path,
    caller_number: CallerNumbers,
    rendered_audio: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.line.desk_line")
    flow = caller_flow(tmp_path)
    if cell.via == "kamailio":
        proxy = cell.start_proxy()
        line = open_line(flow=flow, mode="register", registrar=proxy, **cell.line_settings())
        wait_registered(line)
        user = CALLER_USER
        phone = cell.softphone(kind, user, CALLER_HZ, seat=False)
        uri = f"sip:{LINE_USER}@{LOOPBACK}:{cell.proxy_port()};transport={cell.transport}"
    else:
        line = open_line(flow=flow, **cell.line_settings())
        user = caller_number()
        phone = cell.softphone(kind, user, CALLER_HZ, seat=False)
        address = line.line.transport.tls_address if cell.transport == "tls" else line.line.transport.address
        assert address is not None
        uri = f"sip:desk@{LOOPBACK}:{address[1]};transport={cell.transport}"
    phone.dial(uri)
    phone.wait_established(10)
    time.sleep(1.0)  # a second of the call: the bot's thanks, the caller's tone
    phone.send_key("1")
    phone.wait_closed(15)  # the key took the bot to its goodbye and hang-up
    record = wait_for_record(line, user)
    kinds = [e.kind for e in record.events]
    assert any(e.kind is EventKind.DTMF and e.detail == {"digit": "1"} for e in record.events), (
        f"the bot did not get the key: {kinds}\n{cell.diagnosis()}"
    )
    heard_caller = [e.detail["state"] for e in record.events if e.kind is EventKind.LINE]
    assert any(state != "silence" for state in heard_caller), f"the bot heard nothing: {heard_caller}"
    assert record.events[-1].kind is EventKind.HANGUP and record.events[-1].detail["by"] == "bot"
    cell.check_transport(line, method="INVITE", seat=False)
    cell.check_media([r.getMessage() for r in caplog.records if " answered (" in r.getMessage()])
    goodbye = line.line.parts.prompts.frames(Say(prompt="goodbye"))
    heard = phone.heard()
    assert speech_frames(heard) >= 0.7 * speech_frames(list(goodbye)), (
        f"the softphone did not hear the bot: {speech_frames(heard)} loud frames of {len(heard)}"
    )


def seats_file(path: Path, user: str, uri: str) -> Path:
    path.write_text(
        f'seats:\n  - id: "1001"\n    name: 座席\n    uri: "{uri}"\n    skills: [reception]\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("cell", CELLS, indirect=True)
@pytest.mark.parametrize("kind", PHONES)
def test_a_softphone_seat_and_a_caller_hear_each_other_across_the_bridge(
    kind: str,
    cell: Cell,
    open_line: LineMaker,
    tmp_path: Path,
    phone: SipPhone,
    caller_number: CallerNumbers,
    rendered_audio: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if kind == "linphonec" and (cell.transport, cell.via) == ("tls", "direct"):
        pytest.skip(LINPHONEC_NO_TLS_SERVER)
    flow = flow_file(tmp_path, SEAT_FLOW)
    if cell.via == "kamailio":
        proxy = cell.start_proxy()
        seat = cell.softphone(kind, SEAT_USER, SEAT_HZ, seat=True)
        seats = seats_file(tmp_path / "seats.yaml", SEAT_USER, proxy.aor(SEAT_USER))
        line = open_line(flow=flow, seats=seats, mode="register", registrar=proxy, **cell.line_settings())
        wait_registered(line)
    else:
        monkeypatch.setenv("SSL_CERT_FILE", str(cell.cert))  # the line checks a TLS seat's certificate
        seat = cell.softphone(kind, SEAT_USER, SEAT_HZ, seat=True)
        assert isinstance(seat, Baresip | Linphonec)
        seats = seats_file(tmp_path / "seats.yaml", SEAT_USER, seat.contact(cell.transport))
        line = open_line(flow=flow, seats=seats)
    phone.user = caller_number()
    phone.srtp = cell.srtp  # under "require" the line takes only SRTP callers
    call = phone.call(line.line.transport.address, (Tone(40, CALLER_HZ),))
    floor = line.line.floor
    assert floor is not None
    wait_until(lambda: any(isinstance(a, Connected) for _, a in floor.log), 20, "the caller is put through")
    start = floor.stats.bridged_frames
    wait_until(lambda: floor.stats.bridged_frames - start >= BRIDGED_FOR, 10, "audio crosses the bridge")
    assert call.state is PhoneCallState.ANSWERED
    phone.hang_up(call)
    seat.wait_closed(10)  # the line hangs up the seat's leg
    heard = seat.heard()
    assert len(tone_windows(heard, CALLER_HZ)) >= 5, f"the seat did not hear the caller\n{cell.diagnosis()}"
    assert len(tone_windows(call.heard_audio, SEAT_HZ)) >= 5, "the caller did not hear the seat"
    cell.check_transport(line, method="REGISTER", seat=True)
    cell.check_media([])
