"""The dashboard renders (into a recording console) from a real run's status and cycle reports."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal
from pathlib import Path

import httpx
from rich.console import Console

from copybot.cli.dashboard import Dashboard, render
from copybot.cli.status import snapshot
from copybot.clock import ManualClock
from copybot.config.loading import parse_settings
from copybot.daemon import CycleReport, watch
from copybot.ops.monitor import Monitor
from copybot.sandbox import Sandbox
from copybot.store import Store
from tests.support.sandbox import URLS, settings_dict

TITLES = ("Cycle", "Leaders", "Recent copies", "Open positions", "Upstreams")


def recording() -> Console:
    return Console(record=True, width=160, file=io.StringIO())


def test_dashboard_follows_a_run_through_the_monitor(tmp_path: Path) -> None:
    clock = ManualClock()
    box = Sandbox(seed=5, leaders=2, markets=4, clock=clock, trade_prob=0.0)
    settings = parse_settings(
        settings_dict(URLS, box.leaders, tmp_path / "bot.db", box.latest_block() + 1), "t.yaml", environ={}
    )
    box.inject_fill(box.leaders[0], side="BUY", shares=Decimal(40))
    box.inject_fill(box.leaders[1], side="BUY", shares=Decimal(25))
    box.mine(1)
    console, reports = recording(), []
    with Dashboard(console, settings.source.poll_interval_s) as view:
        monitor = Monitor(dashboard=view, log_copies=False)

        def on_cycle(report: CycleReport) -> None:
            reports.append(report)
            monitor.cycle(report)

        cycles = asyncio.run(
            watch(
                settings,
                box.api_key,
                duration=1.0,
                clock=clock,
                on_outcomes=monitor.outcomes,
                on_cycle=on_cycle,
                on_ready=monitor.ready,
                transport=httpx.ASGITransport(app=box.app),
            )
        )
    assert cycles >= 2 and monitor.dashboard is view, "the dashboard failed and was switched off"
    text = console.export_text()
    for title in TITLES:
        assert title in text
    assert "copied" in text and "filled" in text  # a recent copy with its decision
    for part in ("poll", "execute", "manage", "etherscan", "clob", "gamma"):
        assert part in text

    # the pure renderer, on the final state: also fine before any cycle (report None)
    store = Store.open(settings.storage.path, create=False)
    try:
        status = snapshot(store, clock.now(), 12)
        trimmed = snapshot(store, clock.now(), 12, positions_limit=1)
    finally:
        store.close()
    for report in (reports[-1], None):
        console = recording()
        console.print(render(status, report, 0.25, console.width))
        out = console.export_text()
        assert all(title in out for title in TITLES)
        assert "L0" in out and "unrealized" in out

    # a dashboard lists only the newest positions; the money totals still cover all of them
    assert status["bankroll"]["open_positions"] == trimmed["bankroll"]["open_positions"] == 2
    assert [p["token_id"] for p in trimmed["positions"]] == [status["positions"][0]["token_id"]]
    assert trimmed["bankroll"] == status["bankroll"] and trimmed["leaders"] == status["leaders"]
    console = recording()
    console.print(render(trimmed, reports[-1], 0.25, console.width))
    assert "Open positions (1 most recent of 2)" in console.export_text()
