"""Shared fixtures: one engine over a copy of the bundled corpus per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the bundled corpus (tests may not touch the real one)."""
    dest = tmp_path_factory.mktemp("corpus") / "corpus"
    shutil.copytree(REPO / "corpus", dest)
    return dest


@pytest.fixture(scope="session")
def settings(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from bot.config import Settings

    return Settings(corpus_dir=corpus_dir, index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def engine(settings):
    from bot.engine import Engine

    return Engine.open(settings)
