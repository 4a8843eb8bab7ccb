"""Secrets: after a full live run on the sandbox at --log-level DEBUG, the wallet's private key, the
CLOB API secret and passphrase derived from it, and the Etherscan API key appear nowhere: not in
any log line, `status`, `status --json`, `health --json`, the metrics page, or the bytes of the
database and its -wal / -shm files (read while `watch` runs and after it stopped).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from copybot.sandbox import Sandbox, serve_in_thread
from tests.reliability.helpers import Watch, connect, no_tracebacks
from tests.support.cli import run_cli
from tests.support.live import sdk_client
from tests.support.sandbox import KEY_ENV, settings_dict, write_settings

RUN_S = 12


def database_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists())


def scrape_while_running(run: Watch, db: Path) -> tuple[list[str], list[bytes], bool]:
    """Wait for the "metrics at" log line, then scrape the page and copy the database files a few
    times while the run goes on (the -wal file is gone once the last connection closes)."""
    deadline, url = time.monotonic() + 30, ""
    while not url and time.monotonic() < deadline:
        for line in run.stderr_path.read_text(errors="replace").splitlines():
            if "metrics at " in line:
                url = line.split("metrics at ", 1)[1].strip()
        time.sleep(0.1)
    assert url.startswith("http://127.0.0.1:"), run.output()
    pages, files, wal_seen = [], [], False
    while run.proc.poll() is None:
        try:
            pages.append(httpx.get(url, timeout=2).text)
        except httpx.TransportError:
            break  # stopping
        files.append(database_bytes(db))
        wal_seen = wal_seen or Path(f"{db}-wal").exists()
        time.sleep(1.5)
    return pages, files, wal_seen


@pytest.mark.reliability
@pytest.mark.timeout(600)
def test_no_secret_in_logs_status_health_metrics_or_database(tmp_path: Path) -> None:
    etherscan_key = "es-" + secrets.token_hex(16)
    box = Sandbox(seed=83, leaders=2, markets=4, block_time_s=0.25, trade_prob=0.6, api_key=etherscan_key)
    account = Account.create()
    body = account.key.hex().removeprefix("0x")
    key = "0x" + body
    logs, db = tmp_path / "logs", tmp_path / "live.db"
    with serve_in_thread(box) as server:
        box.fund(account.address, Decimal(5_000))
        data = settings_dict(server.urls, box.leaders, db, max(0, box.latest_block() - 20))
        data["mode"] = "live"
        cfg = write_settings(tmp_path / "settings.yaml", data)
        env = {KEY_ENV: etherscan_key, "COPYBOT_PRIVATE_KEY": key}
        args = ("--live", "--duration", str(RUN_S), "--log-level", "DEBUG", "--metrics-port", "0")
        run = Watch(cfg, env, logs, "live", args)
        pages, files, wal_seen = scrape_while_running(run, db)
        assert run.wait(timeout=RUN_S + 60) == 0, run.output()[-3000:]
        outputs = {
            "status": run_cli("status", "--config", str(cfg), env=env),
            "status --json": run_cli("status", "--config", str(cfg), "--json", "--limit", "0", env=env),
            "health --json": run_cli("health", "--config", str(cfg), "--json", env=env),
        }
        with sdk_client(server.urls, key, account.address) as client:  # the credentials the run derived
            creds = client.credentials
        assert box.clob.keys.of(account.address.lower()) == [creds.key]  # the one key there is: the run's
        # the JSON logs too: another short run, so both formats are covered
        json_run = Watch(
            cfg, env, logs, "live-json", ("--live", "--once", "--log-level", "DEBUG", "--log-format", "json")
        )
        assert json_run.wait(timeout=60) == 0, json_run.output()[-3000:]

    for name, result in outputs.items():
        assert result.returncode == 0, (name, result.stdout, result.stderr)
    no_tracebacks(logs)
    conn = connect(db)
    try:
        copies = conn.execute("SELECT COUNT(*) FROM decisions WHERE decision = 'filled'").fetchone()[0]
    finally:
        conn.close()
    assert copies >= 3, "the run should have copied a few fills with real signed orders"
    assert pages and any("copybot_orders_total" in p for p in pages)
    assert files and wal_seen, "the database and its -wal file should have been read while watch ran"

    texts = {path.name: path.read_text(errors="replace") for path in sorted(logs.iterdir())}
    texts |= {name: r.stdout + r.stderr for name, r in outputs.items()}
    texts |= {f"metrics page {i}": page for i, page in enumerate(pages)}
    texts["settings.yaml"] = cfg.read_text()
    blobs = {f"database files {i}": b for i, b in enumerate(files)} | {"database files after": database_bytes(db)}
    forbidden = {
        "private key": [key, body, body.upper()],
        "API secret": [creds.secret],
        "API passphrase": [creds.passphrase],
        "Etherscan API key": [etherscan_key],
    }
    assert all(len(v) >= 16 for values in forbidden.values() for v in values)
    assert any("DEBUG" in text for text in texts.values()), "the run should have logged at DEBUG"
    for what, values in forbidden.items():
        for value in values:
            for where, text in texts.items():
                assert value not in text, f"the {what} appears in {where}"
            for where, blob in blobs.items():
                assert value.encode() not in blob, f"the {what} appears in the {where}"
    raw = bytes.fromhex(body)
    for where, blob in blobs.items():
        assert raw not in blob, f"the private key's raw bytes appear in the {where}"


def test_http2_header_logging_is_silenced_at_debug() -> None:
    """Over https the CLOB SDK's client speaks HTTP/2, whose header compression (hpack) logs every
    header value at DEBUG, including the L2 POLY_PASSPHRASE header: copybot's logging keeps it quiet."""
    secret = "passphrase-" + secrets.token_hex(12)
    script = (
        "from copybot.ops.logs import setup_logging; setup_logging('DEBUG'); import logging, hpack; "
        f"hpack.Encoder().encode([(b'poly_passphrase', b'{secret}')]); "
        "logging.getLogger('copybot.test').debug('debug logging is on')"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "debug logging is on" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_rpc_url_credentials_stay_out_of_debug_logs(tmp_path: Path) -> None:
    """Node providers put the API key in the RPC URL (…/v2/<key>, ?apikey=…); web3 logs the URL
    and every raw answer at DEBUG. `watch --log-level DEBUG` must not print it (health's messages
    already never show the URL)."""
    node_key = "node-" + secrets.token_hex(16)
    box = Sandbox(seed=89, leaders=2, markets=4, block_time_s=0.25, trade_prob=0.6)
    with serve_in_thread(box) as server:
        data = settings_dict(server.urls, box.leaders, tmp_path / "rpc.db", max(0, box.latest_block() - 10))
        data["source"]["kind"] = "rpc"
        data["source"]["rpc"] = {"url": f"{server.urls['rpc']}?apikey={node_key}"}
        cfg = write_settings(tmp_path / "settings.yaml", data)
        run = Watch(cfg, {}, tmp_path / "logs", "rpc", ("--once", "--log-level", "DEBUG"))
        assert run.wait(timeout=60) == 0, run.output()[-3000:]
        status = run_cli("status", "--config", str(cfg), "--json", "--limit", "0")
    output = run.output()
    assert "DEBUG" in output and status.returncode == 0
    assert node_key not in output + status.stdout + status.stderr
    assert json.loads(status.stdout)["stats"]["upstreams"]["rpc"]["calls"] > 0
