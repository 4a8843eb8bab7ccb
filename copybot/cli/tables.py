"""The tables of ``status`` and the dashboard, fitted to the terminal: never a cut number.

Each column says how much it matters (``keep``) and whether it holds numbers. A table wider than
the terminal first lets its text columns (markets, reasons, labels) shrink to their minimum, then
drops the columns that matter least, one at a time. A number column is always as wide as its
widest value: at 80 columns a table shows fewer columns, never ``10.…``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text

COLOURS = {"filled": "green", "skipped": "yellow", "failed": "red", "redeemable": "cyan"}
FRAME = 3  # per column: its padding (one space each side) and one border line; plus one for the last border


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    keep: int  # the higher, the longer it stays on a narrow terminal
    number: bool = False  # never cut: as wide as its widest value, right-aligned
    shrinks_to: int = 0  # a text column may shrink (with an ellipsis) down to this many characters


def fitted(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> Table:
    """A rich table of ``rows`` (cells may hold rich markup) at most ``width`` characters wide."""
    natural = [
        max([len(col.name), *(Text.from_markup(row[i]).cell_len for row in rows)]) for i, col in enumerate(columns)
    ]
    least = [_least(col, n) for col, n in zip(columns, natural, strict=True)]
    kept = list(range(len(columns)))
    while len(kept) > 1 and sum(least[i] for i in kept) + FRAME * len(kept) + 1 > width:
        kept.remove(min(kept, key=lambda i: columns[i].keep))
    widths = _widths(columns, kept, natural, least, width)
    table = Table(title=title, title_justify="left", title_style="bold")
    for i in kept:
        col = columns[i]
        justify: JustifyMethod = "right" if col.number else "left"
        table.add_column(col.name, no_wrap=True, overflow="ellipsis", width=widths[i], justify=justify)
    for row in rows:
        table.add_row(*(row[i] for i in kept))
    return table


def _widths(
    columns: Sequence[Column], kept: list[int], natural: list[int], least: list[int], width: int
) -> dict[int, int]:
    """Each kept column's width: fixed columns their content; the shrinking ones share what is left,
    the narrowest first (none below its minimum, none above its content)."""
    out = {i: natural[i] for i in kept if least[i] == natural[i]}
    flexible = sorted((i for i in kept if i not in out), key=lambda i: natural[i] - least[i])
    spare = width - FRAME * len(kept) - 1 - sum(out.values()) - sum(least[i] for i in flexible)
    for n, i in enumerate(flexible):
        more = min(natural[i] - least[i], max(0, spare) // (len(flexible) - n))
        out[i] = least[i] + more
        spare -= more
    return out


def _least(col: Column, natural: int) -> int:
    """The narrowest a column may get: a number (or a text that does not shrink) never less than its content."""
    if col.number or not col.shrinks_to:
        return natural
    return min(natural, max(col.shrinks_to, len(col.name)))


def num(value: str | None, places: int) -> str:
    if value is None:
        return "-"
    return format(Decimal(value).quantize(Decimal(1).scaleb(-places)), "f")


def short(text: str, n: int = 12) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def market(item: dict[str, Any]) -> str:
    """A market as people know it: the question and the outcome; the token id when unknown."""
    if item.get("question"):
        return f"{item['question']} [{item['outcome']}]"
    return short(item["token_id"], 14)


def leader(item: dict[str, Any]) -> str:
    return item.get("leader_label") or short(item["leader"], 10)


def leaders_table(status: dict[str, Any], width: int) -> Table:
    columns = [
        Column("leader", 100),
        Column("label", 60, shrinks_to=6),
        Column("cursor", 30, number=True),
        Column("fills", 70, number=True),
        Column("copied", 90, number=True),
        Column("skipped", 80, number=True),
        Column("realized", 95, number=True),
        Column("unrealized", 94, number=True),
        Column("last fill", 40),
    ]
    rows = [
        [
            short(r["address"]),
            r["label"],
            str(r["cursor_block"]),
            str(r["fills_seen"]),
            str(r["copied"]),
            str(r["skipped"]),
            num(r.get("realized_pnl_usdc"), 2),
            num(r.get("unrealized_pnl_usdc"), 2),
            (r["last_fill_at"] or "-").replace("T", " ").rstrip("Z"),
        ]
        for r in status["leaders"]
    ]
    return fitted("Leaders", columns, rows, width)


def positions_table(status: dict[str, Any], width: int) -> Table:
    shown, total = len(status["positions"]), status["bankroll"]["open_positions"]
    title = "Open positions" if shown >= total else f"Open positions ({shown} most recent of {total:,})"
    columns = [
        Column("market", 100, shrinks_to=12),
        Column("leader", 70, shrinks_to=6),
        Column("shares", 90, number=True),
        Column("avg", 60, number=True),
        Column("mark", 80, number=True),
        Column("cost", 85, number=True),
        Column("unrealized", 95, number=True),
        Column("realized", 50, number=True),
    ]
    rows = [
        [
            market(p),
            short(p["leader"], 10),
            num(p["shares"], 2),
            num(p["avg_price"], 4),
            "redeem" if p.get("redeemable") else num(p["mark_price"], 4),
            num(p["cost_usdc"], 2),
            num(p["unrealized_pnl_usdc"], 2),
            num(p.get("realized_pnl_usdc"), 2),
        ]
        for p in status["positions"]
    ]
    return fitted(title, columns, rows, width)


def copies_table(copies: list[dict[str, Any]], width: int, title: str = "Recent copies") -> Table:
    columns = [
        Column("time", 60),
        Column("leader", 55, shrinks_to=6),
        Column("side", 95),
        Column("market", 80, shrinks_to=10),
        Column("leader px", 50, number=True),
        Column("our px", 90, number=True),
        Column("usdc", 92, number=True),
        Column("decision", 100),
        Column("reason", 65, shrinks_to=10),
    ]
    rows = [
        [
            c["at"][11:19],
            leader(c),
            c["side"],
            market(c),
            num(c["leader_price"], 4),
            num(c["fill_price"], 4),
            num(c["order_usdc"], 2),
            f"[{COLOURS.get(c['decision'], 'white')}]{c['decision']}[/]",
            c["reason"],
        ]
        for c in copies
    ]
    return fitted(title, columns, rows, width)


def exits_table(exits: list[dict[str, Any]], width: int, title: str = "Recent exits") -> Table:
    columns = [
        Column("time", 60),
        Column("leader", 50, shrinks_to=6),
        Column("rule", 100),
        Column("market", 80, shrinks_to=10),
        Column("shares", 70, number=True),
        Column("price", 75, number=True),
        Column("usdc", 88, number=True),
        Column("realized", 95, number=True),
        Column("status", 85),
        Column("detail", 40, shrinks_to=10),
    ]
    rows = [
        [
            e["at"][11:19],
            leader(e),
            e["rule"].replace("_", " "),
            market(e),
            num(e["shares"], 2),
            num(e["price"], 4),
            num(e["usdc"], 2),
            num(e["realized_pnl_usdc"], 2),
            f"[{COLOURS.get(e['status'], 'white')}]{e['status']}[/]",
            e["detail"],
        ]
        for e in exits
    ]
    return fitted(title, columns, rows, width)
