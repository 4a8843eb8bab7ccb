"""CLI start-up: wall time of the commands people and cron run, against ``python -c pass``.

Each command runs as a fresh process (the installed ``copybot`` script), ``repeats`` times after
one warm-up run (so the OS file cache is warm for every command alike); the median is reported.
``status`` and ``health`` read a real database written by one ``watch --once`` cycle, and
``health`` checks a sandbox served on loopback without injected latency: this measures start-up,
not the network.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import Section
from copybot.config.loading import parse_settings
from copybot.daemon import watch
from copybot.sandbox import Sandbox, serve_in_thread

KEY_ENV = "BENCH_ETHERSCAN_KEY"


def _copybot() -> list[str]:
    script = Path(sys.executable).parent / "copybot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "copybot"]


def _time(cmd: list[str], env: dict[str, str], repeats: int) -> tuple[float, float, int]:
    """(median seconds, fastest seconds, exit code of the last run)."""
    subprocess.run(cmd, capture_output=True, env=env, timeout=60, check=False)  # warm-up
    times, code = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        code = subprocess.run(cmd, capture_output=True, env=env, timeout=60, check=False).returncode
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), code


def run(repeats: int = 5) -> Section:
    t0 = time.perf_counter()
    section = Section(
        "startup",
        "CLI start-up",
        f"Fresh processes, median of {repeats} runs after a warm-up, `status`/`health` on a database written by one "
        "`watch --once` cycle and a sandbox on loopback without injected latency (`health` waits for its "
        "upstream checks: that is part of its time).",
        ["command", "median ms", "fastest ms", "exit code", "over `python -c pass` ms", "x baseline"],
    )
    box = Sandbox(seed=4, leaders=3, markets=8)
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(box) as server:
        data = {
            "leaders": [{"address": a} for a in box.leaders],
            "source": {
                "start_block": box.latest_block(),
                "etherscan": {"url": server.urls["etherscan"], "api_key_env": KEY_ENV},
            },
            "clob": {"url": server.urls["clob"]},
            "gamma": {"url": server.urls["gamma"]},
            "storage": {"path": str(Path(tmp) / "copybot.db")},
        }
        config = Path(tmp) / "settings.yaml"
        config.write_text(yaml.safe_dump(data), encoding="utf-8")
        asyncio.run(watch(parse_settings(data, str(config), environ={}), box.api_key, once=True))
        env = {**os.environ, KEY_ENV: box.api_key}
        copybot = _copybot()
        commands = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("copybot --help", [*copybot, "--help"]),
            ("copybot status", [*copybot, "status", "--config", str(config)]),
            ("copybot status --json", [*copybot, "status", "--json", "--config", str(config)]),
            ("copybot health", [*copybot, "health", "--config", str(config)]),
        ]
        base = 0.0
        for name, cmd in commands:
            median_s, fastest_s, code = _time(cmd, env, repeats)
            base = base or median_s
            section.rows.append(
                [
                    f"`{name}`",
                    f"{median_s * 1000:.0f}",
                    f"{fastest_s * 1000:.0f}",
                    str(code),
                    f"{(median_s - base) * 1000:.0f}",
                    f"{median_s / base:.1f}x",
                ]
            )
            if name != "python -c pass":
                section.headline.append(
                    [
                        f"`{name}` wall time (median)",
                        f"{median_s * 1000:.0f} ms ({median_s / base:.1f}x `python -c pass`)",
                        "",
                        "",
                    ]
                )
            print("  " + " | ".join(section.rows[-1]), flush=True)
    section.seconds = time.perf_counter() - t0
    return section
