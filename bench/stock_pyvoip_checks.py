"""Stock pyVoIP 1.6.8 failing where the desk line succeeds: checks run by hand, not in the test suite.

The product does not use pyVoIP; it is the baseline of the benchmarks. These
checks run stock pyVoIP (``bench/stock_pyvoip_bot.py``, through
``bench/stock_bot.py``) at a real Kamailio and show each defect the desk line's
tests in ``tests/telephony/test_desk_line_sip.py`` guard against; where cheap,
our line is run through the same steps beside it. A check that starts passing
on the stock side means the baseline changed.

The lines and the Kamailio come from the test suite's fixtures (``bench/conftest.py``).
Needs the bench extra, Kamailio and sipp::

    pip install -e '.[bench,test]'
    python3 bench/stock_pyvoip_checks.py          # or: python3 -m pytest bench/stock_pyvoip_checks.py
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stock_bot import StockBot, StockBotError  # noqa: E402  (bench/: this file's folder)

from ivr.line.open_line import OpenLine  # noqa: E402
from tests.telephony.conftest import LineMaker, wait_registered  # noqa: E402
from tests.telephony.harness.kamailio import Kamailio, KamailioSettings, kamailio_available  # noqa: E402
from tests.telephony.harness.sipp import run_sipp, sipp_available  # noqa: E402
from tests.telephony.test_desk_line_sip import desk_flow_answering_at_once  # noqa: E402

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("pyVoIP") is None,
        reason="stock pyVoIP is not installed: pip install -e '.[bench]'",
    ),
    pytest.mark.skipif(not kamailio_available(), reason="kamailio is not installed"),
    pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed"),
]

STOCK_USER = "seat1002"  # the stock bot's registration; 'ivr' is our register-mode line's


@pytest.fixture(scope="module")
def stock_bot(registrar: Kamailio) -> Iterator[StockBot]:
    """Stock pyVoIP 1.6.8, registered at the module's Kamailio as seat1002; stopped at the end."""
    with StockBot(registrar, user=STOCK_USER, seconds=3) as bot:
        yield bot


@pytest.fixture
def proxy_challenging_registrar() -> Iterator[Kamailio]:
    """A Kamailio of its own that challenges REGISTER with 407 Proxy Authentication Required."""
    with Kamailio(settings=KamailioSettings(register_challenge=407, fr_timer_ms=2000)) as server:
        yield server


@pytest.mark.slow
def test_stock_pyvoip_bot_answers_a_call_through_kamailio(registrar: Kamailio) -> None:
    with StockBot(registrar, seconds=10) as bot:
        result = run_sipp("uac_call_hold_bye", registrar.address, user=bot.user, pause_ms=200, timeout_s=10)
        assert result.ok, result.report() + "\n" + bot.tail()
        bot.wait_for("CALLER_HUNG_UP", timeout=5)
        assert bot.count("ANSWERED") == 1
        # pyVoIP answers one second after the INVITE, whatever the application does
        assert result.response_time_ms is not None and result.response_time_ms >= 900


@pytest.mark.slow
def test_stock_pyvoip_never_answers_a_caller_that_dials_it_directly(stock_bot: StockBot) -> None:
    """The paired failure: sipp straight to the stock bot's SIP port hears nothing back."""
    result = run_sipp("uac_call_hold_bye", stock_bot.address, user=STOCK_USER, pause_ms=100, timeout_s=2.5)
    assert not result.ok
    assert result.responses_heard() == [], result.messages


@pytest.mark.slow
def test_stock_pyvoip_answers_a_second_late_ours_as_configured(
    registrar: Kamailio, stock_bot: StockBot, open_line: LineMaker, tmp_path: Path
) -> None:
    """The same sipp call through the same Kamailio: stock pyVoIP ≥ 0.9 s, ours with ``rings: 0`` < 0.3 s."""
    stock = run_sipp("uac_call_hold_bye", registrar.address, user=STOCK_USER, pause_ms=100, timeout_s=8)
    assert stock.ok, stock.report() + "\n" + stock_bot.tail()
    assert stock.response_time_ms is not None and stock.response_time_ms >= 900

    line = open_line(flow=desk_flow_answering_at_once(tmp_path))
    ours = run_sipp("uac_call_hold_bye", line.line.transport.address, user="desk", pause_ms=100, timeout_s=8)
    assert ours.ok, ours.report()
    assert ours.response_time_ms is not None and ours.response_time_ms < 300


@pytest.mark.slow
def test_cancel_through_kamailio_fails_on_stock_pyvoip_and_passes_on_ours(
    registrar: Kamailio, stock_bot: StockBot, register_line: OpenLine
) -> None:
    stock = run_sipp("uac_cancel", registrar.address, user=STOCK_USER, pause_ms=200, timeout_s=4)
    assert not stock.ok, "stock pyVoIP handled CANCEL: the baseline changed"
    ours = run_sipp("uac_cancel", registrar.address, user="ivr", pause_ms=200, timeout_s=4)
    assert ours.ok, ours.report()


@pytest.mark.slow
def test_options_and_foo_time_out_on_stock_pyvoip_and_are_answered_by_ours(
    registrar: Kamailio, stock_bot: StockBot, register_line: OpenLine
) -> None:
    """Stock pyVoIP answers neither (``TODO: Add 400 Error``, SIP.py:952-953): Kamailio's
    transaction times out. Ours, registered at the same Kamailio, answers both."""
    for scenario in ("uac_options", "uac_unknown_method"):
        stock = run_sipp(scenario, registrar.address, user=STOCK_USER, timeout_s=3, recv_timeout_ms=2500)
        assert not stock.ok, f"stock pyVoIP answered {scenario}: the baseline changed"
        ours = run_sipp(scenario, registrar.address, user="ivr", timeout_s=3)
        assert ours.ok, ours.report()


@pytest.mark.slow
def test_a_407_on_register_is_answered_stock_pyvoip_never_registers(
    proxy_challenging_registrar: Kamailio, open_line: LineMaker
) -> None:
    """Stock pyVoIP answers only 401 on REGISTER (SIP.py:1700-1728): a registrar that asks with
    407 never sees its credentials and the stock bot reports FAILED. Ours answers 407 with
    Proxy-Authorization and is registered."""
    bot = StockBot(proxy_challenging_registrar, user=STOCK_USER, seconds=3)
    try:
        with pytest.raises(StockBotError) as refused:
            bot.start(timeout=8)  # waits for READY (registered), failing on FAILED
    finally:
        bot.stop()
    assert "FAILED" in str(refused.value)
    line = open_line(mode="register", registrar=proxy_challenging_registrar)
    wait_registered(line)
    options = run_sipp("uac_options", proxy_challenging_registrar.address, user="ivr", timeout_s=3)
    assert options.ok, options.report()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-p", "no:cacheprovider", *sys.argv[1:]]))
