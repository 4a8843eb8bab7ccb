"""`copybot health`: against a served sandbox after a short `watch` run, and check by check in process."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from copybot.clock import ManualClock
from copybot.config.loading import parse_settings
from copybot.config.settings import Settings
from copybot.ops.health import Check, HealthReport, run_checks
from copybot.sandbox import RunningSandbox, Sandbox, serve_in_thread
from copybot.store import CycleStats, Store
from tests.support.cli import run_cli
from tests.support.sandbox import KEY_ENV, sandbox_settings, settings_dict


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSandbox, Path]]:
    """A sandbox and the settings of a bot that has just run two cycles against it."""
    box = Sandbox(seed=21, leaders=2, block_time_s=0.25, trade_prob=0.5)
    with serve_in_thread(box) as server:
        cfg = sandbox_settings(tmp_path_factory.mktemp("health"), server)
        ran = run_cli("watch", "--config", str(cfg), "--duration", "0.4", env={KEY_ENV: box.api_key})
        assert ran.returncode == 0, ran.stderr
        yield server, cfg


def test_healthy_after_a_watch_run(served: tuple[RunningSandbox, Path]) -> None:
    server, cfg = served
    result = run_cli("health", "--config", str(cfg), "--json", env={KEY_ENV: server.sandbox.api_key})
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["healthy"] is True
    names = [c["name"] for c in data["checks"]]
    assert names == ["settings", "database", "heartbeat", "kill_switch", "budget", "etherscan", "clob", "gamma"]
    assert (data["status"], data["exit_code"]) == ("healthy", 0)
    for c in data["checks"]:
        assert set(c) == {"name", "ok", "detail", "duration_ms"} and c["ok"], c
    assert result.stderr == ""


def test_old_heartbeat_is_unhealthy_with_one_line(served: tuple[RunningSandbox, Path]) -> None:
    server, cfg = served
    result = run_cli("health", "--config", str(cfg), "--max-age", "0.001", env={KEY_ENV: server.sandbox.api_key})
    assert result.returncode == 1, "the loop is not cycling: a restart may help"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("heartbeat: last cycle "), result.stderr
    assert "FAIL  heartbeat" in result.stdout and "unhealthy" in result.stdout


def test_invalid_key_is_named_and_never_printed(served: tuple[RunningSandbox, Path]) -> None:
    _, cfg = served
    secret = "wrong-key-0123456789abcdef"
    for extra in ([], ["--json"], ["--quiet"]):
        result = run_cli("health", "--config", str(cfg), *extra, env={KEY_ENV: secret})
        assert result.returncode == 3, "an upstream refusing the key: restarting copybot changes nothing"
        assert "etherscan: Invalid API Key" in result.stderr.splitlines()
        assert secret not in result.stdout + result.stderr
    assert result.stdout == ""  # --quiet


def test_broken_settings_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("risk:\n  max_slippage: 2\n", encoding="utf-8")
    result = run_cli("health", "--config", str(cfg), "--quiet", env={KEY_ENV: "k"})
    assert result.returncode == 2
    assert result.stderr.startswith("copybot: error: ") and "risk.max_slippage" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    as_json = run_cli("health", "--config", str(cfg), "--json", env={KEY_ENV: "k"})
    assert as_json.returncode == 2
    data = json.loads(as_json.stdout)  # JSON in every case, for the monitor that parses it
    assert (data["healthy"], data["status"], data["exit_code"]) == (False, "bad settings", 2)
    [check] = data["checks"]
    assert check["name"] == "settings" and not check["ok"] and "risk.max_slippage" in check["detail"]


# ---- in process: each check on its own ---------------------------------------------------------
def _settings(tmp_path: Path, **over: object) -> Settings:
    urls = {"etherscan": "http://up/etherscan", "clob": "http://up/clob", "gamma": "http://up/gamma"}
    data = settings_dict(urls, [], tmp_path / "none.db", 0)
    data.update(over)
    return parse_settings(data, "t.yaml", environ={})


def _check(report: HealthReport, name: str) -> Check:
    return next(c for c in report.checks if c.name == name)


def test_checks_run_concurrently_each_with_its_timeout(tmp_path: Path) -> None:
    """No upstream answers until every upstream request has arrived: checks run one after another
    would wait for ever (and time out); together they pass. Gamma then never answers at all."""
    arrived, everyone_in = 0, asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal arrived
        arrived += 1
        if arrived == 4:  # etherscan, clob / and /version, gamma
            everyone_in.set()
        await everyone_in.wait()
        if request.url.path.startswith("/gamma"):
            await asyncio.Event().wait()  # hangs: only this check times out
        if request.url.path == "/clob/version":
            return httpx.Response(200, json={"version": 1})
        if request.url.path == "/etherscan":
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": "0x10"})
        return httpx.Response(200, json="OK")

    settings = _settings(tmp_path)
    transport = httpx.MockTransport(handler)
    report = asyncio.run(run_checks(settings, "sekrit", max_age_s=10, timeout_s=0.5, transport=transport))
    assert _check(report, "etherscan").detail == "key valid, block 16"
    assert "expected CLOB version 2" in _check(report, "clob").detail
    assert _check(report, "gamma").detail == "timed out after 0.5s"
    assert _check(report, "database").detail.startswith("no database at")
    assert not report.healthy


def test_upstream_errors_carry_no_query_string_or_key(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/etherscan":
            raise httpx.ConnectError(f"cannot reach {request.url}", request=request)
        return httpx.Response(503, text=str(request.url))

    transport = httpx.MockTransport(handler)
    report = asyncio.run(
        run_checks(_settings(tmp_path), "sekrit-key", max_age_s=10, transport=transport, clock=ManualClock())
    )
    text = json.dumps(report.as_dict())
    assert "sekrit-key" not in text and "apikey" not in text and "chainid=" not in text
    assert _check(report, "etherscan").detail == "GET http://up/etherscan: connection failed (ConnectError)"
    assert _check(report, "gamma").detail == "GET /markets: HTTP 503"


def test_database_checks_schema_without_touching_the_file(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    sqlite3.connect(db).close()  # an empty database: schema v0
    before = db.read_bytes()
    settings = _settings(tmp_path, storage={"path": str(db)})
    ok = httpx.MockTransport(lambda request: httpx.Response(200, json="OK"))
    report = asyncio.run(run_checks(settings, "k", max_age_s=10, timeout_s=1, transport=ok))
    assert "schema v0, expected v" in _check(report, "database").detail
    assert "cannot read" in _check(report, "heartbeat").detail
    assert db.read_bytes() == before, "health must open the database read-only"


def test_rpc_source_is_checked_instead_of_etherscan_without_showing_its_url(tmp_path: Path) -> None:
    rpc_url = "http://node.example/v2/secret-key-in-path"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "node.example":
            body = json.loads(request.content)
            assert body["method"] == "eth_blockNumber"
            return httpx.Response(502, text=f"bad gateway for {request.url}")
        return httpx.Response(200, json="OK")

    settings = _settings(tmp_path, source={"kind": "rpc", "rpc": {"url": rpc_url}})
    transport = httpx.MockTransport(handler)
    report = asyncio.run(run_checks(settings, "", max_age_s=10, transport=transport, clock=ManualClock()))
    names = [c.name for c in report.checks]
    assert "rpc" in names and "etherscan" not in names
    assert _check(report, "rpc").detail == "POST: HTTP 502"
    assert "secret-key-in-path" not in json.dumps(report.as_dict())


def test_a_kill_switch_pause_is_unhealthy_until_resumed(served: tuple[RunningSandbox, Path]) -> None:
    server, cfg = served
    db = yaml_db(cfg)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE risk_state SET paused_reason = 'daily loss 51 reached daily_loss_limit_usdc 50'")
    env = {KEY_ENV: server.sandbox.api_key}
    result = run_cli("health", "--config", str(cfg), env=env)
    assert result.returncode == 3, "paused until midnight or `copybot resume`: a restart would change nothing"
    assert result.stdout.strip().endswith("degraded")
    assert result.stderr.strip().splitlines() == [
        "kill_switch: new BUYs paused: daily loss 51 reached daily_loss_limit_usdc 50 (`copybot resume` lifts it)"
    ]
    resumed = run_cli("resume", "--config", str(cfg), env=env)
    assert resumed.returncode == 0 and "daily loss 51" in resumed.stdout
    assert run_cli("health", "--config", str(cfg), env=env).returncode == 0


def yaml_db(cfg: Path) -> str:
    import yaml

    return str(yaml.safe_load(cfg.read_text())["storage"]["path"])


def test_live_wallet_balance_and_allowance(tmp_path: Path) -> None:
    from decimal import Decimal

    from eth_account import Account

    box = Sandbox(seed=5, leaders=0, trade_prob=0.0, noise_prob=0.0)
    funded, empty = Account.create(), Account.create()
    box.fund(funded.address, Decimal(50))
    with serve_in_thread(box) as server:
        data = settings_dict(server.urls, [], tmp_path / "live.db", 1)
        data["mode"] = "live"
        settings = parse_settings(data, "live.yaml", environ={})

        def wallet(key: str) -> Check:
            report = asyncio.run(run_checks(settings, box.api_key, max_age_s=60, private_key=key))
            [check] = [c for c in report.checks if c.name == "wallet"]
            for c in report.checks:
                assert key.removeprefix("0x") not in c.detail
            return check

        ok = wallet(funded.key.hex())
        broke = wallet(empty.key.hex())
    assert ok.ok, ok.detail
    assert ok.detail == (
        f"an EOA {funded.address}: balance 50.00 pUSD, allowances set, outcome tokens not checked (none held)"
    )
    assert not broke.ok and "no pUSD" in broke.detail


@pytest.mark.parametrize(
    ("failing", "status", "code"),
    [
        ((), "healthy", 0),
        (("gamma",), "degraded", 3),
        (("kill_switch", "budget", "etherscan"), "degraded", 3),
        (("heartbeat",), "restart", 1),
        (("database", "clob"), "restart", 1),
        (("gamma", "heartbeat"), "restart", 1),
    ],
)
def test_what_a_failure_means_to_cron(failing: tuple[str, ...], status: str, code: int) -> None:
    names = ("settings", "database", "heartbeat", "kill_switch", "budget", "etherscan", "clob", "gamma")
    report = HealthReport(tuple(Check(n, n not in failing, "x", 1.0) for n in names))
    assert (report.status, report.exit_code) == (status, code)
    assert report.as_dict()["status"] == status and report.as_dict()["exit_code"] == code


def test_a_spent_etherscan_budget_is_degraded(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    store = Store.open(db)
    try:
        source = {"kind": "etherscan", "calls_today": 100_000, "daily_budget": 100_000}
        store.record_cycle(CycleStats(1.0, 5.0, 0, 0, 1, 0, 0, {"source": source}))
    finally:
        store.close()
    ok = httpx.MockTransport(lambda request: httpx.Response(200, json="OK"))
    settings = _settings(tmp_path, storage={"path": str(db)})
    report = asyncio.run(run_checks(settings, "k", max_age_s=10**10, transport=ok, clock=ManualClock()))
    assert _check(report, "budget").detail == (
        "daily Etherscan budget used up (100000 of 100000 calls); polling resumes at 00:00 UTC"
    )
    assert _check(report, "heartbeat").ok and report.status == "degraded"
