"""Shared fixtures: the repository root, the handbook, prompt audio rendered once per session, and the
register's store on both back ends (``store``: an SQLite file, then a real PostgreSQL server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.flows.loader import FlowFile, load_flow
from ivr.prompts.audio_store import PromptAudio
from ivr.prompts.player import PromptPlayer
from tests.postgres_cluster import PostgresCluster

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


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One real PostgreSQL server for the whole session (see tests/postgres_cluster.py)."""
    with PostgresCluster.running() as cluster:
        cluster.prepare_register()
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Where a register lives, once per back end: an SQLite file, then an empty register in PostgreSQL."""
    if request.param == "sqlite":
        yield tmp_path / "var" / "ivr.db"  # a folder not there yet: the register makes it
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    yield cluster.empty_register()
