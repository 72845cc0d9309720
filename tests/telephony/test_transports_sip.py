"""The desk line over TCP, TLS and IPv6 (RFC 3261 §18, RFC 5626 keep-alives), on loopback.

Callers: sipp over TCP (``-t t1``), the repo's ``SipPhone`` over IPv6 and TLS,
and bare sockets that send exactly the bytes a test needs (a CRLF ping,
garbage, a message without Content-Length, a message split across writes).
The TLS certificate is a throwaway one made by the openssl command line for
the test's run.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from ivr.call.events import EventKind
from ivr.config import SipSettings
from ivr.demo.phone import SipPhone
from ivr.demo.phone_script import Press, Silent, WaitForBot
from ivr.demo.seat_phone import SeatPhone
from ivr.telephony import g711
from ivr.telephony.rtp import RtpPacket
from ivr.telephony.sip_message import parse
from ivr.telephony.transport import SipTransport, Source
from tests.telephony.conftest import (
    LINE_USER,
    REPO,
    CallerNumbers,
    LineMaker,
    started_phone,
    wait_for_record,
    wait_registered,
    write_seats,
)
from tests.telephony.harness.certificate import self_signed_certificate
from tests.telephony.harness.kamailio import Kamailio, KamailioSettings, kamailio_tls_available
from tests.telephony.harness.ports import (
    LOOPBACK,
    allocate_rtp_range,
    release_rtp_range,
)
from tests.telephony.harness.sipp import run_sipp, sipp_available
from tests.telephony.key_flows import key_flow
from tests.telephony.test_seats_sip import (
    CALLER_HZ,
    CALLER_SCRIPT,
    SEAT_HZ,
    SEAT_SCRIPT,
    talk_through,
    tone_windows,
)

THANKS_FLOW = """\
flow: thanks
description: thanks the caller, says goodbye and hangs up
locale: zh-CN
answer:
  rings: 0
steps:
  start:
    say: polite.thanks
    next: bye
  bye:
    hangup: goodbye
"""


def flow_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def free_port(host: str) -> int:
    """A port free for UDP and TCP on ``host`` just now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as udp, socket.socket(family, socket.SOCK_STREAM) as tcp:
        udp.bind((host, 0))
        port: int = udp.getsockname()[1]
        tcp.bind((host, port))
        return port


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and ::1 and its key (openssl), for this module only."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def client_context(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))  # checks the name: the SAN holds the IPs
    return context


class Phones:
    """Started phones for one test, each with its own RTP range; all closed by ``close``."""

    def __init__(self) -> None:
        self._made = contextlib.ExitStack()

    def __call__(
        self, host: str, user: str, transport: str = "udp", tls_client: ssl.SSLContext | None = None
    ) -> SipPhone:
        return self._made.enter_context(
            started_phone(host=host, user=user, transport=transport, tls_client=tls_client)
        )

    def close(self) -> None:
        self._made.close()


@pytest.fixture
def phones() -> Iterator[Phones]:
    made = Phones()
    try:
        yield made
    finally:
        made.close()


def read_until(sock: socket.socket, marker: bytes, timeout: float = 3.0) -> bytes:
    """Bytes from ``sock`` until ``marker`` is among them, the peer closes, or ``timeout`` passes."""
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            break
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def closed_by_peer(sock: socket.socket, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return False
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
    return False


def options(port: int, branch: str, *, length: bool = True, transport: str = "TCP") -> bytes:
    lines = [
        f"OPTIONS sip:desk@{LOOPBACK}:{port} SIP/2.0",
        f"Via: SIP/2.0/{transport} {LOOPBACK}:5999;branch=z9hG4bK{branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:probe@{LOOPBACK}>;tag=1{branch}",
        f"To: <sip:desk@{LOOPBACK}:{port}>",
        f"Call-ID: {branch}@{LOOPBACK}",
        "CSeq: 1 OPTIONS",
    ]
    if length:
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- TCP: sipp, keep-alives, framing, garbage, idle -------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")
def test_a_sipp_caller_over_tcp_hears_the_bot_and_gets_its_bye_on_the_same_connection(
    open_line: LineMaker, tmp_path: Path, rendered_audio: Path
) -> None:
    line = open_line(flow=flow_file(tmp_path, THANKS_FLOW))
    transport = line.line.transport
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp:
        rtp.bind((LOOPBACK, 0))
        result = run_sipp(
            "uac_call_until_bye_rtp",
            transport.address,
            user="desk",
            timeout_s=15,
            keys={"rtp_ip": LOOPBACK, "rtp_port": str(rtp.getsockname()[1])},
            extra_args=["-t", "t1"],
        )
        packets = []
        rtp.setblocking(False)
        for _ in range(2000):  # bounded: at most the call's length of 20 ms packets
            try:
                packets.append(RtpPacket.parse(rtp.recv(2048)))
            except BlockingIOError:
                break
    assert result.ok, result.report()
    assert "TCP message received" in result.messages, result.report()
    assert "UDP message" not in result.messages, result.report()
    assert transport.stats.accepted == 1 and transport.stats.connected == 0  # its BYE went back on sipp's own
    audio = np.frombuffer(
        b"".join(g711.ulaw_decode(p.payload) for p in packets if p.payload_type == 0), "<i2"
    )
    assert len(packets) > 50 and np.abs(audio.astype(np.float64)).max() > 1000  # the bot's words, not silence


def test_a_crlf_ping_over_tcp_is_answered_with_a_pong(open_line: LineMaker) -> None:
    line = open_line(start=True)
    with socket.create_connection(line.line.transport.address, timeout=3) as sock:
        sock.sendall(b"\r\n\r\n")
        assert read_until(sock, b"\r\n") == b"\r\n"
        sock.sendall(b"\r\n")  # a pong of ours is no message: nothing comes back, and pings still work
        sock.sendall(b"\r\n\r\n")
        assert read_until(sock, b"\r\n") == b"\r\n"
    assert line.line.transport.stats.pings == 2


def test_requests_over_tcp_are_answered_on_their_connection_however_the_bytes_are_cut(
    open_line: LineMaker,
) -> None:
    line = open_line()
    port = line.line.transport.address[1]
    with socket.create_connection(line.line.transport.address, timeout=3) as sock:
        both = options(port, "a1") + options(port, "a2")
        sock.sendall(both)  # two messages in one write
        replies = read_until(sock, b"a2", timeout=3)
        assert replies.count(b"SIP/2.0 200 OK") == 2, replies
        third = options(port, "a3")
        sock.sendall(third[:40])  # one message in three writes
        time.sleep(0.05)
        sock.sendall(third[40:-10])
        time.sleep(0.05)
        sock.sendall(third[-10:])
        reply = parse(read_until(sock, b"\r\n\r\n"))
        assert reply.status == 200 and reply.call_id == f"a3@{LOOPBACK}"
        assert reply.top_via.transport == "TCP"


def test_a_connection_that_sends_garbage_is_closed_and_the_others_go_on(open_line: LineMaker) -> None:
    line = open_line()
    address = line.line.transport.address
    with (
        socket.create_connection(address, timeout=3) as good,
        socket.create_connection(address, timeout=3) as bad,
        socket.create_connection(address, timeout=3) as no_length,
    ):
        bad.sendall(b"\x16\x03\x01\x02\x00garbage that is not SIP\r\n\r\n")
        assert closed_by_peer(bad)
        no_length.sendall(options(address[1], "n1", length=False))
        answer = read_until(no_length, b"\r\n\r\n")
        assert answer.startswith(b"SIP/2.0 400 "), answer
        assert closed_by_peer(no_length)
        good.sendall(options(address[1], "g1"))
        assert read_until(good, b"\r\n\r\n").startswith(b"SIP/2.0 200 OK")
    assert line.line.transport.stats.closed_bad >= 1


def test_an_idle_connection_is_closed_after_the_bound(open_line: LineMaker) -> None:
    line = open_line(tcp_idle=1.0)
    with socket.create_connection(line.line.transport.address, timeout=3) as sock:
        began = time.monotonic()
        assert closed_by_peer(sock, timeout=4.0)
        assert 0.9 < time.monotonic() - began < 3.0
    assert line.line.transport.stats.closed_idle == 1


def test_udp_only_takes_no_tcp_connection(open_line: LineMaker) -> None:
    line = open_line(transports=["udp"])
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(line.line.transport.address, timeout=3),
    ):
        pass


# --- RFC 3261 §18.1.1: a request over 1300 bytes goes over TCP ---------------------------------


class Inbox:
    """What a transport's handler got, with a condition to wait on."""

    def __init__(self) -> None:
        self.got: list[tuple[bytes, Source]] = []
        self.changed = threading.Condition()

    def __call__(self, data: bytes, source: Source) -> None:
        with self.changed:
            self.got.append((data, source))
            self.changed.notify_all()

    def wait(self, count: int, timeout: float = 3.0) -> list[tuple[bytes, Source]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.got) >= count, timeout)
            return list(self.got)


def big_request(to: tuple[str, int], size: int) -> bytes:
    head = options(to[1], "big", transport="UDP").split(b"Content-Length")[0]
    filler = b"X-Padding: " + b"x" * max(0, size - len(head) - 40) + b"\r\n"
    return head + filler + b"Content-Length: 0\r\n\r\n"


def test_a_request_over_1300_bytes_goes_over_tcp_and_small_ones_over_udp() -> None:
    inbox, sender_inbox = Inbox(), Inbox()
    receiver = SipTransport((LOOPBACK, 0), inbox)
    sender = SipTransport((LOOPBACK, 0), sender_inbox)
    try:
        receiver.start()
        sender.start()
        sender.send(big_request(receiver.address, 600), receiver.address)
        sender.send(big_request(receiver.address, 1500), receiver.address)
        got = inbox.wait(2)
    finally:
        sender.stop()
        receiver.stop()
    assert [s.transport for _, s in got] == ["UDP", "TCP"], got
    small, large = (parse(data) for data, _ in got)
    assert small.top_via.transport == "UDP"
    assert (
        large.top_via.transport == "TCP" and large.top_via.port == sender.address[1]
    )  # the transport wrote it
    assert sender.stats.over_tcp_for_size == 1


def test_a_large_request_goes_over_udp_after_all_when_tcp_is_refused() -> None:
    inbox = Inbox()
    sender = SipTransport((LOOPBACK, 0), inbox)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp_only:  # nobody listens on TCP there
        udp_only.bind((LOOPBACK, 0))
        udp_only.settimeout(3)
        try:
            sender.start()
            sender.send(big_request(udp_only.getsockname(), 1500), udp_only.getsockname())
            data = udp_only.recv(65535)
        finally:
            sender.stop()
    assert parse(data).top_via.transport == "UDP" and len(data) > 1300


# --- IPv6 ---------------------------------------------------------------------------------------


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback (::1) here")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_call_over_ipv6_loopback_has_audio_both_ways(
    open_line: LineMaker,
    tmp_path: Path,
    phones: Phones,
    caller_number: CallerNumbers,
    rendered_audio: Path,
    transport: str,
) -> None:
    line = open_line(
        flow=key_flow(tmp_path / "flow.yaml", "transports", key="1"),
        bind=f"[::1]:{free_port('::1')}",
        allow=["::1/128"],
    )
    assert line.line.transport.address[0] == "::1"
    phone = phones("::1", caller_number(), transport)
    call = phone.call(line.line.transport.address, [WaitForBot(), Press("1"), Silent(8)])
    assert call.done.wait(15), "the call did not end"
    assert call.ended_by == "bot"  # key 1 reached the bot over RTP: the goodbye, then its BYE
    assert len(call.bot_speech) >= 2, call.bot_speech  # thanks, then goodbye
    record = wait_for_record(line, phone.user)
    assert any(e.kind is EventKind.DTMF for e in record.events)
    invite_answer = next(m for m in phone.received if m.status == 200 and m.cseq[1] == "INVITE")
    assert b"c=IN IP6 ::1" in invite_answer.body
    assert "[::1]" in (invite_answer.header("Contact") or "")
    over_tcp = transport == "tcp"
    assert (phone.transport.stats.connected, line.line.transport.stats.accepted) == (over_tcp, over_tcp)
    assert line.line.transport.stats.connected == 0  # the bot's BYE went back on the phone's connection


def test_ipv6_addresses_are_written_in_brackets_in_the_config() -> None:
    assert SipSettings(bind="[::1]:5070", allow=["::1/128", "fd00::/8"]).bind_address == ("::1", 5070)
    with pytest.raises(ValidationError, match=r"in brackets, as \[::1\]:5070"):
        SipSettings(bind="::1:5070")
    with pytest.raises(ValidationError, match="not an IPv6 address"):
        SipSettings(bind="[nothing]:5070")
    assert SipSettings().allows("::1")


# --- TLS ----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_a_call_over_tls_has_audio_both_ways(
    open_line: LineMaker,
    tmp_path: Path,
    phones: Phones,
    caller_number: CallerNumbers,
    certificate: tuple[Path, Path],
    rendered_audio: Path,
    host: str,
) -> None:
    if ":" in host and not ipv6_available():
        pytest.skip("no IPv6 loopback (::1) here")
    cert, key = certificate
    hostport = f"[{host}]" if ":" in host else host
    line = open_line(
        flow=key_flow(tmp_path / "flow.yaml", "transports", key="1"),
        bind=f"{hostport}:{free_port(host)}",
        allow=["127.0.0.0/8", "::1/128"],
        tls_bind=f"{hostport}:{free_port(host)}",
        tls_cert=str(cert),
        tls_key=str(key),
    )
    tls_address = line.line.transport.tls_address
    assert tls_address is not None
    phone = phones(host, caller_number(), "tls", client_context(cert))
    call = phone.call(tls_address, [WaitForBot(), Press("1"), Silent(8)])
    assert call.done.wait(15), "the call did not end"
    assert call.ended_by == "bot" and len(call.bot_speech) >= 2, call.bot_speech
    record = wait_for_record(line, phone.user)
    assert any(e.kind is EventKind.DTMF for e in record.events)
    answered = next(m for m in phone.received if m.status == 200 and m.cseq[1] == "INVITE")
    assert answered.top_via.transport == "TLS"
    assert f":{tls_address[1]};transport=tls" in (answered.header("Contact") or "")
    stats = line.line.transport.stats
    assert stats.accepted == 1 and stats.connected == 0  # every message of the call on the phone's connection


def test_tls_settings_name_the_field_and_the_file(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ValidationError, match=rf"tls_cert[\s\S]*cannot read {missing}"):
        SipSettings(tls_bind="127.0.0.1:5071", tls_cert=str(missing), tls_key=str(key))
    with pytest.raises(ValidationError, match="tls_cert, tls_key not"):
        SipSettings(tls_bind="127.0.0.1:5071")
    with pytest.raises(ValidationError, match=f"tls_cert {key} and tls_key {cert} are not"):
        SipSettings(tls_bind="127.0.0.1:5071", tls_cert=str(key), tls_key=str(cert))
    settings = SipSettings(tls_bind="127.0.0.1:5071", tls_cert=str(cert), tls_key=str(key))
    assert settings.tls_listen() is not None


def test_a_failed_tls_handshake_closes_that_connection_only(
    open_line: LineMaker, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    line = open_line(tls_bind=f"{LOOPBACK}:{free_port(LOOPBACK)}", tls_cert=str(cert), tls_key=str(key))
    tls_address = line.line.transport.tls_address
    assert tls_address is not None
    with socket.create_connection(tls_address, timeout=3) as plain:
        plain.sendall(options(tls_address[1], "p1"))  # plain text to the TLS port
        assert closed_by_peer(plain)
    with socket.create_connection(tls_address, timeout=3) as raw:
        context = client_context(cert)
        with context.wrap_socket(raw, server_hostname=LOOPBACK) as tls:
            tls.sendall(options(tls_address[1], "t1", transport="TLS"))
            assert read_until(tls, b"\r\n\r\n").startswith(b"SIP/2.0 200 OK")


@pytest.mark.slow
@pytest.mark.skipif(not kamailio_tls_available(), reason="Kamailio's TLS module is not installed")
def test_a_tls_caller_through_kamailio_reaches_the_registered_line_with_audio_both_ways(
    open_line: LineMaker,
    tmp_path: Path,
    phones: Phones,
    caller_number: CallerNumbers,
    certificate: tuple[Path, Path],
    rendered_audio: Path,
) -> None:
    """Phone ─TLS─ Kamailio ─UDP─ the line (registered there): the bot's BYE goes back through the
    proxy (the record-route set) and on to the phone over its own TLS connection."""
    cert, key = certificate
    proxy = Kamailio(settings=KamailioSettings(fr_timer_ms=2000, tls_cert=cert, tls_key=key))
    try:
        proxy.start()
        assert proxy.tls_port is not None
        line = open_line(
            flow=key_flow(tmp_path / "flow.yaml", "transports", key="1"), mode="register", registrar=proxy
        )
        wait_registered(line)
        phone = phones(LOOPBACK, caller_number(), "tls", client_context(cert))
        call = phone.call(
            (LOOPBACK, proxy.tls_port),
            [WaitForBot(), Press("1"), Silent(8)],
            uri=f"sip:{LINE_USER}@{LOOPBACK}:{proxy.tls_port};transport=tls",
        )
        assert call.done.wait(15), f"the call did not end\n{proxy.log_tail()}"
        assert call.ended_by == "bot" and len(call.bot_speech) >= 2, call.bot_speech
        record = wait_for_record(line, phone.user)
        assert any(e.kind is EventKind.DTMF for e in record.events)
        bye = next(m for m in phone.received if m.is_request and m.method == "BYE")
        assert bye.top_via.transport == "TLS"  # the proxy's hop to the phone
        assert phone.transport.stats.connected == 1  # one connection, the phone's, for everything
    finally:
        proxy.close()


@pytest.mark.slow
@pytest.mark.parametrize("over", ["tcp", "tls"])
def test_a_line_registered_over_tcp_or_tls_takes_a_call_through_kamailio(
    open_line: LineMaker,
    tmp_path: Path,
    phones: Phones,
    caller_number: CallerNumbers,
    certificate: tuple[Path, Path],
    rendered_audio: Path,
    over: str,
) -> None:
    """``register_transport``: the line registers with Kamailio over TCP, or over TLS checking
    Kamailio's certificate against ``tls_ca``, on a connection of its own; its binding names that
    transport, so a caller dialing sip:ivr@kamailio is put through to it over it and hears the bot."""
    tls = over == "tls"
    if tls and not kamailio_tls_available():
        pytest.skip("Kamailio's TLS module is not installed")
    cert, key = certificate
    proxy = Kamailio(
        settings=KamailioSettings(
            fr_timer_ms=2000, tcp=True, tls_cert=cert if tls else None, tls_key=key if tls else None
        )
    )
    try:
        proxy.start()
        port = proxy.tls_port if tls else proxy.port
        line = open_line(
            flow=key_flow(tmp_path / "flow.yaml", "transports", key="1"),
            mode="register",
            registrar=proxy,
            server=f"{LOOPBACK}:{port}",
            register_transport=over,
            tls_bind=f"{LOOPBACK}:{free_port(LOOPBACK)}" if tls else None,  # its calls come back over TLS
            tls_cert=str(cert) if tls else None,
            tls_key=str(key) if tls else None,
            tls_ca=str(cert) if tls else None,  # Kamailio's certificate is checked against this
        )
        wait_registered(line)
        stats = line.line.transport.stats
        assert stats.connected == 1, "the REGISTER did not go over a connection of the line's own"
        phone = phones(LOOPBACK, caller_number())
        call = phone.call(proxy.address, [WaitForBot(), Press("1"), Silent(8)], uri=proxy.aor(LINE_USER))
        assert call.done.wait(15), f"the call did not end\n{proxy.log_tail()}"
        assert call.ended_by == "bot" and len(call.bot_speech) >= 2, call.bot_speech
        record = wait_for_record(line, phone.user)
        assert any(e.kind is EventKind.DTMF for e in record.events)
        assert stats.accepted + stats.connected >= 1 and stats.not_retransmitted == 0, stats
    finally:
        proxy.close()


def test_register_over_tls_without_a_tls_listener_is_refused_naming_the_fields() -> None:
    with pytest.raises(ValidationError, match='register_transport = "tls" needs tls_bind'):
        SipSettings(
            mode="register", server="127.0.0.1:5060", username="ivr", password="x", register_transport="tls"
        )


@pytest.mark.slow
def test_a_seat_whose_uri_says_transport_tcp_is_rung_and_bridged_over_tcp(
    open_line: LineMaker,
    tmp_path: Path,
    phones: Phones,
    caller_number: CallerNumbers,
    rendered_audio: Path,
) -> None:
    """The seat leg's INVITE goes over a connection the line opens; the seat's answers and the
    line's BYE use it too; the caller and the seat hear each other's tones across the bridge."""
    ports = allocate_rtp_range(20)
    seat = SeatPhone(
        "1002", rtp_ports=range(ports.low, ports.high + 1), answer_after_s=1.0, script=SEAT_SCRIPT
    )
    try:
        seat.start()
        seats_file = write_seats(tmp_path / "seats.yaml", seat, uri_params=";transport=tcp")
        desk = (REPO / "flows" / "desk.yaml").read_text(encoding="utf-8")
        line = open_line(flow=flow_file(tmp_path, desk), seats=seats_file)
        phone = phones(LOOPBACK, caller_number())
        call = phone.call(line.line.transport.address, CALLER_SCRIPT)
        talk_through(line, phone, call, seat)
        seat_call = seat.calls[0]
        assert seat_call.dialog.invite.top_via.transport == "TCP"
        assert len(tone_windows(seat_call.heard_audio, CALLER_HZ)) >= 5, "the seat hears the caller"
        assert len(tone_windows(call.heard_audio, SEAT_HZ)) >= 5, "the caller hears the seat"
        assert (line.line.transport.stats.connected, seat.transport.stats.accepted) == (1, 1)
    finally:
        seat.close()
        release_rtp_range(ports)


def test_a_request_sent_again_on_a_connection_is_not_retransmitted() -> None:
    """Timers A and E are for UDP: a request handed to the transport twice crosses a
    connection once, and twice over UDP."""
    inbox = Inbox()
    receiver = SipTransport((LOOPBACK, 0), inbox)
    sender = SipTransport((LOOPBACK, 0), Inbox())
    over_tcp = options(receiver.address[1], "r1")
    over_udp = options(receiver.address[1], "r2", transport="UDP")
    try:
        receiver.start()
        sender.start()
        for _ in range(2):
            sender.send(over_tcp, receiver.address)
            sender.send(over_udp, receiver.address)
        got = inbox.wait(4, timeout=1.0)
    finally:
        sender.stop()
        receiver.stop()
    assert sorted(s.transport for _, s in got) == ["TCP", "UDP", "UDP"], got
    assert sender.stats.not_retransmitted == 1
