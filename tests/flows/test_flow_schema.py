"""The flow language as an admin meets it: the published JSON Schema, defaults, durations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from ivr.commands.flow import schema_text
from ivr.flows.durations import parse_clock, parse_duration
from ivr.flows.schema import Answer, Flow, LineHandling


def test_published_schema_matches_the_flow_language(repo: Path) -> None:
    published = (repo / "schemas" / "flow.schema.json").read_text(encoding="utf-8")
    assert published == schema_text(), "run 'ivr flow schema' and commit schemas/flow.schema.json"
    schema = json.loads(published)
    assert schema["additionalProperties"] is False  # editors flag unknown keys too
    assert {"answer", "line", "hold", "steps", "tests"} <= set(schema["properties"])


def test_handbook_thresholds_are_the_defaults() -> None:
    line = LineHandling()
    assert [(r.after, r.say, r.then) for r in line.silence] == [
        (10.0, "silent.nudge", "continue"),
        (10.0, "silent.goodbye", "hangup"),
    ]
    assert [(r.after, r.say, r.then) for r in line.noise][1] == (10.0, "noisy.goodbye", "hangup")
    assert [r.say for r in line.linger] == ["anything_else", "anything_else", "goodbye"]
    flow = Flow.model_validate({"flow": "x", "steps": {"start": {"hangup": "goodbye"}}})
    assert flow.hold.every == 15.0
    assert flow.answer.at_s == 1.0  # the end of the first ring


@pytest.mark.parametrize(("rings", "at"), [(0, 0.0), (1, 1.0), (2, 6.0)])
def test_answering_before_the_third_ring_is_allowed(rings: int, at: float) -> None:
    assert Answer(rings=rings).at_s == at


def test_answering_at_the_third_ring_is_refused() -> None:
    with pytest.raises(ValidationError, match="before the third ring"):
        Answer(rings=3)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10.0), ("10", 10.0), ("500ms", 0.5), ("2min", 120.0), (1.5, 1.5), ("0.02s", 0.02)],
)
def test_durations_read_as_admins_write_them(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["ten", "-1s", "0.01s", True])
def test_bad_durations_are_refused(text: str | bool) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_clock_times_wrap_to_the_end_of_day() -> None:
    assert parse_clock("24:00").hour == 23
    with pytest.raises(ValueError, match="not a time of day"):
        parse_clock("8h50")
