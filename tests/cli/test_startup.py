"""Start-up stays light: the commands people and cron run often import no web3, CLOB SDK or server."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from copybot.store import Store
from tests.support.sandbox import KEY_ENV, settings_dict, write_settings

HEAVY = ("web3", "polymarket", "uvicorn", "starlette")
PROBE = """
import json, sys
sys.argv = ["copybot", *json.loads(sys.argv[1])]
try:
    from copybot.cli.commands import main
    main()
except SystemExit:
    pass
finally:
    loaded = sorted({m.split(".")[0] for m in sys.modules})
    print("\\nLOADED " + json.dumps(loaded), file=sys.__stdout__)
"""


def loaded_by(*args: str, env: dict[str, str] | None = None) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("LOADED "))
    return set(json.loads(line.removeprefix("LOADED "))), result


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    db = tmp_path / "bot.db"
    Store.open(db).close()  # an initialised, empty database
    urls = {"etherscan": "http://127.0.0.1:9/e", "clob": "http://127.0.0.1:9/c", "gamma": "http://127.0.0.1:9/g"}
    return write_settings(tmp_path / "s.yaml", settings_dict(urls, [], db, 0))


def test_help_imports_nothing_heavy() -> None:
    loaded, result = loaded_by("--help")
    assert "watch" in result.stdout and "health" in result.stdout and "init" in result.stdout
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)


def test_status_imports_nothing_heavy(settings_file: Path) -> None:
    loaded, result = loaded_by("status", "--config", str(settings_file), "--json")
    assert '"mode": "paper"' in result.stdout, result.stderr
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)


def test_health_imports_neither_web3_nor_the_clob_sdk(settings_file: Path) -> None:
    import os

    env = {**os.environ, KEY_ENV: "k"}
    loaded, result = loaded_by("health", "--config", str(settings_file), "--timeout", "0.5", env=env)
    assert "FAIL  etherscan" in result.stdout, result.stdout + result.stderr  # nothing listens on port 9
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)
    assert sqlite3.connect(settings_file.parent / "bot.db").execute("PRAGMA integrity_check").fetchone()[0] == "ok"
