"""The watch loop: a fixed-period cycle of poll -> store -> copy -> mark -> heartbeat.

A cycle never half-applies: new fills and the cursors covering them are stored together, and
decisions are stored per batch. SIGINT/SIGTERM stop the loop: no new cycle (so no new fills) is
started, the one in flight gets ``grace_s`` seconds to finish and is cancelled after that (or at
a second signal) - safe, because every store write is one synchronous transaction, so a
cancellation can only land between transactions. A permanent upstream error (bad API key) ends
the loop with that error recorded. systemd hears READY=1 at start, WATCHDOG=1 + STATUS= after
every cycle (so a hung loop stops pinging and gets restarted) and STOPPING=1 at the end.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from copybot.app import App, build_app
from copybot.clock import Clock
from copybot.config.settings import Settings
from copybot.errors import PermanentUpstreamError, TransientError, UpstreamUnavailable
from copybot.models import CopyOutcome, from_units
from copybot.ops.notify import Notifier, watchdog_period
from copybot.protocol import CENT
from copybot.store import CycleStats
from copybot.store.lock import WatchLock
from copybot.store.retention import compact

log = logging.getLogger(__name__)

STOP_GRACE_S = 30.0  # how long a stop waits for the cycle in flight (the unit's TimeoutStopSec is 60)


@dataclass
class CycleReport:
    stats: CycleStats
    new_fills: int
    latest_block: int
    deferred: int
    phases: dict[str, float] = field(default_factory=dict)  # seconds spent in poll, decide+execute, manage


class Daemon:
    def __init__(
        self, app: App, on_cycle: Callable[[CycleReport], None] | None = None, *, notifier: Notifier | None = None
    ) -> None:
        self.app = app
        self._on_cycle = on_cycle
        self._notifier = notifier or Notifier(None)
        self._calls = app.api_calls()
        self._hits, self._misses = app.cache_counts()
        self.cycles = 0
        self.polled = 0  # cycles whose poll read at least one leader
        self.last_error = ""

    async def cycle(self) -> CycleReport:
        app, clock = self.app, self.app.clock
        started, t0 = clock.now(), clock.monotonic()
        error, new_fills, latest, decided = "", 0, 0, 0
        phases: dict[str, float] = {}
        try:
            poll = await app.source.poll(app.store.cursors(), app.leaders, app.store.floors())
            latest = poll.latest_block
            new_fills = app.store.save_poll(poll, clock.now()).new
            if poll.failed:
                error = "; ".join(f"{leader[:10]}: {msg}" for leader, msg in poll.failed.items())
            if not app.leaders or set(poll.cursors) - set(poll.failed):
                self.polled += 1
        except TransientError as exc:
            error = str(exc)
            log.warning("poll failed, retrying next cycle: %s", exc)
        except PermanentUpstreamError as exc:
            self._record(started, t0, 0, 0, str(exc))
            raise
        phases["poll"] = clock.monotonic() - t0
        # Exits first: a stop-loss or a resolution never waits behind a slow entry.
        try:
            t1 = clock.monotonic()
            await app.executor.reconcile()  # orders whose outcome is unknown, before sending more
            await app.positions.manage()
            phases["manage"] = clock.monotonic() - t1
        except TransientError as exc:
            error = error or str(exc)
            log.warning("position management failed, retrying next cycle: %s", exc)
        try:
            t2 = clock.monotonic()
            decided = await app.executor.run_pending()
            await app.positions.mark_unpriced()  # positions this cycle opened
            phases["execute"] = clock.monotonic() - t2
        except TransientError as exc:
            error = error or str(exc)
            log.warning("copy step failed, retrying next cycle: %s", exc)
        storage = app.settings.storage
        compact(app.store, clock.now(), storage.retention_days, app.settings.source.confirmations_window)
        stats = self._record(started, t0, new_fills, decided, error)
        self.cycles += 1
        self.last_error = error
        report = CycleReport(stats, new_fills, latest, app.executor.deferred, phases)
        if self._on_cycle is not None:
            self._on_cycle(report)
        if self._notifier.enabled:
            # the only place that pings the watchdog: a loop stuck anywhere stops the pings
            self._notifier.alive(self.summary(report))
        return report

    def summary(self, report: CycleReport | None = None) -> str:
        """One line for systemd's STATUS= (shown by ``systemctl status``)."""
        store = self.app.store
        cash = from_units(store.bankroll_cash()).quantize(from_units(CENT))
        fills, copies = store.totals()  # all-time, kept by triggers: no table scan every cycle
        line = f"cycle {self.cycles}, fills {fills}, copies {copies}, cash {cash} USDC"
        if report is not None:
            line = f"block {report.latest_block}, {line}"
            if report.stats.last_error:
                line += f", last error: {report.stats.last_error[:120]}"
        return line

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

    async def run(
        self,
        *,
        stop: asyncio.Event,
        duration: float | None = None,
        once: bool = False,
        grace_s: float = STOP_GRACE_S,
        hurry: asyncio.Event | None = None,
    ) -> int:
        """Cycle until ``stop`` is set, ``duration`` seconds pass, or once. Returns cycles completed.

        A stop during a cycle lets it finish for up to ``grace_s`` seconds (less if ``hurry`` is
        set), then cancels it.
        """
        clock = self.app.clock
        period = self.app.settings.source.poll_interval_s
        deadline = None if duration is None else clock.monotonic() + duration
        cycles = 0
        while not stop.is_set():
            t0 = clock.monotonic()
            if not await self._cycle_until_stopped(stop, grace_s, hurry or asyncio.Event()):
                break
            cycles += 1
            if once or (deadline is not None and clock.monotonic() >= deadline):
                break
            wait = period - (clock.monotonic() - t0)
            if deadline is not None:
                wait = min(wait, deadline - clock.monotonic())
            if wait > 0:
                await _first_of(clock.sleep(wait), stop.wait())
        if (once or duration is not None) and cycles and not self.polled:
            # a bounded run that could not read a single leader achieved nothing: say so, exit non-zero
            raise UpstreamUnavailable(f"no poll succeeded in {cycles} cycle(s): {self.last_error}")
        return cycles

    async def _cycle_until_stopped(self, stop: asyncio.Event, grace_s: float, hurry: asyncio.Event) -> bool:
        """One cycle, bounded once a stop arrives. False if it had to be cancelled."""
        task = asyncio.ensure_future(self.cycle())
        try:
            await _first_of(task, stop.wait())
            if not task.done():
                log.info("stopping: letting the current cycle finish (at most %gs)", grace_s)
                await _first_of(task, hurry.wait(), self.app.clock.sleep(grace_s))
            if not task.done():
                log.warning("stopping: the current cycle was cancelled unfinished; its fills stay pending")
                return False
            task.result()  # re-raises a permanent upstream error
            return True
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


async def _first_of(*aws: Awaitable[Any]) -> None:
    """Wait until the first of ``aws`` completes; cancel the others that we created. A task passed
    in is left running: its owner decides what happens to it."""
    tasks = [aw if isinstance(aw, asyncio.Future) else asyncio.ensure_future(aw) for aw in aws]
    ours = [t for t, aw in zip(tasks, aws, strict=True) if t is not aw]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in ours:
            t.cancel()
        await asyncio.gather(*ours, return_exceptions=True)


async def watch(
    settings: Settings,
    api_key: str,
    *,
    duration: float | None = None,
    once: bool = False,
    on_outcomes: Callable[[Sequence[CopyOutcome]], None] | None = None,
    on_cycle: Callable[[CycleReport], None] | None = None,
    on_ready: Callable[[App], None] | None = None,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    notifier: Notifier | None = None,
    grace_s: float = STOP_GRACE_S,
    private_key: str | None = None,
) -> int:
    """Build the app and run the loop until done. The first SIGINT/SIGTERM stops it after the
    current cycle (bounded by ``grace_s``), a second one cancels that cycle at once."""
    notifier = notifier or Notifier(None)
    stop, hurry = asyncio.Event(), asyncio.Event()

    def request_stop() -> None:
        if stop.is_set():
            hurry.set()
            return
        log.info("stop requested: no new cycles; finishing the current one")
        stop.set()
        notifier.stopping()

    with WatchLock(settings.storage.path):  # one loop per database: a second watch stops here
        # installed before the app is built, so an early SIGTERM still ends in a clean stop
        installed = _install_signal_handlers(request_stop)
        app: App | None = None
        try:
            app = build_app(
                settings, api_key, clock=clock, transport=transport, on_outcomes=on_outcomes, private_key=private_key
            )
            await app.broker.start()  # live: derive the CLOB API credentials from the key
            if on_ready is not None:
                on_ready(app)
            daemon = Daemon(app, on_cycle, notifier=notifier)
            _check_watchdog(settings.source.poll_interval_s)
            notifier.ready(f"started: {len(settings.leaders)} leaders, {daemon.summary()}")
            return await daemon.run(stop=stop, duration=duration, once=once, grace_s=grace_s, hurry=hurry)
        finally:
            notifier.stopping()
            if app is not None:
                await app.aclose()  # still under our handlers: a signal now only hurries
            loop = asyncio.get_running_loop()
            for sig in installed:
                loop.remove_signal_handler(sig)
                if stop.is_set():  # a stop was asked for and is done: more signals change nothing
                    signal.signal(sig, signal.SIG_IGN)


def _install_signal_handlers(handler: Callable[[], None]) -> list[signal.Signals]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            # off Unix (NotImplementedError) or off the main thread (RuntimeError: tests and benchmarks
            # run watch in a thread): no handler for it, the run ends by its duration or its caller
            log.debug("no handler for %s in this thread", sig.name)
    return installed


def _check_watchdog(poll_interval_s: float) -> None:
    period = watchdog_period()
    if period is not None and poll_interval_s * 2 > period:
        log.warning(
            "source.poll_interval_s (%gs) is more than half of systemd's WatchdogSec (%gs): slow cycles "
            "will be killed as hung; raise WatchdogSec",
            poll_interval_s,
            period,
        )
