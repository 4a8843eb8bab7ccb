"""``copybot health``: can the bot work, and is its loop alive? For cron, monitors and people.

Every check has a name and its own timeout and they all run at once, so the command takes about
as long as the slowest upstream. The database is opened read-only (never migrated or created)
and read in a worker thread that is interrupted on timeout. Upstreams are called through the same
:class:`~copybot.upstream.http.Upstream` the daemon uses (one client each): a transient error is
retried within the check's time budget. Messages never contain the API key nor a query string;
the RPC URL (which often embeds a key) is never shown.
Imports stay light: no web3, no CLOB SDK, so cron can run this every few minutes cheaply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from copybot.clock import Clock, SystemClock
from copybot.config.settings import Settings
from copybot.errors import CheckFailed, CopybotError, MalformedResponse, RateLimited, StoreError
from copybot.sources.etherscan import check_block_number
from copybot.store import SCHEMA_VERSION, Store
from copybot.upstream.http import Upstream

CHECK_TIMEOUT_S = 3.0
ATTEMPTS, MAX_WAIT_S = 3, 0.5  # retries of a transient upstream error, within the check's timeout
T = TypeVar("T")


# What a failing check means to whoever acts on it (cron): restarting copybot may fix the first kind
# (the loop is not running or cannot use its database); it cannot fix the second (an upstream is
# down, the kill switch paused BUYs, the day's budget is spent), which the running loop rides out.
RESTART_HELPS = frozenset({"settings", "database", "heartbeat"})
EXIT_HEALTHY, EXIT_RESTART, EXIT_SETTINGS, EXIT_DEGRADED = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    duration_ms: float

    @property
    def restart_helps(self) -> bool:
        return self.name in RESTART_HELPS

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "duration_ms": round(self.duration_ms, 1)}


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: tuple[Check, ...]

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def status(self) -> str:
        """healthy; restart (the loop is down or cannot work: a restart may help); degraded (the loop
        runs, something outside it fails or a kill switch holds: a restart changes nothing)."""
        failing = [c for c in self.checks if not c.ok]
        if not failing:
            return "healthy"
        return "restart" if any(c.restart_helps for c in failing) else "degraded"

    @property
    def exit_code(self) -> int:
        return {"healthy": EXIT_HEALTHY, "restart": EXIT_RESTART, "degraded": EXIT_DEGRADED}[self.status]

    def failures(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]

    def as_dict(self) -> dict[str, Any]:
        checks = [c.as_dict() for c in self.checks]
        return {"healthy": self.healthy, "status": self.status, "exit_code": self.exit_code, "checks": checks}


def settings_failure(message: str) -> dict[str, Any]:
    """``health --json`` when the settings themselves are wrong (exit 2): JSON all the same."""
    check = Check("settings", False, message, 0.0).as_dict()
    return {"healthy": False, "status": "bad settings", "exit_code": EXIT_SETTINGS, "checks": [check]}


def default_max_age(settings: Settings) -> float:
    """Three missed cycles plus slack for one slow cycle (retries, a big backlog)."""
    return 3 * settings.source.poll_interval_s + 30.0


async def run_checks(
    settings: Settings,
    api_key: str,
    *,
    max_age_s: float,
    timeout_s: float = CHECK_TIMEOUT_S,
    now: Callable[[], float] = time.time,
    transport: httpx.AsyncBaseTransport | None = None,
    private_key: str | None = None,
    clock: Clock | None = None,
) -> HealthReport:
    """Run every check concurrently; a failure or timeout of one never affects the others.
    ``private_key`` (live mode only) adds the wallet check; ``clock`` paces the retries."""
    clock = clock or SystemClock()
    db = settings.storage.path
    probes: list[tuple[str, Callable[[], Awaitable[str]]]] = [
        ("database", lambda: _with_store(db, _database)),
        ("heartbeat", lambda: _with_store(db, lambda store: _heartbeat(store, max_age_s, now()))),
        ("kill_switch", lambda: _with_store(db, _kill_switch)),
    ]
    if settings.source.kind == "etherscan":
        probes.append(("budget", lambda: _with_store(db, _budget)))
    if private_key:
        probes.append(("wallet", lambda: _wallet(settings, private_key)))
    # one TLS context for all clients: building one (loading the CA bundle) costs ~20 ms each
    tls = httpx.create_ssl_context()
    async with contextlib.AsyncExitStack() as stack:

        def upstream(name: str, base_url: str = "", *, show_path: bool = True) -> Upstream:
            headers = {"User-Agent": "copybot-health"}
            client = httpx.AsyncClient(
                base_url=base_url, timeout=timeout_s, transport=transport, verify=tls, headers=headers
            )
            stack.push_async_callback(client.aclose)
            return Upstream(name, client, clock, attempts=ATTEMPTS, max_wait_s=MAX_WAIT_S, show_path=show_path)

        if settings.source.kind == "rpc":
            rpc = upstream("rpc", show_path=False)
            probes.append(("rpc", lambda: _rpc(rpc, settings)))
        else:
            es = upstream("etherscan")
            probes.append(("etherscan", lambda: _etherscan(es, settings, api_key)))
        clob, gamma = upstream("clob", settings.clob.url), upstream("gamma", settings.gamma.url)
        probes += [("clob", lambda: _clob(clob)), ("gamma", lambda: _gamma(gamma))]
        # belt and braces: no message is built from these, but none may ever get through
        hidden = (api_key, private_key, (private_key or "").removeprefix("0x"), settings.source.rpc.url)
        secrets = tuple(x for x in hidden if x)
        checks = await asyncio.gather(*(_timed(name, probe, timeout_s, secrets) for name, probe in probes))
    return HealthReport(tuple(checks))


async def _timed(name: str, probe: Callable[[], Awaitable[str]], timeout_s: float, secrets: tuple[str, ...]) -> Check:
    t0 = time.perf_counter()
    try:
        detail, ok = await asyncio.wait_for(probe(), timeout_s), True
    except TimeoutError:
        detail, ok = f"timed out after {timeout_s:g}s", False
    except CheckFailed as exc:
        detail, ok = str(exc), False
    except Exception as exc:  # a bug or an odd answer must not hide the other checks
        detail, ok = f"unexpected {type(exc).__name__}", False
    for secret in secrets:  # belt and braces: no message is built from a key, but never let one through
        detail = detail.replace(secret, "***")
    return Check(name, ok, detail, (time.perf_counter() - t0) * 1000)


# ---- database (read-only, in a worker thread) -------------------------------------------------
async def _with_store(path: str, read: Callable[[Store], T]) -> T:
    opened: list[Store] = []
    cancelled = False

    def run() -> T:
        try:
            store = Store.open_read_only(path, check_schema=False, threads=True)
        except StoreError as exc:
            raise CheckFailed(str(exc).removeprefix("storage.path: ")) from None
        opened.append(store)
        try:
            if cancelled:
                raise CheckFailed("cancelled")
            return read(store)
        except sqlite3.Error as exc:
            raise CheckFailed(f"cannot read {path}: {exc}") from None
        finally:
            store.close()

    try:
        return await asyncio.to_thread(run)
    except asyncio.CancelledError:
        cancelled = True
        for store in opened:
            with contextlib.suppress(sqlite3.Error):
                store.interrupt()  # a timed-out integrity_check stops now instead of holding up the exit
        raise


def _database(store: Store) -> str:
    version = store.schema_version
    if version != SCHEMA_VERSION:
        newer = "newer than this copybot" if version > SCHEMA_VERSION else "older (run `copybot watch` to migrate)"
        raise CheckFailed(f"schema v{version}, expected v{SCHEMA_VERSION}: {newer}")
    if not store.integrity_ok():
        raise CheckFailed("PRAGMA integrity_check reports corruption (restore from a backup)")
    return f"schema v{version}, integrity ok"


def _kill_switch(store: Store) -> str:
    version = store.schema_version
    if version != SCHEMA_VERSION:  # its columns may not be there yet: the database check says why
        raise CheckFailed(f"cannot read the kill switch from schema v{version} (expected v{SCHEMA_VERSION})")
    state = store.risk_state()
    if state.paused_reason:
        raise CheckFailed(f"new BUYs paused: {state.paused_reason} (`copybot resume` lifts it)")
    return f"not paused, {state.consecutive_failures} failures in a row"


async def _wallet(settings: Settings, private_key: str) -> str:
    """Live mode: the funds copybot trades with, and the exchange's permission to move them (pUSD
    for BUYs and, checked on a token copybot holds, the outcome tokens for SELLs)."""
    from copybot.app import build_broker  # imports the CLOB SDK: only in live mode

    try:
        token = await _with_store(settings.storage.path, _a_held_token)
    except CheckFailed:  # no database yet: nothing held, nothing to sell
        token = None
    broker = build_broker(settings, private_key)
    try:
        await broker.start()
        return await broker.check_wallet(token)
    finally:
        await broker.close()


def _a_held_token(store: Store) -> int | None:
    held = store.open_positions()
    return held[0].token_id if held else None


def _budget(store: Store) -> str:
    """The Etherscan calls the running loop made today, against its daily budget (its last cycle's count)."""
    row = store.heartbeat()
    source = json.loads(row["source_health"] or "{}").get("source") or {}
    used, budget = source.get("calls_today"), source.get("daily_budget")
    if not isinstance(used, int) or not isinstance(budget, int):
        return "no cycle has reported its calls yet"
    if used >= budget:
        raise CheckFailed(f"daily Etherscan budget used up ({used} of {budget} calls); polling resumes at 00:00 UTC")
    return f"{used} of {budget} calls today"


def _heartbeat(store: Store, max_age_s: float, now: float) -> str:
    row = store.heartbeat()
    last = row["last_cycle_at"]
    if last is None:
        raise CheckFailed("no cycle has run yet: is `copybot watch` running?")
    age = now - float(last)
    if age > max_age_s:
        raise CheckFailed(f"last cycle {age:.1f}s ago (max {max_age_s:g}s): is `copybot watch` running?")
    return f"last cycle {age:.1f}s ago, {row['cycles']} cycles"


# ---- upstreams ----------------------------------------------------------------------------------
def _reason(up: Upstream, exc: CopybotError) -> str:
    """An upstream's error as a check's verdict: its text without the upstream's name (the check has it)."""
    return str(exc).removeprefix(f"{up.name} ").removeprefix(f"{up.name}: ")


async def _ask(up: Upstream, pending: Awaitable[T]) -> T:
    """One request through the upstream's retries; its error as the verdict."""
    try:
        return await pending
    except CopybotError as exc:
        raise CheckFailed(_reason(up, exc)) from None


async def _etherscan(up: Upstream, settings: Settings, api_key: str) -> str:
    es = settings.source.etherscan
    params = {"chainid": es.chain_id, "module": "proxy", "action": "eth_blockNumber", "apikey": api_key}
    try:
        block = await up.get_json(es.url, params, check=check_block_number)
    except RateLimited:  # still, after the retries: the running loop may be using the whole budget
        return "key not refused, but rate limited right now"
    except CopybotError as exc:
        raise CheckFailed(_reason(up, exc)) from None
    return f"key valid, block {block}"


def _block_number(body: Any) -> int:
    try:
        return int(body["result"], 16)
    except (ValueError, TypeError, KeyError):
        raise MalformedResponse("rpc: eth_blockNumber gave no block number") from None


async def _rpc(up: Upstream, settings: Settings) -> str:
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    return f"block {await _ask(up, up.post_json(settings.source.rpc.url, call, check=_block_number))}"


def _version_two(body: Any) -> None:
    if body != {"version": 2}:
        raise CheckFailed(f"GET /version answered {str(body)[:60]}, expected CLOB version 2")


async def _clob(up: Upstream) -> str:
    root, _ = await asyncio.gather(_ask(up, up.get_json("/")), _ask(up, up.get_json("/version", check=_version_two)))
    if root != "OK":  # the CLOB answers the JSON string "OK"
        raise CheckFailed(f"GET / answered {str(root)[:40]!r}, expected OK")
    return "OK, version 2"


async def _gamma(up: Upstream) -> str:
    body = await _ask(up, up.get_json("/markets", {"limit": 1}))
    if not isinstance(body, list):
        raise CheckFailed("GET /markets did not answer a list of markets")
    return "markets reachable"
