"""The command line: loads Settings, maps errors to exit codes (in one place), renders with rich.

Exit codes: 0 ok; 1 runtime failure (e.g. an upstream refuses our API key); 2 bad settings or
input; 130 interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from copybot import __version__
from copybot.errors import ConfigError, CopybotError, PermanentUpstreamError, StoreError

if TYPE_CHECKING:  # pydantic is not imported for --help
    pass

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Copy Polymarket leaders' trades (paper by default)."
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Settings file (default: $COPYBOT_CONFIG or ./settings.yaml)."),
]
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"copybot: error: {message}", err=True)
    return typer.Exit(code)


def exits(fn: F) -> F:
    """Map copybot's errors to exit codes with a one-line message: no tracebacks for expected failures."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConfigError, StoreError) as exc:
            raise fail(str(exc), 2) from None
        except PermanentUpstreamError as exc:
            raise fail(str(exc), 1) from None
        except CopybotError as exc:
            raise fail(str(exc), 1) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"copybot {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """copybot follows leader wallets on Polygon and copies their Polymarket fills."""


@app.command()
@exits
def watch(
    config: ConfigOpt = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0)] = None,
    once: Annotated[bool, typer.Option("--once", help="Run one cycle and exit.")] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    log_format: Annotated[
        str, typer.Option(help="text, or json: one object per line (ts, level, logger, msg, fields) for journald/Loki.")
    ] = "text",
    dashboard: Annotated[
        bool | None,
        typer.Option(
            "--dashboard/--no-dashboard", help="Live view instead of log lines (default: when stdout is a terminal)."
        ),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (0 = any free port).", min=0, max=65535)
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics server binds to.")] = "127.0.0.1",
    live_flag: Annotated[
        bool, typer.Option("--live", help="Trade real money. Also needs `mode: live` in the settings.")
    ] = False,
) -> None:
    """Run the copy loop: poll leaders, copy their fills, record a heartbeat each cycle.

    Under systemd (Type=notify) it reports READY, a watchdog ping with a STATUS line per cycle and
    STOPPING. SIGINT/SIGTERM: no new cycle starts, the current one may finish (30 s at most).
    """
    from copybot.config.loading import api_key, load_settings
    from copybot.daemon import watch as run_watch
    from copybot.ops.logs import FORMATS, LEVELS, setup_logging
    from copybot.ops.monitor import Monitor
    from copybot.ops.notify import Notifier
    from copybot.store.lock import WatchLock

    if log_level.upper() not in LEVELS:
        raise ConfigError(f"--log-level: {log_level!r} is not one of {', '.join(LEVELS)}")
    if log_format not in FORMATS:
        raise ConfigError(f"--log-format: {log_format!r} is not one of {', '.join(FORMATS)}")
    settings = load_settings(config)
    key = api_key(settings)
    from copybot.config.secrets import live_key

    wallet_key = live_key(settings, live_flag)
    live = sys.stdout.isatty() if dashboard is None else dashboard
    setup_logging(log_level, "json" if log_format == "json" else "text")
    stack = contextlib.ExitStack()
    stack.enter_context(WatchLock(settings.storage.path))  # before anything is logged or bound
    log = logging.getLogger("copybot.watch")
    log.info(
        "starting mode=%s leaders=%d source=%s poll=%ss db=%s",
        settings.mode,
        len(settings.leaders),
        settings.source.kind,
        settings.source.poll_interval_s,
        settings.storage.path,
    )
    if not settings.leaders:
        log.warning("no leaders configured: nothing will be copied (add some under `leaders:`)")
    with stack:
        metrics = None
        if metrics_port is not None:
            from copybot.ops.metrics import Metrics, MetricsServer

            metrics = Metrics()
            server = MetricsServer(metrics, metrics_host, metrics_port)
            stack.callback(server.close)
            log.info("metrics at %s", server.url)
        view = None
        if live:
            from copybot.cli.dashboard import Dashboard
            from copybot.cli.status import console

            view = stack.enter_context(Dashboard(console(True), settings.source.poll_interval_s))
        monitor = Monitor(dashboard=view, metrics=metrics, log_copies=view is None)
        cycles = asyncio.run(
            run_watch(
                settings,
                key,
                duration=duration,
                once=once,
                on_outcomes=monitor.outcomes,
                on_cycle=monitor.cycle,
                on_ready=monitor.ready,
                notifier=Notifier.from_env(),
                private_key=wallet_key,
            )
        )
    log.info("stopped after %d cycles", cycles)


@app.command()
@exits
def redeem(
    config: ConfigOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what waits to be redeemed; send nothing.")] = False,
) -> None:
    """Redeem resolved winning positions now, one transaction per market (live mode; a proxy, Safe or
    deposit wallet goes through Polymarket's relayer and needs its API key)."""
    from copybot.cli.redeem import redeem_resolved
    from copybot.config.loading import load_settings
    from copybot.config.secrets import live_secrets

    settings = load_settings(config)
    key = live_secrets(settings) if settings.mode == "live" and not dry_run else None
    if asyncio.run(redeem_resolved(settings, key, typer.echo)):
        raise typer.Exit(1)


@app.command()
@exits
def resume(config: ConfigOpt = None) -> None:
    """Lift a kill-switch pause (daily loss, failures in a row) so new BUYs are copied again."""
    from copybot.config.loading import load_settings
    from copybot.store import Store
    from copybot.trading.killswitch import resume as lift

    settings = load_settings(config)
    store = Store.open(settings.storage.path, create=False)
    try:
        was = lift(store)
    finally:
        store.close()
    typer.echo(f"resumed (was paused: {was})" if was else "not paused; failure count reset")


@app.command()
@exits
def health(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: healthy, checks.")] = False,
    max_age: Annotated[
        float | None,
        typer.Option(
            help="Fail if the last cycle is older than this many seconds (default: 3 x poll interval + 30).", min=0
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds each check may take.", min=0.1)] = 3.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Nothing on stdout: the exit code says it.")] = False,
) -> None:
    """Check settings, database, heartbeat and upstreams, all at once, for cron and monitors.

    Exit 0 healthy; 1 copybot is not working and a restart may help (not running, heartbeat stale,
    database unusable); 3 degraded, a restart would not help (an upstream failing, the kill switch on,
    the day's Etherscan budget spent); 2 bad settings. Each failing check is one line on stderr:
    `name: reason`. `--json` prints one object in every case, bad settings included.
    """
    import time

    from copybot.config.loading import api_key, load_settings, resolve_path
    from copybot.ops.health import Check, HealthReport, default_max_age, run_checks, settings_failure

    t0 = time.perf_counter()
    try:
        settings = load_settings(config)
        key = api_key(settings)
        wallet_key = None
        if settings.mode == "live":
            from copybot.config.secrets import live_secrets

            wallet_key = live_secrets(settings)  # a wrong funder/kind pair: exit 2
    except ConfigError as exc:
        if as_json and not quiet:
            typer.echo(json.dumps(settings_failure(str(exc)), indent=2))
        raise
    loaded = Check("settings", True, str(resolve_path(config)), (time.perf_counter() - t0) * 1000)
    limit = default_max_age(settings) if max_age is None else max_age
    checks = asyncio.run(run_checks(settings, key, max_age_s=limit, timeout_s=timeout, private_key=wallet_key)).checks
    report = HealthReport((loaded, *checks))
    if as_json and not quiet:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    elif not quiet:
        for c in report.checks:
            typer.echo(f"{'ok' if c.ok else 'FAIL':<5} {c.name:<11} {c.duration_ms:>7.1f} ms  {c.detail}")
        typer.echo({"healthy": "healthy", "restart": "unhealthy", "degraded": "degraded"}[report.status])
    for line in report.failures():
        typer.echo(line, err=True)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@app.command()
@exits
def init(
    path: Annotated[Path, typer.Option("--path", help="Where to write the settings file.")] = Path("settings.yaml"),
    leader: Annotated[
        list[str] | None, typer.Option("--leader", help="A leader's wallet address (repeat for more).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    storage: Annotated[
        str | None,
        typer.Option("--storage", help="The database file (storage.path); relative paths are from the file's folder."),
    ] = None,
) -> None:
    """Write a commented settings file; asks for leader addresses on a terminal when none are given."""
    from copybot.cli.init import ask_leaders, check_address, write_settings_file

    if path.exists() and not force:  # before asking anything
        raise ConfigError(f"{path}: already exists; not overwriting it (use --force to replace it)")
    addresses = [check_address(a) for a in leader or []]
    if not addresses and not sys.stdin.isatty():
        raise ConfigError(
            "--leader: no leader given, and no terminal to ask for one (pass --leader 0x... once per leader)"
        )
    if not addresses:
        addresses = ask_leaders(lambda q: str(typer.prompt(q, default="", show_default=False)), typer.echo)
    settings = write_settings_file(path, addresses, force=force, storage=storage)
    typer.echo(
        f"wrote {path} ({len(settings.leaders)} leaders). Next: put your Etherscan key in "
        f"${settings.source.etherscan.api_key_env}, review the file, then run: copybot watch --config {path}"
    )


@app.command()
@exits
def status(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (a stable contract).")] = False,
    limit: Annotated[int, typer.Option(help="How many recent copies to show (0 = all).", min=0)] = 50,
) -> None:
    """Show bankroll, leaders, recent copies, open positions and loop health from the database."""
    import time

    from copybot.cli.status import render, snapshot
    from copybot.config.loading import load_settings
    from copybot.store import Store

    settings = load_settings(config)
    store = Store.open_read_only(settings.storage.path)  # a reader: never writes, works beside watch
    try:
        data = snapshot(store, time.time(), limit)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        from copybot.cli.status import console

        render(data, console(sys.stdout.isatty()))


@app.command()
@exits
def demo(
    duration: Annotated[float, typer.Option(help="How long to run, in seconds.", min=1)] = 25.0,
    seed: Annotated[int, typer.Option(help="Sandbox seed (same seed, same market).")] = 7,
    leaders: Annotated[int, typer.Option(help="How many synthetic leaders to follow.", min=1, max=50)] = 3,
    workdir: Annotated[Path, typer.Option(help="Where the demo writes its settings and database.")] = Path("demo-run"),
) -> None:
    """Start the sandbox on loopback, copy its leaders in paper mode for a while, then show the status."""
    from copybot.cli.demo import run_demo

    run_demo(duration=duration, seed=seed, leaders=leaders, workdir=workdir, live=sys.stdout.isatty())


@app.command()
@exits
def sandbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).", min=0, max=65535)] = 8765,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same chain.")] = 1,
    leaders: Annotated[int, typer.Option(help="How many synthetic leaders trade.", min=0, max=10_000)] = 3,
    block_time: Annotated[float, typer.Option(help="Seconds per block.", min=0.05)] = 2.0,
    latency_ms: Annotated[float, typer.Option(help="Delay every upstream request by this much.", min=0)] = 0.0,
    fault_rate: Annotated[
        float,
        typer.Option(
            help="Fraction of each upstream's requests that fail: 40% 5xx, 20% 429, 20% rate-limit body "
            "(Etherscan; 5xx elsewhere), 10% timeouts, 10% malformed JSON.",
            min=0.0,
            max=1.0,
        ),
    ] = 0.0,
    rate_limit: Annotated[bool, typer.Option(help="Enforce Etherscan's 3 calls/s per API key.")] = True,
    rpc_max_range: Annotated[int, typer.Option(help="Most blocks per eth_getLogs call.", min=1)] = 1000,
    reorg_every: Annotated[int, typer.Option(help="Reorganise 1-3 blocks every N blocks (0 = never).", min=0)] = 0,
    rpc_block_timestamps: Annotated[
        bool,
        typer.Option(help="Put blockTimestamp in eth_getLogs records (most real nodes still leave it out)."),
    ] = True,
    position_markets: Annotated[
        int, typer.Option(help="How many markets trade on ExchangeV3 (Protocol V2 position ids).", min=0)
    ] = 0,
) -> None:
    """Serve the simulated Polymarket (Etherscan V2, JSON-RPC, CLOB, Gamma, relayer) on loopback until Ctrl-C."""
    from copybot.sandbox import Sandbox, mixed_faults, serve

    box = Sandbox(
        seed=seed,
        leaders=leaders,
        block_time_s=block_time,
        faults=mixed_faults(fault_rate, latency_ms),
        etherscan_rate_limit=3.0 if rate_limit else None,
        rpc_max_range=rpc_max_range,
        rpc_block_timestamps=rpc_block_timestamps,
        position_markets=position_markets,
        reorg_every=reorg_every,
    )

    def ready(urls: dict[str, str]) -> None:
        typer.echo(f"sandbox listening (seed {seed}, {leaders} leaders, block every {block_time}s)")
        for name, url in urls.items():
            typer.echo(f"  {name:<9} {url}")
        typer.echo(f"  api key   {box.api_key}")
        typer.echo("  leaders   " + " ".join(box.leaders[:10]) + (" …" if len(box.leaders) > 10 else ""))
        typer.echo(
            f"  faults    {fault_rate:.0%} of requests, latency {latency_ms:g} ms; "
            f"etherscan limit {'3/s' if rate_limit else 'off'}; rpc range {rpc_max_range}; "
            f"rpc log timestamps {'on' if rpc_block_timestamps else 'off'}; reorg every {reorg_every or 'never'}"
        )

    try:
        asyncio.run(serve(box, "127.0.0.1", port, ready))
    except KeyboardInterrupt:
        typer.echo("sandbox stopped")
    except OSError as exc:
        raise ConfigError(f"--port: cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None


def main() -> None:
    app()
