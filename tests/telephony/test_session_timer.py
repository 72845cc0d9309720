"""RFC 4028 negotiation at the UAS, and when a session runs out, in plain numbers."""

from __future__ import annotations

import pytest

from ivr.telephony.session_timer import SessionTimer, negotiate
from ivr.telephony.sip_message import SipMessage, request


def invite(**headers: str) -> SipMessage:
    msg = request(
        "INVITE",
        "sip:desk@127.0.0.1",
        via="SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-st",
        from_="<sip:13900000000@127.0.0.1>;tag=a",
        to="<sip:desk@127.0.0.1>",
        call_id="st@127.0.0.1",
        cseq=1,
    )
    for name, value in headers.items():
        msg = msg.with_header(name.replace("_", "-"), value)
    return msg


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),  # nobody asked
        ({"Supported": "timer"}, None),  # supported, not asked: we do not insert one
        ({"Session_Expires": "1800", "Supported": "timer"}, SessionTimer(1800, "uac", True)),
        ({"Session_Expires": "1800;refresher=uas", "Supported": "timer"}, SessionTimer(1800, "uas", True)),
        ({"Session_Expires": "1800"}, SessionTimer(1800, "uas", False)),  # a proxy asked; only we can refresh
        ({"Session_Expires": "1800;refresher=uac"}, SessionTimer(1800, "uas", False)),
        ({"Session_Expires": "60", "Supported": "timer"}, 90),  # under our Min-SE: 422
        ({"Session_Expires": "100", "Min_SE": "120"}, 120),  # under the request's own Min-SE
        ({"Session_Expires": "soon"}, None),
    ],
)
def test_what_an_invite_asks_for_is_what_the_200_says(
    headers: dict[str, str], expected: SessionTimer | int | None
) -> None:
    assert negotiate(invite(**headers), 90) == expected


def test_the_caller_refreshes_and_the_line_hangs_up_a_third_before_the_expiry() -> None:
    timer = SessionTimer(90, "uac", True, refreshed_at=100.0)
    assert timer.headers() == [("Session-Expires", "90;refresher=uac"), ("Require", "timer")]
    assert timer.expires_at() == 160.0 and timer.refresh_at() is None
    timer.refreshed(invite(Session_Expires="1800;refresher=uas"), 200.0)  # a refresh with a new interval
    assert (timer.interval, timer.refresher) == (1800, "uas")
    assert timer.expires_at() == 200.0 + 1800 - 32 and timer.refresh_at() == 200.0 + 900
