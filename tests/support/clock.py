"""A clock a test moves by hand, on which sleepers really wait (``ManualClock`` wakes them at once)."""

from __future__ import annotations

import asyncio


class SteppedClock:
    """``sleep`` blocks until :meth:`advance` has moved the time past the sleeper's deadline, so a
    test can say "0.29 s later nothing happened, 0.02 s after that it did" without wall time."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._mono + seconds, woken))
        await woken

    async def advance(self, seconds: float) -> None:
        """Move time on, wake every sleeper whose deadline passed, and let them run."""
        self._now += seconds
        self._mono += seconds
        due = [(t, f) for t, f in self._sleepers if t <= self._mono + 1e-9]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._mono + 1e-9]
        for _, woken in due:
            if not woken.done():
                woken.set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)

    @property
    def sleepers(self) -> int:
        return sum(1 for _, f in self._sleepers if not f.done())

    async def until_sleeping(self, count: int = 1) -> None:
        """Let the event loop run until ``count`` tasks sleep on this clock (the test then moves it)."""
        while self.sleepers < count:
            await asyncio.sleep(0)
