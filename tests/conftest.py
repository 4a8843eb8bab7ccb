"""pytest fixtures for every test folder; the helpers themselves live in ``tests/support``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.fixtures import load_fixture


@pytest.fixture
def fixture_json() -> Callable[[str], Any]:
    return load_fixture
