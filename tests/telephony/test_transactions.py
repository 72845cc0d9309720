"""RFC 3261 §17 timers as a telephony engineer checks them: when each message goes again, and when not."""

from __future__ import annotations

from ivr.telephony.sip_message import parse, request, response
from ivr.telephony.transactions import (
    T2,
    ClientTransaction,
    ServerTransaction,
    TxState,
    client_key,
    server_key,
)

PEER = ("127.0.0.1", 5062)
STEP = 0.01  # the owner's tick: 10 ms, finer than the media clock's 20 ms


def sent_at(tx: ClientTransaction | ServerTransaction, until: float, start: float = 0.0) -> list[float]:
    """The moments ``due`` hands something to resend, ticking every 10 ms from ``start`` to ``until``."""
    times = []
    for i in range(round((until - start) / STEP) + 1):
        now = round(start + i * STEP, 6)
        if tx.due(now) is not None:
            times.append(now)
    return times


def invite(transport: str = "UDP") -> bytes:
    return request(
        "INVITE",
        "sip:desk@127.0.0.1",
        via=f"SIP/2.0/{transport} 127.0.0.1:5070;branch=z9hG4bKabc;rport",
        from_="<sip:13900000000@127.0.0.1>;tag=f1",
        to="<sip:desk@127.0.0.1>",
        call_id="c1@127.0.0.1",
        cseq=1,
    ).serialize()


def test_a_486_is_resent_at_rfc_intervals_until_the_ack_then_stops() -> None:
    req = parse(invite())
    tx = ServerTransaction.of(req, PEER)
    busy = response(req, 486, "Busy Here", to_tag="t1").serialize()
    tx.respond(busy, 486, 0.0)
    assert sent_at(tx, 12.0) == [0.5, 1.5, 3.5, 7.5, 11.5]  # G: 0.5, 1, 2, 4, then T2
    assert tx.on_ack(12.0)
    assert sent_at(tx, 40.0, start=12.01) == []
    assert tx.state is TxState.TERMINATED and not tx.timed_out  # timer I (T4) has run out too


def test_a_486_never_acked_ends_at_timer_h_and_the_owner_is_told() -> None:
    req = parse(invite())
    tx = ServerTransaction.of(req, PEER)
    tx.respond(response(req, 486, "Busy Here", to_tag="t1").serialize(), 486, 0.0)
    times = sent_at(tx, 40.0)
    assert times[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    assert times[6:] == [19.5, 23.5, 27.5, 31.5]  # then H at 32 s: no more
    assert tx.timed_out and tx.terminated


def test_a_2xx_is_resent_until_its_ack_even_over_tcp() -> None:
    req = parse(invite("TCP"))
    tx = ServerTransaction.of(req, PEER)
    tx.respond(response(req, 200, "OK", to_tag="t1").serialize(), 200, 0.0)
    assert sent_at(tx, 4.0) == [0.5, 1.5, 3.5]  # §13.3.1.4: end to end, whatever the hop
    assert tx.on_ack(4.0) and tx.terminated
    assert not tx.on_ack(4.5)  # a second ACK is no news


def test_a_failure_is_not_resent_over_tcp() -> None:
    req = parse(invite("TCP"))
    tx = ServerTransaction.of(req, PEER)
    tx.respond(response(req, 486, "Busy Here", to_tag="t1").serialize(), 486, 0.0)
    assert sent_at(tx, 40.0) == []
    assert tx.timed_out  # no ACK within H all the same


def test_a_retransmitted_request_gets_the_last_response_again() -> None:
    req = parse(invite())
    tx = ServerTransaction.of(req, PEER)
    assert tx.again() is None  # nothing said yet: nothing to say again
    ringing = response(req, 180, "Ringing", to_tag="t1").serialize()
    tx.respond(ringing, 180, 0.0)
    assert tx.again() == ringing
    busy = response(req, 486, "Busy Here", to_tag="t1").serialize()
    tx.respond(busy, 486, 0.1)
    assert tx.again() == busy and tx.absorbed == 2


def test_a_non_invite_server_absorbs_retransmissions_until_timer_j() -> None:
    bye = request(
        "BYE",
        "sip:desk@127.0.0.1",
        via="SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKbye",
        from_="<sip:a@h>;tag=f1",
        to="<sip:b@h>;tag=t1",
        call_id="c1",
        cseq=2,
    )
    tx = ServerTransaction.of(bye, PEER)
    ok = response(bye, 200, "OK").serialize()
    tx.respond(ok, 200, 0.0)
    assert sent_at(tx, 31.9) == []  # a non-INVITE final is never resent on a timer
    assert tx.again() == ok
    tx.due(32.0)
    assert tx.terminated and not tx.timed_out and tx.again() is None


def test_an_unanswered_invite_is_resent_doubling_without_a_t2_cap() -> None:
    tx = ClientTransaction.start(invite(), PEER, 0.0, invite=True)
    times = sent_at(tx, 33.0)
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # intervals 0.5, 1, 2, 4, 8, 16 s
    assert tx.timed_out and tx.terminated  # timer B at 32 s


def test_a_provisional_stops_the_invite_retransmissions() -> None:
    tx = ClientTransaction.start(invite(), PEER, 0.0, invite=True)
    assert sent_at(tx, 2.0) == [0.5, 1.5]
    assert tx.on_response(180, 2.0)
    assert sent_at(tx, 120.0, start=2.01) == []
    assert not tx.timed_out  # B does not run once a provisional came: a phone may ring for minutes
    assert tx.on_response(486, 120.0) and not tx.on_response(486, 120.5)  # the resent 486 is old news
    tx.due(152.1)
    assert tx.terminated  # timer D (32 s)


def test_a_non_invite_is_resent_up_to_t2_then_at_t2_after_a_provisional() -> None:
    tx = ClientTransaction.start(b"BYE sip:x SIP/2.0\r\n\r\n", PEER, 0.0, invite=False)
    assert sent_at(tx, 16.0) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]  # 0.5, 1, 2, 4, 4, 4
    tx.on_response(100, 16.0)
    assert sent_at(tx, 28.0, start=16.01) == [19.5, 23.5, 27.5]  # every T2
    assert tx.next_deadline() == 31.5 and T2 == 4.0


def test_a_non_invite_times_out_at_timer_f_without_a_final() -> None:
    tx = ClientTransaction.start(b"BYE sip:x SIP/2.0\r\n\r\n", PEER, 0.0, invite=False)
    sent_at(tx, 32.0)
    assert tx.timed_out


def test_nothing_is_resent_over_tcp_by_a_client() -> None:
    for is_invite in (True, False):
        tx = ClientTransaction.start(invite("TCP"), PEER, 0.0, invite=is_invite, transport="TCP")
        assert sent_at(tx, 40.0) == []
        assert tx.timed_out  # B or F still tells the owner nobody answered


def test_a_final_to_a_non_invite_ends_it_after_t4_over_udp_at_once_over_tcp() -> None:
    udp = ClientTransaction.start(b"BYE", PEER, 0.0, invite=False)
    udp.on_response(200, 1.0)
    udp.due(5.9)
    assert not udp.terminated
    udp.due(6.0)
    assert udp.terminated and not udp.timed_out
    tcp = ClientTransaction.start(b"BYE", PEER, 0.0, invite=False, transport="TLS")
    tcp.on_response(200, 1.0)
    tcp.due(1.0)
    assert tcp.terminated


def test_responses_and_requests_match_their_transactions_per_17_1_3_and_17_2_3() -> None:
    req = parse(invite())
    ok = parse(response(req, 200, "OK", to_tag="t1").serialize())
    assert client_key(ok) == ("z9hG4bKabc", "INVITE")
    ack = parse(
        request(
            "ACK",
            "sip:desk@127.0.0.1",
            via="SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc",
            from_="<sip:13900000000@127.0.0.1>;tag=f1",
            to="<sip:desk@127.0.0.1>;tag=t1",
            call_id="c1@127.0.0.1",
            cseq=1,
        ).serialize()
    )
    assert server_key(ack) == server_key(req)  # the ACK of a failure matches its INVITE
    other = parse(invite().replace(b"127.0.0.1:5070", b"127.0.0.1:5071"))
    assert server_key(other) != server_key(req)  # the same branch from another sent-by is not it
