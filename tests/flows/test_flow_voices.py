"""Each shipped flow speaks in its own name: the company desk never with the booking hotline's voice.

The hotline's scripts (handbook lines 92–147) end with its brand (号码百事通祝您愉快) and hand
callers to a 专业坐席; a company front desk (lines 30–39, 276–285) greets and says goodbye with
the company's name and puts callers through with 请您稍等 (line 283).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flows.checks import prompt_refs
from ivr.flows.conversation import compare, simulate
from ivr.flows.loader import load_flow
from ivr.hearing.line_classifier import LineClassifier
from ivr.prompts.catalog import Catalog, load_catalog
from ivr.prompts.player import PromptPlayer

REPO = Path(__file__).resolve().parents[2]
DESK = REPO / "flows" / "desk.yaml"
HOTLINE_WORDS = ("百事通", "坐席", "座席", "订房", "114")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(REPO / "prompts" / "zh-CN.yaml")


def test_nothing_the_desk_can_say_names_the_hotline(catalog: Catalog) -> None:
    flow = load_flow(DESK).flow
    spoken = {say.prompt for _, say in prompt_refs(flow)}
    assert "polite.anything_else" in spoken  # the desk's 征询语, line 28
    wrong = {
        p: catalog.filled(catalog.by_id[p])
        for p in sorted(spoken)
        if any(w in catalog.filled(catalog.by_id[p]) for w in HOTLINE_WORDS)
    }
    assert wrong == {}


def test_the_desks_callers_hear_the_company_name_and_never_the_hotlines(
    catalog: Catalog, player: PromptPlayer
) -> None:
    flow_file = load_flow(DESK)
    heard: set[str] = set()
    for test in flow_file.flow.tests:
        sim = simulate(flow_file.flow, player, LineClassifier(), test, DESK.parent)
        assert compare(test, sim) == [], test.name
        heard |= {h.prompt for h in sim.heard if h.prompt}
    words = {p: catalog.filled(catalog.by_id[p]) for p in heard}
    assert [p for p, w in words.items() if any(h in w for h in HOTLINE_WORDS)] == []
    assert "星海国际祝您愉快" in words["desk.silent.goodbye"]
    assert words["polite.anything_else"] == "您还有别的事吗?"


def test_the_hotline_still_speaks_with_its_brand(catalog: Catalog) -> None:
    flow = load_flow(REPO / "flows" / "hotel-booking.yaml").flow
    spoken = {say.prompt for _, say in prompt_refs(flow)}
    assert "silent.goodbye" in spoken and "transfer.to_seat" in spoken
    assert "星海百事通" in catalog.filled(catalog.by_id["silent.goodbye"])
