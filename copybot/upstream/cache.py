"""Bounded TTL caches that count their hits and misses (for ``status``)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

from copybot.clock import Clock

V = TypeVar("V")
_MISSING = object()


class CountingCache(Generic[V]):
    """A size- and time-bounded cache on the injected clock, with hit/miss counters."""

    def __init__(self, maxsize: int, ttl_s: float, clock: Clock) -> None:
        self._data: TTLCache[Hashable, V] = TTLCache(maxsize=max(1, maxsize), ttl=ttl_s, timer=clock.monotonic)
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            self.misses += 1
            return None
        self.hits += 1
        return value  # type: ignore[return-value]

    def put(self, key: Hashable, value: V) -> None:
        self._data[key] = value

    def __len__(self) -> int:
        return len(self._data)

    def snapshot(self) -> dict[str, float]:
        lookups = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "size": len(self._data),
            "hit_rate": round(self.hits / lookups, 4) if lookups else 0.0,
        }
