"""Shared test helpers: where the real captured payloads live, and a loader for them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# tests/conftest.py -> parents[0] = tests, [1] = the repo, [2] = the directory holding shared/
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def load_fixture(name: str) -> Any:
    """A fixture file from shared/fixtures, decoded as JSON (a fresh object on every call)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def fixture_json() -> Callable[[str], Any]:
    return load_fixture
