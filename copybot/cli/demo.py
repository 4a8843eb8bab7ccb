"""``copybot demo``: the whole bot against the sandbox, on loopback, in paper mode.

Starts the sandbox on a free port, writes an ordinary settings file pointing at it (so the run
goes through exactly the code path of ``copybot watch``), shows what happens (the ``watch``
dashboard on a terminal, log lines otherwise), then prints the status summary.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import yaml

from copybot.cli.dashboard import Dashboard
from copybot.cli.status import console as status_console
from copybot.cli.status import renderables, snapshot
from copybot.config.loading import api_key, load_settings
from copybot.daemon import watch
from copybot.ops.logs import log_outcomes, setup_logging
from copybot.ops.monitor import Monitor
from copybot.protocol import CHAIN_ID
from copybot.sandbox import Sandbox, serve_in_thread
from copybot.store import Store

KEY_ENV = "COPYBOT_SANDBOX_ETHERSCAN_KEY"
HISTORY_BLOCKS = 15  # start this far behind the tip so the first cycle has something to copy


def demo_settings(box: Sandbox, urls: dict[str, str], db: Path) -> dict[str, object]:
    return {
        "mode": "paper",
        "leaders": [{"address": a, "label": f"leader-{i + 1}"} for i, a in enumerate(box.leaders)],
        "source": {
            "kind": "etherscan",
            "poll_interval_s": 2.0,
            "start_block": max(0, box.latest_block() - HISTORY_BLOCKS),
            "etherscan": {"url": urls["etherscan"], "chain_id": CHAIN_ID, "api_key_env": KEY_ENV},
        },
        "clob": {"url": urls["clob"]},
        "gamma": {"url": urls["gamma"]},
        "risk": {"sizing": "fixed", "fixed_usdc": 10, "max_slippage": "0.03", "max_trade_age_s": 120},
        "paper": {"starting_bankroll_usdc": 1000},
        "storage": {"path": str(db)},
    }


def run_demo(*, duration: float, seed: int, leaders: int, workdir: Path, live: bool) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    db = (workdir / "copybot-demo.db").resolve()  # the settings file is in workdir: an absolute path says it once
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    box = Sandbox(seed=seed, leaders=leaders, block_time_s=1.0, trade_prob=0.3)
    console = status_console(live)
    with serve_in_thread(box) as server:
        settings_path = workdir / "settings.yaml"
        settings_path.write_text(
            "# written by `copybot demo`: paper trading against the local sandbox\n"
            + yaml.safe_dump(demo_settings(box, server.urls, db), sort_keys=False),
            encoding="utf-8",
        )
        os.environ[KEY_ENV] = box.api_key
        settings = load_settings(settings_path)
        console.print(
            f"[bold]copybot demo[/]: sandbox at {server.base_url}, following {leaders} leaders for {duration:g}s "
            f"(settings: {settings_path})"
        )
        if live:
            setup_logging("WARNING")
            with Dashboard(console, settings.source.poll_interval_s) as view:
                monitor = Monitor(dashboard=view, log_copies=False)
                asyncio.run(
                    watch(
                        settings,
                        api_key(settings),
                        duration=duration,
                        on_outcomes=monitor.outcomes,
                        on_cycle=monitor.cycle,
                        on_ready=monitor.ready,
                    )
                )
        else:
            setup_logging("INFO")
            asyncio.run(watch(settings, api_key(settings), duration=duration, on_outcomes=log_outcomes))
    store = Store.open_read_only(db)
    try:
        status = snapshot(store, time.time(), limit=15)
        for item in renderables(status, console.width):
            console.print(item)
        console.print(f"\nInspect it yourself: copybot status --config {settings_path}")
    finally:
        store.close()
