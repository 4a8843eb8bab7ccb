"""Bookkeeping on an open transaction: orders, trades, positions and the cash ledger.

Every function here runs inside the caller's transaction (``Store`` owns it), so a decision and
the money it moves land together or not at all. Orders are keyed by a client key: an intent row
is written before an order is sent and updated with its outcome, so a crash in between leaves a
row that says "ask the exchange before doing anything else".
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from decimal import Decimal

from copybot.errors import StoreError
from copybot.models import CopyOutcome, Decision, ExitRule, MarketInfo, OrderIntent, OrderResult, Side, UnsettledTrade
from copybot.protocol import LOT
from copybot.store.records import exit_purpose


@dataclass(frozen=True, slots=True)
class NewOrder:
    client_key: str
    fill_id: int | None
    purpose: str  # "copy" or records.exit_purpose(rule)
    leader: str
    mode: str
    intent: OrderIntent
    exchange_order_id: str = ""


@dataclass(frozen=True, slots=True)
class ExitOutcome:
    """Closing (part of) a position: by an order, or by settlement at a resolved price."""

    leader: str
    token_id: int
    rule: ExitRule
    client_key: str
    intent: OrderIntent | None = None
    result: OrderResult | None = None
    status: str = "filled"  # filled | skipped | failed | redeemable
    detail: str = ""
    resolved_price: Decimal | None = None  # RESOLVED: what a share pays (1 or 0)


_INSERT_ORDER = (
    "INSERT {how} INTO orders (client_key, fill_id, purpose, leader, mode, token_id, side, amount, worst_price, "
    "status, exchange_order_id, created_at, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _order_values(o: NewOrder, status: str, now: float, answered: float | None) -> tuple[object, ...]:
    i = o.intent
    worst = None if i.worst_price is None else str(i.worst_price)
    identity = (o.client_key, o.fill_id, o.purpose, o.leader, o.mode)
    what = (str(i.token_id), i.side.value, i.amount, worst)
    return (*identity, *what, status, o.exchange_order_id or None, now, answered)


_INSERT_DECISION = (
    "INSERT INTO decisions (fill_id, decision, code, reason, order_usdc, fill_shares, fill_usdc, fill_price, "
    "details, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def write_intent(c: sqlite3.Connection, o: NewOrder, now: float) -> bool:
    cur = c.execute(_INSERT_ORDER.format(how="OR IGNORE"), _order_values(o, "intent", now, None))
    return cur.rowcount == 1


def _upsert_order(c: sqlite3.Connection, o: NewOrder, status: str, now: float) -> int:
    """The order with its outcome: its intent row updated, or a new row (paper writes no intents)."""
    row = c.execute(
        _INSERT_ORDER.format(how="")
        + " ON CONFLICT (client_key) DO UPDATE SET status = excluded.status, answered_at = excluded.answered_at, "
        "exchange_order_id = COALESCE(orders.exchange_order_id, excluded.exchange_order_id) RETURNING id",
        _order_values(o, status, now, now),
    ).fetchone()
    return int(row[0])


def record_copy(c: sqlite3.Connection, fill_id: int, o: CopyOutcome, mode: str, now: float) -> None:
    r, intent, fill = o.result, o.intent, o.fill
    order_usdc = intent.amount if intent is not None and intent.side is Side.BUY else None
    if order_usdc is None and r is not None:
        order_usdc = r.collateral
    filled = (r.shares, r.collateral, str(r.avg_price)) if r else (None, None, None)
    details = json.dumps(o.details, default=str, sort_keys=True)
    c.execute(_INSERT_DECISION, (fill_id, o.decision.value, o.code.value, o.reason, order_usdc, *filled, details, now))
    c.execute("UPDATE fills SET state = 'done' WHERE id = ?", (fill_id,))
    if o.market is not None:
        remember_market(c, o.market)
    if intent is None:
        return
    key = o.client_key or f"{fill.tx_hash}:{fill.log_index}"
    order = NewOrder(key, fill_id, "copy", fill.leader, mode, intent, o.order_id)
    order_id = _upsert_order(c, order, o.decision.value, now)
    if r is None or o.decision is not Decision.FILLED:
        return
    trade = Trade(fill.leader, intent.token_id, intent.side, r, o.market)
    realized = book_trade(c, trade, order_id=order_id, ref=key, now=now)
    if intent.side is Side.SELL:  # the leader's exit, mirrored: listed with copybot's own exits
        _record_exit_row(
            c, fill.leader, intent.token_id, ExitRule.LEADER_EXIT, "filled", r, realized, o.reason, key, now
        )


def remember_market(c: sqlite3.Connection, m: MarketInfo) -> None:
    """Store what is known of a token's market; a blank field never erases a known one (a market
    known only from its book has a condition id but no question)."""
    fields = ("condition_id", "outcome", "question", "slug")
    keep = ", ".join(f"{k} = CASE WHEN excluded.{k} != '' THEN excluded.{k} ELSE markets.{k} END" for k in fields)
    c.execute(
        f"INSERT INTO markets VALUES (?, ?, ?, ?, ?) ON CONFLICT (token_id) DO UPDATE SET {keep}",
        (str(m.token_id), m.condition_id, m.outcome, m.question, m.slug),
    )


@dataclass(frozen=True, slots=True)
class Trade:
    """Shares that changed hands for one of our positions."""

    leader: str
    token_id: int
    side: Side
    result: OrderResult
    market: MarketInfo | None = None


def book_trade(c: sqlite3.Connection, t: Trade, *, order_id: int | None, ref: str, now: float, kind: str = "") -> int:
    """A fill that happened: the trade row, the position, and the cash it moved, fee included (a
    purchase costs what it spent plus its fee; a sale brings its proceeds less its fee); returns
    the P&L a sale realized (0 for a purchase)."""
    r = t.result
    net = r.collateral + r.fee if t.side is Side.BUY else r.collateral - r.fee
    realized = apply_trade(c, t.leader, t.token_id, t.side, r.shares, net, t.market, now)
    if order_id is not None:
        cost_out = net - realized if t.side is Side.SELL else 0
        c.execute(
            "INSERT INTO trades (order_id, token_id, side, shares, usdc, price, at, exchange_trades, settlement, "
            "cost_out, fee) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order_id,
                str(t.token_id),
                t.side.value,
                r.shares,
                r.collateral,
                str(r.avg_price),
                now,
                ",".join(r.trades),
                "pending" if r.trades else "",
                cost_out,
                r.fee,
            ),
        )
    amount = -net if t.side is Side.BUY else net
    c.execute(
        "INSERT INTO ledger (at, kind, amount, ref) VALUES (?, ?, ?, ?)",
        (now, kind or ("buy" if t.side is Side.BUY else "sell"), amount, ref),
    )
    return realized


def apply_trade(
    c: sqlite3.Connection,
    leader: str,
    token_id: int,
    side: Side,
    shares: int,
    usdc: int,
    market: MarketInfo | None,
    now: float,
) -> int:
    """The position after ``shares`` bought for (or sold for) ``usdc``: cost basis and realized P&L.
    Returns the P&L a sale realized (0 for a purchase)."""
    token = str(token_id)
    row = c.execute("SELECT * FROM positions WHERE leader = ? AND token_id = ?", (leader, token)).fetchone()
    cid, outcome = (market.condition_id, market.outcome) if market else ("", "")
    if side is Side.BUY:
        if row is None:
            c.execute(
                "INSERT INTO positions (leader, token_id, condition_id, outcome, shares, cost, opened_at, "
                "updated_at, last_buy_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (leader, token, cid, outcome, shares, usdc, now, now, now),
            )
            return 0
        reopened = row["shares"] == 0
        c.execute(
            "UPDATE positions SET shares = shares + ?, cost = cost + ?, updated_at = ?, last_buy_at = ?, "
            "opened_at = CASE WHEN ? THEN ? ELSE opened_at END, "
            "high_water = CASE WHEN ? THEN NULL ELSE high_water END, "
            "redeemable = 0, resolved_price = NULL, "
            "condition_id = CASE WHEN ? != '' THEN ? ELSE condition_id END, "
            "outcome = CASE WHEN ? != '' THEN ? ELSE outcome END WHERE leader = ? AND token_id = ?",
            (shares, usdc, now, now, reopened, now, reopened, cid, cid, outcome, outcome, leader, token),
        )
        return 0
    if row is None or row["shares"] <= 0:
        raise StoreError(f"sell of {token} for {leader} without a position")
    held, cost = int(row["shares"]), int(row["cost"])
    sold = min(shares, held)
    if held - sold < LOT:
        # Less than one 0.01-share lot left: no order can ever sell it. Write the dust off so
        # the position closes (its cost goes into realized P&L).
        sold = held
    cost_out = cost if sold == held else cost * sold // held  # average cost of what left
    c.execute(
        "UPDATE positions SET shares = ?, cost = ?, realized = realized + ?, updated_at = ? "
        "WHERE leader = ? AND token_id = ?",
        (held - sold, cost - cost_out, usdc - cost_out, now, leader, token),
    )
    return usdc - cost_out


def record_exit(c: sqlite3.Connection, e: ExitOutcome, mode: str, now: float) -> int | None:
    """An exit copybot made on its own, with its order and the sale it booked; one ``exits`` row
    whatever became of it. Returns the P&L it realized (None when nothing was sold)."""
    realized: int | None = None
    if e.status == "redeemable":  # the market resolved; the shares wait to be redeemed
        price = None if e.resolved_price is None else str(e.resolved_price)
        c.execute(
            "UPDATE positions SET redeemable = 1, resolved_price = ?, updated_at = ? WHERE leader = ? AND token_id = ?",
            (price, now, e.leader, str(e.token_id)),
        )
    else:
        order_id = None
        if e.intent is not None:
            order = NewOrder(e.client_key, None, exit_purpose(e.rule), e.leader, mode, e.intent)
            order_id = _upsert_order(c, order, e.status, now)
        if e.result is not None and e.status == "filled":
            kind = "redeem" if e.rule is ExitRule.RESOLVED else "sell"
            trade = Trade(e.leader, e.token_id, Side.SELL, e.result)
            realized = book_trade(c, trade, order_id=order_id, ref=e.client_key, now=now, kind=kind)
    _record_exit_row(c, e.leader, e.token_id, e.rule, e.status, e.result, realized, e.detail, e.client_key, now)
    return realized


def _record_exit_row(
    c: sqlite3.Connection,
    leader: str,
    token_id: int,
    rule: ExitRule,
    status: str,
    result: OrderResult | None,
    realized: int | None,
    detail: str,
    ref: str,
    now: float,
) -> None:
    sold = (result.shares, result.collateral) if result is not None and status == "filled" else (None, None)
    c.execute(
        "INSERT INTO exits (at, leader, token_id, rule, status, shares, usdc, realized, detail, ref) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (now, leader, str(token_id), rule.value, status, *sold, realized, detail[:500], ref),
    )


def reverse_trade(c: sqlite3.Connection, t: UnsettledTrade, shares: int, usdc: int, now: float) -> None:
    """Undo the part of a booked trade (``shares`` for ``usdc``) that failed on chain after matching,
    its fee with it: a purchase gives its shares back and its cash returns; a sale gets its shares
    and their cost basis back, its realized P&L is taken back and its proceeds leave the cash again."""
    token = str(t.token_id)
    query = "SELECT shares, cost FROM positions WHERE leader = ? AND token_id = ?"
    row = c.execute(query, (t.leader, token)).fetchone()
    held, cost = (int(row["shares"]), int(row["cost"])) if row is not None else (0, 0)
    whole = shares >= t.shares
    fee = t.fee if whole else t.fee * shares // max(t.shares, 1)
    if t.side is Side.BUY:
        gone = min(shares, held)
        paid = usdc + fee
        cost_back = min(cost, paid if gone == shares else paid * gone // max(shares, 1))
        c.execute(
            "UPDATE positions SET shares = ?, cost = ?, updated_at = ? WHERE leader = ? AND token_id = ?",
            (held - gone, cost - cost_back, now, t.leader, token),
        )
        amount = paid
    else:
        got = usdc - fee
        cost_back = t.cost_out if whole else t.cost_out * shares // max(t.shares, 1)
        c.execute(
            "UPDATE positions SET shares = shares + ?, cost = cost + ?, realized = realized - ?, updated_at = ? "
            "WHERE leader = ? AND token_id = ?",
            (shares, cost_back, got - cost_back, now, t.leader, token),
        )
        amount = -got
    ref = f"trade:{t.row_id}"
    c.execute("INSERT INTO ledger (at, kind, amount, ref) VALUES (?, 'trade_failed', ?, ?)", (now, amount, ref))
