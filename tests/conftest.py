"""Shared test fixtures: the real third-party material in ../shared/fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("MODELHOUND_FIXTURES", REPO.parent / "shared" / "fixtures"))


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read or build the user's default zoo: the cache is a fresh folder."""
    os.environ["MODELHOUND_CACHE"] = str(tmp_path_factory.mktemp("modelhound-cache"))


def fixture_path(*parts: str) -> Path:
    """Path of a shared fixture file; fails loudly if the shared folder is missing."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path}: shared fixture missing (set MODELHOUND_FIXTURES)")
    return path


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The shared fixtures folder."""
    if not FIXTURES.is_dir():
        raise FileNotFoundError(f"{FIXTURES}: shared fixtures folder missing")
    return FIXTURES
