"""Composition root: builds the clients, caches, source, market data, broker and store.

Paper and live are chosen here, once. Tests pass ``transport`` (e.g. ``httpx.ASGITransport`` on
the sandbox app) and a clock; production uses real sockets and the system clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from copybot.brokers.base import Broker
from copybot.brokers.paper import PaperBroker
from copybot.clock import Clock, SystemClock
from copybot.config.settings import Settings
from copybot.errors import ConfigError
from copybot.models import CopyOutcome, MarketInfo, to_units
from copybot.sources.base import Source
from copybot.sources.etherscan import EtherscanSource
from copybot.store import Store
from copybot.trading.executor import Executor
from copybot.trading.positions import PositionManager
from copybot.upstream.cache import CountingCache
from copybot.upstream.http import Guard, RateLimiter, Upstream, build_client
from copybot.upstream.market import FEE_TTL_S, MarketData

META_TTL_S = 6 * 3600.0


@dataclass
class App:
    settings: Settings
    clock: Clock
    store: Store
    source: Source
    market: MarketData
    broker: Broker
    executor: Executor
    positions: PositionManager
    upstreams: dict[str, Guard]
    caches: dict[str, CountingCache[Any]] = field(default_factory=dict)

    @property
    def leaders(self) -> list[str]:
        return [leader.address for leader in self.settings.leaders]

    def api_calls(self) -> int:
        return sum(u.stats.calls for u in self.upstreams.values())

    def cache_counts(self) -> tuple[int, int]:
        return sum(c.hits for c in self.caches.values()), sum(c.misses for c in self.caches.values())

    def health(self) -> dict[str, Any]:
        return {
            "source": self.source.health(),
            "upstreams": {name: u.stats.snapshot() for name, u in self.upstreams.items()},
            "caches": {name: c.snapshot() for name, c in self.caches.items()},
        }

    async def aclose(self) -> None:
        await self.broker.close()
        await self.source.aclose()
        for upstream in self.upstreams.values():
            await upstream.aclose()
        self.store.close()


def build_source(
    settings: Settings,
    api_key: str,
    clock: Clock,
    transport: httpx.AsyncBaseTransport | None,
    caches: dict[str, CountingCache[Any]],
) -> tuple[Source, Guard]:
    """The configured source of leader fills and the guard (retries, budget, counters) it calls through."""
    src = settings.source
    if src.kind == "rpc":
        from copybot.sources.rpc import RpcSource  # web3 is heavy: imported only when used

        rate = src.rpc.calls_per_second
        guard = Guard("rpc", clock, limiter=RateLimiter(rate, clock))
        return RpcSource(src, guard, caches["closed_ranges"], caches["latest_block"], caches["block_times"]), guard
    es = src.etherscan
    up = Upstream(
        "etherscan",
        build_client("", es.timeout_s, 4, transport),
        clock,
        limiter=RateLimiter(es.calls_per_second, clock),
    )
    return EtherscanSource(up, src, api_key, caches["closed_ranges"], caches["latest_block"]), up


def build_broker(settings: Settings, private_key: str | None, clock: Clock | None = None) -> Broker:
    """Paper or live, chosen here and nowhere else."""
    if settings.mode == "paper":
        return PaperBroker()
    if not private_key:
        raise ConfigError("live.private_key_env: live mode needs the wallet's private key")
    from copybot.brokers.live import LiveBroker  # the CLOB SDK is imported only for live trading
    from copybot.brokers.sdk_private import PRODUCTION_URLS, Endpoints
    from copybot.config.secrets import api_credentials, relayer_api_key

    live = settings.live
    endpoints = Endpoints(
        clob=settings.clob.url,
        gamma=settings.gamma.url,
        data=PRODUCTION_URLS["data"],
        relayer=live.relayer_url,
        rpc=live.rpc_url,
    )
    return LiveBroker(
        endpoints,
        private_key,
        signature_type=live.signature_type,
        funder=live.funder or None,
        credentials=api_credentials(settings),
        relayer_key=relayer_api_key(settings),
        order_type=live.order_type,
        max_concurrency=live.max_concurrency,
        orders_per_second=live.orders_per_second,
        auto_redeem=live.auto_redeem,
        clock=clock,
    )


def build_app(
    settings: Settings,
    api_key: str,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    on_outcomes: Callable[[Sequence[CopyOutcome]], None] | None = None,
    private_key: str | None = None,
) -> App:
    """Everything ``watch`` needs. ``mode: live`` needs ``private_key`` (see ``copybot.config.secrets``)."""
    clock = clock or SystemClock()
    broker = build_broker(settings, private_key, clock)
    es = settings.source.etherscan
    caches: dict[str, CountingCache[Any]] = {
        "closed_ranges": CountingCache(es.cache_size, es.cache_ttl_s, clock),
        "latest_block": CountingCache(1, max(0.2, settings.source.poll_interval_s / 2), clock),
        "market_meta": CountingCache(10_000, META_TTL_S, clock),
        "block_times": CountingCache(4096, META_TTL_S, clock),  # rpc: nodes whose logs lack blockTimestamp
        "fee_rates": CountingCache(10_000, FEE_TTL_S, clock),  # markets' taker fees, by condition id
    }
    source, source_guard = build_source(settings, api_key, clock, transport, caches)
    clob, gamma = settings.clob, settings.gamma
    clob_up = Upstream("clob", build_client(clob.url, clob.timeout_s, clob.max_concurrency * 2, transport), clock)
    gamma_up = Upstream("gamma", build_client(gamma.url, gamma.timeout_s, gamma.max_concurrency, transport), clock)
    upstreams: dict[str, Guard] = {source_guard.name: source_guard, "clob": clob_up, "gamma": gamma_up}
    store = Store.open(settings.storage.path, recent_keys=settings.source.recent_keys)
    created_as = store.meta("mode")
    if created_as is not None and created_as != settings.mode:
        store.close()
        raise ConfigError(
            f"storage.path: {settings.storage.path} holds a {created_as} bankroll; use another file for {settings.mode}"
        )
    starting = to_units(settings.paper.starting_bankroll_usdc) if settings.mode == "paper" else 0
    store.init_paper(settings.mode, starting, clock.now())
    store.sync_leaders([(leader.address, leader.label) for leader in settings.leaders], clock.now())
    meta: CountingCache[MarketInfo] = caches["market_meta"]
    market = MarketData(clob_up, gamma_up, meta, clob.max_concurrency, caches["fee_rates"])
    executor = Executor(store, market, broker, settings, clock, on_outcomes)
    positions = PositionManager(store, market, broker, settings, clock)
    return App(settings, clock, store, source, market, broker, executor, positions, upstreams, caches)
