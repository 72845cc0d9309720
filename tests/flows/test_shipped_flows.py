"""What a caller can count on in the shipped flows, whatever step they are in."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flows.loader import load_flow

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "flows").glob("*.yaml"))


@pytest.mark.parametrize("path", [p for p in SHIPPED if p.name != "seats.yaml"], ids=lambda p: p.stem)
def test_pressing_0_in_any_listening_step_asks_for_a_person(path: Path) -> None:
    flow = load_flow(path).flow
    listening = {name: step for name, step in flow.steps.items() if step.listen is not None}
    assert listening
    for name, step in listening.items():
        assert step.listen is not None
        target = step.listen.keys.get("0")
        assert target is not None, f"{path.name}: step '{name}' does not take 0"
        assert flow.steps[target].transfer is not None, f"{path.name}: 0 in '{name}' goes to '{target}'"
