"""pytest fixtures for every test folder; the helpers themselves live in ``tests/support``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from copybot.clock import ManualClock
from copybot.store import Store
from tests.support.fixtures import load_fixture


@pytest.fixture
def fixture_json() -> Callable[[str], Any]:
    return load_fixture


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when told to (or when something sleeps on it)."""
    return ManualClock(start=1_790_000_000.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh store in a real SQLite file, migrated, closed afterwards."""
    opened = Store.open(tmp_path / "copybot.db")
    try:
        yield opened
    finally:
        opened.close()
