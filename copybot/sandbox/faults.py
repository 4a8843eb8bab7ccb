"""Fault settings, Etherscan's call-rate limit and the request counters tests read.

:class:`Faults` says how one upstream misbehaves; :class:`Monitor` holds the settings of every
upstream, draws the faults (one seeded generator per upstream, so the mix one upstream sees does
not depend on how its requests interleave with another's), enforces Etherscan's calls per second
per API key on the sandbox clock and counts everything. The ASGI side lives in
:mod:`copybot.sandbox.gate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Final

from copybot.clock import Clock

UPSTREAMS: Final = ("etherscan", "rpc", "clob", "gamma", "relayer")
# the order of the cumulative bands one draw is compared against
# new kinds go last: with probability 0 they leave every existing draw where it was
FAULT_KINDS: Final = ("http_429", "http_5xx", "rate_limit_body", "timeout", "malformed", "http_425")
RATE_LIMIT_UPSTREAMS: Final = frozenset({"etherscan", "rpc"})  # the only ones with a rate-limit body
RESTART_UPSTREAMS: Final = frozenset({"clob"})  # the only one with a restarting matching engine
RATE_LIMIT_WINDOW_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class Faults:
    """How one upstream misbehaves. Each probability is per request; the kinds are exclusive
    (one draw per request against cumulative bands), so they may add up to at most 1.

    ``latency_ms`` delays every request of the upstream before anything else happens.
    ``rate_limit_body``: HTTP 200 with the upstream's rate-limit answer (Etherscan, JSON-RPC only).
    ``timeout``: hang ``hang_s`` seconds (or until the server shuts down), then 504.
    ``malformed``: HTTP 200 with the real answer cut in half (invalid JSON).
    ``http_425``: HTTP 425 Too Early, the CLOB's matching engine restarting (CLOB only).
    """

    latency_ms: float = 0
    http_429: float = 0
    http_5xx: float = 0
    rate_limit_body: float = 0
    timeout: float = 0
    malformed: float = 0
    http_425: float = 0
    hang_s: float = 30.0

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.hang_s < 0:
            raise ValueError("latency_ms and hang_s must be >= 0")
        probabilities = [getattr(self, kind) for kind in FAULT_KINDS]
        if any(not 0 <= p <= 1 for p in probabilities):
            raise ValueError("fault probabilities must be between 0 and 1")
        if sum(probabilities) > 1 + 1e-9:
            raise ValueError(f"fault probabilities add up to {sum(probabilities)}, more than 1")

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Faults:
        """From a JSON object of field values (unknown fields and non-numbers are errors)."""
        names = {f.name for f in fields(cls)}
        unknown = set(body) - names
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in body.values()):
            raise ValueError("fault settings must be numbers")
        return cls(**{k: float(v) for k, v in body.items()})

    def to_json(self) -> dict[str, float]:
        return asdict(self)


def mixed_faults(rate: float, latency_ms: float = 0) -> dict[str, Faults]:
    """``rate`` of each upstream's requests fail: 40% 5xx, 20% 429, 20% rate-limit body on
    Etherscan (5xx elsewhere), 10% timeouts, 10% malformed bodies; every request waits ``latency_ms``."""
    result: dict[str, Faults] = {}
    for upstream in UPSTREAMS:
        etherscan = upstream == "etherscan"
        result[upstream] = Faults(
            latency_ms=latency_ms,
            http_5xx=(0.4 if etherscan else 0.6) * rate,
            http_429=0.2 * rate,
            rate_limit_body=0.2 * rate if etherscan else 0.0,
            timeout=0.1 * rate,
            malformed=0.1 * rate,
        )
    return result


def check_upstream(upstream: str, faults: Faults) -> None:
    if upstream not in UPSTREAMS:
        raise ValueError(f"unknown upstream {upstream!r} (one of {', '.join(UPSTREAMS)})")
    if faults.rate_limit_body and upstream not in RATE_LIMIT_UPSTREAMS:
        raise ValueError(f"{upstream} has no rate-limit body: use http_429")
    if faults.http_425 and upstream not in RESTART_UPSTREAMS:
        raise ValueError(f"{upstream} has no matching engine to restart: http_425 is for clob")


class Monitor:
    """Fault settings and draws, the Etherscan rate limit and the counters. Thread-safe: the
    server thread draws and counts while a test thread reads and reconfigures."""

    def __init__(
        self,
        seed: int,
        clock: Clock,
        faults: Mapping[str, Faults] | None,
        etherscan_rate_limit: float | None,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = self.clock = clock
        self._faults: dict[str, Faults] = {}
        for upstream, settings in (faults or {}).items():
            check_upstream(upstream, settings)
            self._faults[upstream] = settings
        # str seeds are hashed with SHA-512: stable across runs, whatever PYTHONHASHSEED says
        self._rngs = {u: random.Random(f"copybot-sandbox-faults:{seed}:{u}") for u in UPSTREAMS}
        self.etherscan_rate_limit = etherscan_rate_limit
        self._calls: dict[str, deque[float]] = {}
        # requests hanging on a timeout fault, and whether a server is shutting down
        self._hanging: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._released = False
        self._requests: Counter[tuple[str, str]] = Counter()
        self._fault_counts: Counter[tuple[str, str]] = Counter()
        self._rate_limited = 0
        self._reorgs = 0

    # -- settings --------------------------------------------------------------------------

    def set_faults(self, upstream: str, faults: Faults) -> None:
        check_upstream(upstream, faults)
        with self._lock:
            self._faults[upstream] = faults

    def faults(self, upstream: str) -> Faults:
        with self._lock:
            return self._faults.get(upstream, _NONE)

    def all_faults(self) -> dict[str, Faults]:
        with self._lock:
            return {u: self._faults.get(u, _NONE) for u in UPSTREAMS}

    # -- per request -----------------------------------------------------------------------

    def draw(self, upstream: str) -> tuple[str, float] | None:
        """One draw for one request: the fault kind hit (counted) and where in its band the draw
        fell (0 to 1, to vary the answer deterministically), or None to serve normally."""
        with self._lock:
            faults = self._faults.get(upstream, _NONE)
            u = self._rngs[upstream].random()
            low = 0.0
            for kind in FAULT_KINDS:
                p: float = getattr(faults, kind)
                if p > 0 and u < low + p:
                    self._fault_counts[upstream, kind] += 1
                    return kind, (u - low) / p
                low += p
            return None

    def admit_etherscan(self, api_key: str) -> bool:
        """Whether a call with this key fits in the last second's allowance (counted if not)."""
        with self._lock:
            limit = self.etherscan_rate_limit
            if limit is None:
                return True
            now = self._clock.monotonic()
            window = self._calls.setdefault(api_key, deque())
            while window and window[0] <= now - RATE_LIMIT_WINDOW_S:
                window.popleft()
            if len(window) >= limit:
                self._rate_limited += 1
                return False
            window.append(now)
            return True

    async def hang(self, seconds: float) -> None:
        """Wait ``seconds`` (real time), or less if a server shuts down meanwhile."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if self._released:
                return
            self._hanging.add(entry)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry[1].wait(), seconds)
        finally:
            with self._lock:
                self._hanging.discard(entry)

    def release_hangs(self) -> None:
        """End every hang now and until :meth:`allow_hangs` (a server is shutting down)."""
        with self._lock:
            self._released = True
            for loop, event in self._hanging:
                with contextlib.suppress(RuntimeError):  # that loop is already closed
                    loop.call_soon_threadsafe(event.set)

    def allow_hangs(self) -> None:
        with self._lock:
            self._released = False

    def count_requests(self, upstream: str, labels: list[str]) -> None:
        with self._lock:
            for label in labels:
                self._requests[upstream, label] += 1

    def count_reorg(self) -> None:
        with self._lock:
            self._reorgs += 1

    # -- reading ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": Counter(self._requests),
                "rate_limited": self._rate_limited,
                "faults": Counter(self._fault_counts),
                "reorgs": self._reorgs,
            }

    def reset_stats(self) -> None:
        with self._lock:
            self._requests.clear()
            self._fault_counts.clear()
            self._rate_limited = 0
            self._reorgs = 0


_NONE: Final = Faults()


def stats_json(stats: Mapping[str, Any]) -> dict[str, Any]:
    """:meth:`Monitor.stats` with its (upstream, label) counters nested for JSON."""

    def nest(counter: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
        nested: dict[str, dict[str, int]] = {}
        for (upstream, label), n in sorted(counter.items()):
            nested.setdefault(upstream, {})[label] = n
        return nested

    return {
        "requests": nest(stats["requests"]),
        "rate_limited": stats["rate_limited"],
        "faults": nest(stats["faults"]),
        "reorgs": stats["reorgs"],
    }
