"""The shape of the repository, kept: pure rules, modules a reader can hold, tests that import helpers
(never each other)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "copybot"
MAX_LINES = 400

# What a pure module may import: values and arithmetic, nothing that reaches a network, a file,
# a database, a clock or another process.
PURE_STDLIB = {
    "__future__",
    "collections",
    "dataclasses",
    "decimal",
    "enum",
    "functools",
    "itertools",
    "math",
    "typing",
}
PURE_COPYBOT = {"copybot.errors", "copybot.models", "copybot.protocol", "copybot.config.settings", "copybot.rules"}
PURE_MODULES = sorted([*(PACKAGE / "rules").glob("*.py"), PACKAGE / "sources" / "decode.py"])


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def allowed(name: str) -> bool:
    if name.split(".")[0] in PURE_STDLIB:
        return True
    return any(name == pure or name.startswith(pure + ".") for pure in PURE_COPYBOT)


@pytest.mark.parametrize("path", PURE_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_rules_and_decoding_import_nothing_that_does_io(path: Path) -> None:
    impure = sorted(name for name in imported(path) if not allowed(name))
    assert impure == [], f"{path.relative_to(REPO)} imports {impure}: keep I/O out of the pure core"


def test_the_purity_check_would_catch_an_io_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import sqlite3\nfrom copybot.store import Store\nfrom decimal import Decimal\n")
    assert sorted(n for n in imported(module) if not allowed(n)) == ["copybot.store", "sqlite3"]


def test_no_module_is_longer_than_a_reader_can_hold() -> None:
    long = {
        str(p.relative_to(REPO)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: split them by responsibility"


def test_the_packages_are_the_pipeline_stages() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == {
        "config",
        "sources",
        "upstream",
        "rules",
        "trading",
        "brokers",
        "store",
        "ops",
        "cli",
        "sandbox",
    }
    for name in packages:  # each says what it holds
        assert ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8"))), name


def test_tests_import_helpers_from_tests_support_never_from_other_tests() -> None:
    offenders = {}
    for path in (REPO / "tests").rglob("*.py"):
        own_folder = f"tests.{path.parent.name}."
        bad = [
            name
            for name in imported(path)
            if name.startswith("tests.")
            and not name.startswith("tests.support")
            and not (name.startswith(own_folder) and not name.split(".")[-1].startswith("test_"))
        ]
        if bad:
            offenders[str(path.relative_to(REPO))] = bad
    assert offenders == {}


def test_the_formatter_lays_out_everything() -> None:
    """Code is reshaped (keyword arguments, smaller values) rather than fenced off from the formatter."""
    marker = "fmt: " + "skip"  # split, so this file does not count itself
    fenced = [
        f"{p.relative_to(REPO)}:{n}"
        for folder in ("copybot", "tests", "bench")
        for p in (REPO / folder).rglob("*.py")
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if marker in line
    ]
    assert fenced == []
