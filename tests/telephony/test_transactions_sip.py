"""RFC 3261 §17 over real SIP: a caller the line refuses hears the refusal again until it ACKs."""

from __future__ import annotations

import itertools
import time

import pytest

from ivr.telephony.sip_message import SipMessage, request
from tests.telephony.conftest import LineMaker
from tests.telephony.raw_sip import RawCaller, RawDialog

TOLERANCE_S = 0.3  # the media clock's 20 ms grid, plus a loaded machine's scheduling


def ack_of_failure(dialog: RawDialog, failure: SipMessage) -> SipMessage:
    """§17.1.1.3: the ACK of a 3xx-6xx goes in the INVITE's transaction (its Via and branch)."""
    uri = dialog.invite.uri
    return request(
        "ACK",
        uri,
        via=dialog.invite.header("Via") or "",
        from_=dialog.invite.header("From") or "",
        to=f"<{uri}>;tag={failure.to_tag}",
        call_id=dialog.call_id,
        cseq=1,
    )


def refusals(raw: RawCaller, dialog: RawDialog, seconds: float, count: int) -> list[float]:
    """When each copy of the line's 503 to this INVITE arrived, for up to ``seconds`` or ``count`` copies."""
    times: list[float] = []
    deadline = time.monotonic() + seconds
    while len(times) < count and (left := deadline - time.monotonic()) > 0:
        for msg in raw.listen(left, lambda m: not m.is_request and m.status == 503):
            if not msg.is_request and msg.status == 503 and msg.call_id == dialog.call_id:
                times.append(raw.heard[-1].at)
                break
    return times


@pytest.mark.slow
def test_a_refused_caller_that_never_acks_hears_the_503_again_at_rfc_intervals_until_it_acks(
    open_line: LineMaker, raw: RawCaller
) -> None:
    line = open_line()
    line.line.refuse_new_calls()  # the line is draining: a new call gets 503
    target = line.line.transport.address
    dialog = raw.invite(target)
    times = refusals(raw, dialog, 6.0, count=4)
    assert len(times) == 4, f"the 503 came {len(times)} times in 6 s, not 4 (0, 0.5, 1.5, 3.5 s)"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap, rfc in zip(gaps, (0.5, 1.0, 2.0), strict=True):  # timer G: T1, doubling
        assert abs(gap - rfc) < TOLERANCE_S, f"resent after {gaps} s, the RFC says 0.5, 1, 2"
    last = next(h.message for h in reversed(raw.heard) if h.message.call_id == dialog.call_id)
    raw.send(ack_of_failure(dialog, last), target)
    # the next copy was due 4 s after the last one: none comes once the ACK is in
    late = refusals(raw, dialog, 4.0 + 1.0, count=1)
    assert late == [], "the 503 was resent after its ACK"
