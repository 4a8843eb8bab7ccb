"""``copybot status``: the store rendered as the JSON contract or as rich tables.

Reads only the database: no network, no web3, so it is quick and works while ``watch`` runs.
Money, prices and shares are decimal strings; token ids decimal strings; times ISO-8601 UTC.
The JSON keeps every digit; the tables round for reading.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from typing import Any

from rich.console import Console, RenderableType
from rich.text import Text

from copybot.cli.tables import copies_table, exits_table, leaders_table, num, positions_table
from copybot.clock import iso
from copybot.models import Position, from_units, value_at
from copybot.protocol import checksum
from copybot.store import Store


def _money(units: int | None) -> str | None:
    return None if units is None else format(from_units(units), "f")


def _price(value: str | Decimal | None) -> str | None:
    if value is None:
        return None
    d = Decimal(value)
    return format(d.quantize(Decimal("0.000001")).normalize(), "f") if d else "0"


def _unrealized(p: Position) -> int | None:
    """Base units the position would gain (or lose) sold at its mark, or redeemed at its payout
    once resolved; ``None`` while unmarked."""
    price = p.resolved_price if p.redeemable else p.mark_price
    if price is None:
        return None
    return value_at(p.shares, price) - p.cost


def _position(p: Position, unrealized: int | None) -> dict[str, Any]:
    return {
        "leader": checksum(p.leader),
        "token_id": str(p.token_id),
        "condition_id": p.condition_id,
        "outcome": p.outcome,
        "question": p.question,
        "shares": _money(p.shares),
        "avg_price": _price(Decimal(p.cost) / Decimal(p.shares)) if p.shares else None,
        "cost_usdc": _money(p.cost),
        "mark_price": _price(p.mark_price),
        "unrealized_pnl_usdc": _money(unrealized),
        "opened_at": iso(p.opened_at),
        "realized_pnl_usdc": _money(p.realized),
        "high_water_bid": _price(p.high_water),
        "redeemable": p.redeemable,
    }


def _copy(row: sqlite3.Row) -> dict[str, Any]:
    shares, collateral = int(row["shares"]), int(row["collateral"])
    return {
        "leader": checksum(row["leader"]),
        "leader_label": row["leader_label"] or "",
        "tx_hash": row["tx_hash"],
        "log_index": row["log_index"],
        "block": row["block"],
        "token_id": row["token_id"],
        "outcome": row["outcome"] or "",
        "question": row["question"] or "",
        "side": row["side"],
        "leader_shares": _money(shares),
        "leader_price": _price(Decimal(collateral) / Decimal(shares)) if shares else "0",
        "decision": row["decision"],
        "code": row["code"],
        "reason": row["reason"],
        "order_usdc": _money(row["order_usdc"]),
        "fill_shares": _money(row["fill_shares"]),
        "fill_price": _price(row["fill_price"]),
        "at": iso(row["at"]),
    }


def _exit(row: sqlite3.Row) -> dict[str, Any]:
    shares, usdc = row["shares"], row["usdc"]
    return {
        "at": iso(row["at"]),
        "leader": checksum(row["leader"]),
        "leader_label": row["leader_label"] or "",
        "token_id": row["token_id"],
        "question": row["question"] or "",
        "outcome": row["outcome"] or "",
        "rule": row["rule"],
        "status": row["status"],
        "shares": _money(shares),
        "usdc": _money(usdc),
        "price": _price(Decimal(usdc) / Decimal(shares)) if shares and usdc is not None else None,
        "realized_pnl_usdc": _money(row["realized"]),
        "detail": row["detail"],
    }


def _upstreams(health: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, u in health.get("upstreams", {}).items():
        last = u.get("last_success_at")
        out[name] = {**u, "last_success_at": iso(last) if last else None}
    return out


def snapshot(store: Store, now: float, limit: int = 50, positions_limit: int | None = None) -> dict[str, Any]:
    """The ``status --json`` object (a contract: keys are only ever added).

    ``limit`` recent copies (0: all); the ``positions_limit`` most recently opened positions
    (``None``: all). Money totals always cover every open position.
    """
    positions = store.open_positions()  # newest first
    exposure, redeemable, shown = 0, 0, []
    unrealized_by_leader: dict[str, int] = {}
    for i, p in enumerate(positions):
        units = _unrealized(p)
        if p.redeemable:  # resolved: no risk any more, its payout waits to be redeemed
            redeemable += p.payout
        else:
            exposure += p.cost
        leader = p.leader.lower()
        unrealized_by_leader[leader] = unrealized_by_leader.get(leader, 0) + (units or 0)
        if positions_limit is None or i < positions_limit:
            shown.append(_position(p, units))
    unrealized = sum(unrealized_by_leader.values())
    realized_by_leader = store.realized_by_leader()
    mode = store.meta("mode") or "paper"
    cash = store.bankroll_cash()  # live: the wallet balance, moved by the trades booked since it was read
    hb = store.heartbeat()
    last = hb["last_cycle_at"]
    health = json.loads(hb["source_health"]) if hb["source_health"] else {}
    return {
        "mode": mode,
        "bankroll": {
            "cash_usdc": _money(cash),
            "exposure_usdc": _money(exposure),
            "redeemable_usdc": _money(redeemable),
            "realized_pnl_usdc": _money(store.realized_pnl()),
            "unrealized_pnl_usdc": _money(unrealized),
            "paused_reason": store.risk_state().paused_reason,
            "open_positions": len(positions),
        },
        "leaders": [
            {
                "address": checksum(r["address"]),
                "label": r["label"],
                "cursor_block": r["cursor_block"],
                "fills_seen": r["fills_seen"],
                "copied": r["copied"],
                "skipped": r["skipped"],
                "last_fill_at": iso(r["last_fill_ts"]) if r["last_fill_ts"] else None,
                "realized_pnl_usdc": _money(realized_by_leader.get(r["address"], 0)),
                "unrealized_pnl_usdc": _money(unrealized_by_leader.get(r["address"], 0)),
            }
            for r in store.leader_rows()
        ],
        "copies": [_copy(r) for r in store.copy_rows(limit)],
        "exits": [_exit(r) for r in store.exit_rows(limit)],
        "positions": shown,
        "stats": {
            "cycles": hb["cycles"],
            "last_cycle_at": iso(last) if last else None,
            "heartbeat_age_s": round(now - last, 1) if last else None,
            "cache_hits": hb["cache_hits"],
            "cache_misses": hb["cache_misses"],
            "api_calls": hb["api_calls"],
            "last_error": hb["last_error"],
            "upstreams": _upstreams(health),
            "caches": health.get("caches", {}),
            "source": health.get("source", {}),
        },
    }


# ---- human view -------------------------------------------------------------------------------
def console(stream_is_tty: bool) -> Console:
    """A console for status output: the terminal's width, or a wide page when piped to a file."""
    return Console() if stream_is_tty else Console(width=160)


def renderables(status: dict[str, Any], width: int, copies: int | None = None) -> list[RenderableType]:
    """The status as rich renderables, ``width`` columns wide: a summary, leaders, open positions,
    recent copies and exits."""
    out: list[RenderableType] = [summary_text(status)]
    if status["bankroll"].get("paused_reason"):
        reason = status["bankroll"]["paused_reason"]
        out.append(Text(f"new BUYs paused: {reason} (exits still run; `copybot resume` lifts it)", style="bold red"))
    if status["stats"].get("last_error"):
        out.append(Text(f"last error: {status['stats']['last_error']}", style="yellow"))
    shown = status["copies"] if copies is None else status["copies"][:copies]
    exits = status.get("exits", []) if copies is None else status.get("exits", [])[:copies]
    out += [leaders_table(status, width), positions_table(status, width), copies_table(shown, width)]
    if exits:
        out.append(exits_table(exits, width))
    return out


def summary_text(status: dict[str, Any]) -> Text:
    b, s = status["bankroll"], status["stats"]
    age = "never" if s["heartbeat_age_s"] is None else f"{s['heartbeat_age_s']}s ago"
    lookups = s["cache_hits"] + s["cache_misses"]
    return Text.from_markup(
        f"[bold]copybot[/] [cyan]{status['mode']}[/]  cash [bold]{num(b['cash_usdc'], 2)}[/]  "
        f"exposure {num(b['exposure_usdc'], 2)}  realized {num(b['realized_pnl_usdc'], 2)}  "
        f"unrealized {num(b['unrealized_pnl_usdc'], 2)}"
        + (f"  to redeem {num(b['redeemable_usdc'], 2)}" if Decimal(b.get("redeemable_usdc", "0")) else "")
        + "\n"
        f"cycles {s['cycles']} (last {age})  api calls {s['api_calls']}  cache hits {s['cache_hits']}/{lookups}"
    )


def render(status: dict[str, Any], console: Console) -> None:
    for item in renderables(status, console.width):
        console.print(item)
