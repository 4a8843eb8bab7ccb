"""Rows as typed values: what the store hands to the rest of copybot (never a ``sqlite3.Row``).

The one place that knows how columns are spelled and encoded (token ids and prices as TEXT, an
exit's rule inside ``orders.purpose``) on the way out.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from copybot.models import ExitRule, Fill, OrderRecord, PauseKind, Position, RiskState, Side, UnsettledTrade

EXIT_PURPOSE = "exit:"  # orders.purpose of an exit: "exit:<rule>"; a copy's is "copy"


def exit_purpose(rule: ExitRule) -> str:
    return f"{EXIT_PURPOSE}{rule.value}"


def fill(row: sqlite3.Row) -> Fill:
    return Fill(
        leader=row["leader"],
        tx_hash=row["tx_hash"],
        log_index=row["log_index"],
        block=row["block"],
        timestamp=row["ts"],
        exchange=row["exchange"],
        token_id=int(row["token_id"]),
        side=Side(row["side"]),
        shares=row["shares"],
        collateral=row["collateral"],
        fee=row["fee"],
        as_taker=bool(row["as_taker"]),
    )


def _price(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def position(row: sqlite3.Row) -> Position:
    """A ``positions`` row, optionally joined with ``markets`` (question) and with any subset of
    the optional columns selected."""
    keys = row.keys()
    return Position(
        leader=row["leader"],
        token_id=int(row["token_id"]),
        condition_id=row["condition_id"] or "",
        shares=int(row["shares"]),
        cost=int(row["cost"]),
        opened_at=float(row["opened_at"]) if "opened_at" in keys else 0.0,
        outcome=(row["outcome"] or "") if "outcome" in keys else "",
        question=(row["question"] or "") if "question" in keys else "",
        realized=int(row["realized"]) if "realized" in keys else 0,
        mark_price=_price(row["mark_price"]),
        high_water=_price(row["high_water"]) if "high_water" in keys else None,
        redeemable=bool(row["redeemable"]) if "redeemable" in keys else False,
        resolved_price=_price(row["resolved_price"]) if "resolved_price" in keys else None,
    )


def order(row: sqlite3.Row) -> OrderRecord:
    purpose = str(row["purpose"])
    rule = ExitRule(purpose.removeprefix(EXIT_PURPOSE)) if purpose.startswith(EXIT_PURPOSE) else None
    return OrderRecord(
        client_key=row["client_key"],
        fill_id=row["fill_id"],
        exit_rule=rule,
        leader=row["leader"] or "",
        token_id=int(row["token_id"]),
        side=Side(row["side"]),
        amount=int(row["amount"]),
        status=row["status"],
        exchange_order_id=row["exchange_order_id"] or "",
    )


def risk_state(row: sqlite3.Row) -> RiskState:
    return RiskState(
        day=row["day"],
        day_start_equity=row["day_start_equity"],
        consecutive_failures=int(row["consecutive_failures"]),
        paused_reason=row["paused_reason"],
        paused_kind=PauseKind(row["paused_kind"]),
        paused_day=row["paused_day"],
    )


def unsettled_trade(r: sqlite3.Row) -> UnsettledTrade:
    return UnsettledTrade(
        row_id=int(r["id"]),
        leader=str(r["leader"] or ""),
        token_id=int(r["token_id"]),
        side=Side(r["side"]),
        shares=int(r["shares"]),
        collateral=int(r["usdc"]),
        cost_out=int(r["cost_out"]),
        exchange_trades=tuple(i for i in str(r["exchange_trades"]).split(",") if i),
        fee=int(r["fee"]),
    )
