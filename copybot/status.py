"""``copybot status``: the store rendered as the JSON contract or as rich tables.

Reads only the database: no network, no web3, so it is quick and works while ``watch`` runs.
Money, prices and shares are decimal strings; token ids decimal strings; times ISO-8601 UTC.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from copybot.clock import iso
from copybot.models import from_units
from copybot.protocol import checksum
from copybot.store import Store


def _money(units: int | None) -> str | None:
    return None if units is None else format(from_units(units), "f")


def _price(value: str | Decimal | None) -> str | None:
    if value is None:
        return None
    d = Decimal(value)
    return format(d.quantize(Decimal("0.000001")).normalize(), "f") if d else "0"


def _position(row: sqlite3.Row) -> dict[str, Any]:
    shares, cost = int(row["shares"]), int(row["cost"])
    mark = Decimal(row["mark_price"]) if row["mark_price"] is not None else None
    unrealized = None
    if mark is not None:
        unrealized = int((Decimal(shares) * mark).to_integral_value(rounding=ROUND_FLOOR)) - cost
    return {
        "leader": checksum(row["leader"]),
        "token_id": row["token_id"],
        "condition_id": row["condition_id"],
        "outcome": row["outcome"],
        "question": row["question"] or "",
        "shares": _money(shares),
        "avg_price": _price(Decimal(cost) / Decimal(shares)) if shares else None,
        "cost_usdc": _money(cost),
        "mark_price": _price(mark),
        "unrealized_pnl_usdc": _money(unrealized),
        "opened_at": iso(row["opened_at"]),
    }


def _copy(row: sqlite3.Row) -> dict[str, Any]:
    shares, collateral = int(row["shares"]), int(row["collateral"])
    return {
        "leader": checksum(row["leader"]),
        "tx_hash": row["tx_hash"],
        "log_index": row["log_index"],
        "block": row["block"],
        "token_id": row["token_id"],
        "side": row["side"],
        "leader_shares": _money(shares),
        "leader_price": _price(Decimal(collateral) / Decimal(shares)) if shares else "0",
        "decision": row["decision"],
        "reason": row["reason"],
        "order_usdc": _money(row["order_usdc"]),
        "fill_shares": _money(row["fill_shares"]),
        "fill_price": _price(row["fill_price"]),
        "at": iso(row["at"]),
    }


def snapshot(store: Store, now: float, limit: int = 50) -> dict[str, Any]:
    """The ``status --json`` object (a contract: keys are only ever added)."""
    positions = [_position(r) for r in store.open_positions()]
    hb = store.heartbeat()
    exposure = sum(int(r["cost"]) for r in store.open_positions())
    unrealized = sum(
        int(Decimal(p["unrealized_pnl_usdc"]) * 10**6) for p in positions if p["unrealized_pnl_usdc"] is not None
    )
    last = hb["last_cycle_at"]
    health = json.loads(hb["source_health"]) if hb["source_health"] else {}
    return {
        "mode": store.meta("mode") or "paper",
        "bankroll": {
            "cash_usdc": _money(store.cash()),
            "exposure_usdc": _money(exposure),
            "realized_pnl_usdc": _money(store.realized_pnl()),
            "unrealized_pnl_usdc": _money(unrealized),
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
            }
            for r in store.leader_rows()
        ],
        "copies": [_copy(r) for r in store.copy_rows(limit)],
        "positions": positions,
        "stats": {
            "cycles": hb["cycles"],
            "last_cycle_at": iso(last) if last else None,
            "heartbeat_age_s": round(now - last, 1) if last else None,
            "cache_hits": hb["cache_hits"],
            "cache_misses": hb["cache_misses"],
            "api_calls": hb["api_calls"],
            "last_error": hb["last_error"],
            "upstreams": health.get("upstreams", {}),
            "caches": health.get("caches", {}),
        },
    }


def _short(text: str, n: int = 12) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def renderables(status: dict[str, Any], copies: int | None = None) -> list[RenderableType]:
    """The status as rich renderables: a summary line, leaders, open positions, recent copies."""
    b, s = status["bankroll"], status["stats"]
    age = "never" if s["heartbeat_age_s"] is None else f"{s['heartbeat_age_s']}s ago"
    out: list[RenderableType] = [
        Text.from_markup(
            f"[bold]copybot[/] mode=[cyan]{status['mode']}[/]  cash {b['cash_usdc']}  exposure {b['exposure_usdc']}  "
            f"realized {b['realized_pnl_usdc']}  unrealized {b['unrealized_pnl_usdc']}  "
            f"cycles {s['cycles']} (last {age})  api calls {s['api_calls']}  "
            f"cache {s['cache_hits']}/{s['cache_hits'] + s['cache_misses']} hits"
        )
    ]
    if s.get("last_error"):
        out.append(Text(f"last error: {s['last_error']}", style="yellow"))
    leaders = Table(title="Leaders", title_justify="left")
    for col in ("leader", "label", "cursor", "fills", "copied", "skipped", "last fill"):
        leaders.add_column(col)
    for r in status["leaders"]:
        leaders.add_row(_short(r["address"]), r["label"], str(r["cursor_block"]), str(r["fills_seen"]),
                        str(r["copied"]), str(r["skipped"]), r["last_fill_at"] or "-")  # fmt: skip
    positions = Table(title="Open positions", title_justify="left")
    for col in ("token", "outcome", "shares", "avg", "mark", "cost", "unrealized"):
        positions.add_column(col)
    for p in status["positions"]:
        positions.add_row(_short(p["token_id"]), p["outcome"] or "?", p["shares"], p["avg_price"] or "-",
                          p["mark_price"] or "-", p["cost_usdc"], p["unrealized_pnl_usdc"] or "-")  # fmt: skip
    shown = status["copies"] if copies is None else status["copies"][:copies]
    out += [leaders, positions, copies_table(shown)]
    return out


def render(status: dict[str, Any], console: Console) -> None:
    for item in renderables(status):
        console.print(item)


def copies_table(copies: list[dict[str, Any]], title: str = "Recent copies") -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("at", "leader", "side", "token", "leader px", "decision", "usdc", "fill px", "reason"):
        table.add_column(col, overflow="fold")
    colours = {"filled": "green", "skipped": "yellow", "failed": "red"}
    for c in copies:
        table.add_row(c["at"][11:19], _short(c["leader"], 10), c["side"], _short(c["token_id"]), c["leader_price"],
                      f"[{colours.get(c['decision'], 'white')}]{c['decision']}[/]", c["order_usdc"] or "-",
                      c["fill_price"] or "-", c["reason"])  # fmt: skip
    return table
