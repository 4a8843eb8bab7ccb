"""Every captured payload in tests/fixtures loads, and each one has its provenance line in the README."""

from __future__ import annotations

import pytest

from tests.support.fixtures import FIXTURES, fixture_names, load_fixture

README = (FIXTURES / "README.md").read_text(encoding="utf-8")


def test_the_fixtures_are_there() -> None:
    # the decoding tests depend on these two real logs; an empty folder must not pass quietly
    assert {"log_v1_ctf_buy_maker.json", "log_v2_negrisk_buy_taker.json"} <= set(fixture_names())


@pytest.mark.parametrize("name", fixture_names())
def test_fixture_loads_and_is_documented(name: str) -> None:
    assert load_fixture(name) is not None
    assert f"| {name}" in README or f", {name}" in README, f"{name} has no provenance line in tests/fixtures/README.md"
