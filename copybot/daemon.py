"""The watch loop: a fixed-period cycle of poll -> store -> copy -> mark -> heartbeat.

A cycle never half-applies: new fills and the cursors covering them are stored together, and
decisions are stored per batch. Stopping (SIGINT/SIGTERM sets ``stop``) waits for the current
cycle to end. A permanent upstream error (bad API key) ends the loop with that error recorded.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from copybot.app import App, build_app
from copybot.clock import Clock
from copybot.config import Settings
from copybot.errors import PermanentUpstreamError, TransientError
from copybot.models import CopyOutcome
from copybot.positions import mark_positions
from copybot.store import CycleStats

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    stats: CycleStats
    new_fills: int
    latest_block: int
    deferred: int
    phases: dict[str, float] = field(default_factory=dict)  # seconds spent in poll, decide+execute, manage


class Daemon:
    def __init__(self, app: App, on_cycle: Callable[[CycleReport], None] | None = None) -> None:
        self.app = app
        self._on_cycle = on_cycle
        self._calls = app.api_calls()
        self._hits, self._misses = app.cache_counts()

    async def cycle(self) -> CycleReport:
        app, clock = self.app, self.app.clock
        started, t0 = clock.now(), clock.monotonic()
        error, new_fills, latest, decided = "", 0, 0, 0
        phases: dict[str, float] = {}
        try:
            poll = await app.source.poll(app.store.cursors(), app.leaders)
            latest = poll.latest_block
            new_fills = app.store.save_fills(poll.fills, poll.cursors, clock.now())
            if poll.failed:
                error = "; ".join(f"{leader[:10]}: {msg}" for leader, msg in poll.failed.items())
        except TransientError as exc:
            error = str(exc)
            log.warning("poll failed, retrying next cycle: %s", exc)
        except PermanentUpstreamError as exc:
            self._record(started, t0, 0, 0, str(exc))
            raise
        phases["poll"] = clock.monotonic() - t0
        try:
            t1 = clock.monotonic()
            decided = await app.executor.run_pending()
            t2 = clock.monotonic()
            phases["execute"] = t2 - t1
            await mark_positions(app.store, app.market, clock)
            phases["manage"] = clock.monotonic() - t2
        except TransientError as exc:
            error = error or str(exc)
            log.warning("copy/mark step failed, retrying next cycle: %s", exc)
        stats = self._record(started, t0, new_fills, decided, error)
        report = CycleReport(stats, new_fills, latest, app.executor.deferred, phases)
        if self._on_cycle is not None:
            self._on_cycle(report)
        return report

    def _record(self, started: float, t0: float, fills: int, decided: int, error: str) -> CycleStats:
        app = self.app
        calls = app.api_calls()
        hits, misses = app.cache_counts()
        stats = CycleStats(
            started_at=started,
            duration_ms=(app.clock.monotonic() - t0) * 1000,
            fills=fills,
            decisions=decided,
            api_calls=calls - self._calls,
            cache_hits=hits - self._hits,
            cache_misses=misses - self._misses,
            source_health=app.health(),
            last_error=error,
        )
        self._calls, self._hits, self._misses = calls, hits, misses
        app.store.record_cycle(stats)
        return stats

    async def run(self, *, stop: asyncio.Event, duration: float | None = None, once: bool = False) -> int:
        """Cycle until ``stop`` is set, ``duration`` seconds pass, or once. Returns cycles run."""
        clock = self.app.clock
        period = self.app.settings.source.poll_interval_s
        deadline = None if duration is None else clock.monotonic() + duration
        cycles = 0
        while not stop.is_set():
            t0 = clock.monotonic()
            await self.cycle()
            cycles += 1
            if once or (deadline is not None and clock.monotonic() >= deadline):
                break
            wait = period - (clock.monotonic() - t0)
            if deadline is not None:
                wait = min(wait, deadline - clock.monotonic())
            if wait > 0:
                await _sleep_or_stop(clock.sleep(wait), stop)
        return cycles


async def _sleep_or_stop(sleeper: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    sleep_task = asyncio.ensure_future(sleeper)
    stop_task = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleep_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleep_task, stop_task):
            task.cancel()
        await asyncio.gather(sleep_task, stop_task, return_exceptions=True)


async def watch(
    settings: Settings,
    api_key: str,
    *,
    duration: float | None = None,
    once: bool = False,
    on_outcomes: Callable[[Sequence[CopyOutcome]], None] | None = None,
    on_cycle: Callable[[CycleReport], None] | None = None,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Build the app and run the loop until done; SIGINT/SIGTERM end it after the current cycle."""
    app = build_app(settings, api_key, clock=clock, transport=transport, on_outcomes=on_outcomes)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        return await Daemon(app, on_cycle).run(stop=stop, duration=duration, once=once)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await app.aclose()
