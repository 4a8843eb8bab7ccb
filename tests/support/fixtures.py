"""The real captured payloads in ``tests/fixtures`` (provenance in its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_fixture(name: str) -> Any:
    """A fixture file decoded as JSON (a fresh object on every call)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.json"))
