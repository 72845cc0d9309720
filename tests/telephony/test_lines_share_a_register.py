"""Several lines sharing one register in PostgreSQL (issue #12, part 4): a caller cut off on line A who
rings back on line B hears B apologise for the dropped call and carry on (handbook line 141)."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from ivr.call.events import EventKind, Outcome
from ivr.config import RecordsSettings
from ivr.demo.phone_script import HangUp, WaitForBot
from tests.postgres_cluster import PostgresCluster
from tests.telephony.conftest import CallerNumbers, LineMaker, started_phone, wait_for_record


@pytest.mark.slow
def test_a_caller_cut_off_on_line_a_hears_the_apology_on_line_b(
    open_line: LineMaker, postgres_cluster: PostgresCluster, caller_number: CallerNumbers
) -> None:
    shared = RecordsSettings(url=SecretStr(postgres_cluster.empty_register()))
    line_a, line_b = open_line(records=shared), open_line(records=shared)
    with started_phone(user=caller_number()) as phone:
        first = phone.call(line_a.line.transport.address, [WaitForBot(), HangUp()])  # gone mid-menu
        assert first.done.wait(30), "the first call did not end"
        dropped = wait_for_record(line_a, phone.user)
        assert dropped.outcome is Outcome.ABANDONED
        assert line_a.writer.flush(5)
        deadline = time.monotonic() + 5  # line B looks once a second
        while not line_b.recent.dropped_path(phone.user) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert line_b.recent.dropped_path(phone.user), "line B never learnt of the call cut off on line A"
        again = phone.call(line_b.line.transport.address, [WaitForBot(), HangUp()])
        assert again.done.wait(30), "the second call did not end"
    record = wait_for_record(line_b, phone.user)
    said = [e.detail.get("prompt") for e in record.events if e.kind is EventKind.PROMPT_STARTED]
    assert said[:1] == ["dropped_call.apology"], said
    assert not any(r.caller == phone.user for r in line_b.records[:-1])  # B had never seen this number
