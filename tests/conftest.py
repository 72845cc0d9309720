"""Shared fixtures: the repository root, the handbook, and prompt audio rendered once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flows.loader import FlowFile, load_flow
from ivr.prompts.audio_store import PromptAudio
from ivr.prompts.player import PromptPlayer

REPO = Path(__file__).resolve().parents[1]
HANDBOOK = REPO.parent / "shared" / "handbook" / "front-desk-service-handbook.zh.txt"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def rendered_audio() -> Path:
    """The shipped catalog's audio, built as ``ivr prompts build`` does (a no-op when up to date)."""
    from ivr.prompts.build import build_locale

    build_locale(REPO, "zh-CN")
    return REPO / "audio" / "zh-CN"


@pytest.fixture(scope="session")
def player(rendered_audio: Path) -> PromptPlayer:
    return PromptPlayer(PromptAudio.open(REPO, "zh-CN"))


@pytest.fixture(scope="session")
def desk() -> FlowFile:
    return load_flow(REPO / "flows" / "desk.yaml")


@pytest.fixture(scope="session")
def hotel() -> FlowFile:
    return load_flow(REPO / "flows" / "hotel-booking.yaml")
