"""Shared, session-scoped renders of the hearing evaluation set (espeak-ng runs once)."""

from __future__ import annotations

import pytest

from ivr.hearing.eval_corpus import Clip, evaluation_set
from ivr.hearing.evaluation import Score, score


@pytest.fixture(scope="session")
def clips() -> tuple[Clip, ...]:
    return evaluation_set()


@pytest.fixture(scope="session")
def evaluation(clips: tuple[Clip, ...]) -> Score:
    return score(clips)
