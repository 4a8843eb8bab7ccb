"""The command line: loads Settings, maps errors to exit codes (in one place), renders with rich.

Exit codes: 0 ok; 1 runtime failure (e.g. an upstream refuses our API key); 2 bad settings or
input; 130 interrupted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from copybot import __version__
from copybot.errors import ConfigError, CopybotError, PermanentUpstreamError, StoreError

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
) -> None:
    """Run the copy loop: poll leaders, copy their fills, record a heartbeat each cycle."""
    from copybot.config import api_key, load_settings
    from copybot.daemon import watch as run_watch
    from copybot.logs import log_outcomes, setup_logging

    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"--log-level: {log_level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    settings = load_settings(config)
    key = api_key(settings)
    setup_logging(log_level)
    log = logging.getLogger("copybot.watch")
    log.info(
        "starting mode=%s leaders=%d source=%s poll=%ss db=%s",
        settings.mode, len(settings.leaders), settings.source.kind, settings.source.poll_interval_s,
        settings.storage.path,
    )  # fmt: skip
    if not settings.leaders:
        log.warning("no leaders configured: nothing will be copied (add some under `leaders:`)")
    cycles = asyncio.run(run_watch(settings, key, duration=duration, once=once, on_outcomes=log_outcomes))
    log.info("stopped after %d cycles", cycles)


@app.command()
@exits
def status(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (a stable contract).")] = False,
    limit: Annotated[int, typer.Option(help="How many recent copies to show (0 = all).", min=0)] = 50,
) -> None:
    """Show bankroll, leaders, recent copies, open positions and loop health from the database."""
    import time

    from copybot.config import load_settings
    from copybot.status import render, snapshot
    from copybot.store import Store

    settings = load_settings(config)
    store = Store.open(settings.storage.path, create=False)
    try:
        data = snapshot(store, time.time(), limit)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        from copybot.status import console

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
    from copybot.demo import run_demo

    run_demo(duration=duration, seed=seed, leaders=leaders, workdir=workdir, live=sys.stdout.isatty())


@app.command()
@exits
def sandbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).", min=0, max=65535)] = 8765,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same chain.")] = 1,
    leaders: Annotated[int, typer.Option(help="How many synthetic leaders trade.", min=0, max=10_000)] = 3,
    block_time: Annotated[float, typer.Option(help="Seconds per block.", min=0.05)] = 2.0,
) -> None:
    """Serve the simulated Polymarket (Etherscan V2, CLOB, Gamma) on loopback until Ctrl-C."""
    from copybot.sandbox import Sandbox, serve

    box = Sandbox(seed=seed, leaders=leaders, block_time_s=block_time)

    def ready(urls: dict[str, str]) -> None:
        typer.echo(f"sandbox listening (seed {seed}, {leaders} leaders, block every {block_time}s)")
        for name, url in urls.items():
            typer.echo(f"  {name:<9} {url}")
        typer.echo(f"  api key   {box.api_key}")
        typer.echo("  leaders   " + " ".join(box.leaders[:10]) + (" …" if len(box.leaders) > 10 else ""))

    try:
        asyncio.run(serve(box, "127.0.0.1", port, ready))
    except KeyboardInterrupt:
        typer.echo("sandbox stopped")
    except OSError as exc:
        raise ConfigError(f"--port: cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None


def main() -> None:
    app()
