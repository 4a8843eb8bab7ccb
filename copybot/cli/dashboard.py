"""The live terminal view of ``watch --dashboard`` (and ``demo``): redrawn after every cycle.

Everything shown comes from two values the loop already has: the status snapshot (the
``status --json`` contract, read once per cycle) and the cycle's report (timings, phase split,
``app.health()``). :func:`render` is pure, so it is tested by printing into a recording console.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from copybot.cli.status import summary_text
from copybot.cli.tables import Column, copies_table, exits_table, fitted, leaders_table, positions_table
from copybot.clock import iso

if TYPE_CHECKING:  # rendering needs only the report's shape, not the loop and its app
    from copybot.daemon import CycleReport

PHASES = ("poll", "execute", "manage")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def cycle_text(report: CycleReport | None, poll_interval_s: float) -> Text:
    if report is None:
        return Text(f"Cycle: waiting for the first one (every {poll_interval_s:g}s)", style="dim")
    s = report.stats
    split = " · ".join(f"{name} {_ms(report.phases[name])}" for name in PHASES if name in report.phases)
    text = Text.from_markup(
        f"[bold]Cycle[/] every {poll_interval_s:g}s: last took [bold]{s.duration_ms:.0f} ms[/]"
        + (f" ({split})" if split else "")
        + f"  block {report.latest_block}  new fills {report.new_fills}  decided {s.decisions}"
        + f"  deferred {report.deferred}  api calls {s.api_calls}  cache {s.cache_hits}/{s.cache_hits + s.cache_misses}"
    )
    source = s.source_health.get("source") or {}
    if source:
        text.append(f"\nsource {source.get('kind', '?')}")
        if source.get("effective_period_s") is not None:
            text.append(f"  each leader polled every {source['effective_period_s']:g}s")
        if source.get("daily_budget"):
            text.append(f"  calls today {source.get('calls_today', 0)}/{source['daily_budget']}")
    if s.last_error:
        text.append(f"\nlast error: {s.last_error}", style="yellow")
    return text


def upstreams_table(health: dict[str, Any], width: int) -> Table:
    columns = [
        Column("upstream", 100),
        Column("calls", 90, number=True),
        Column("errors", 80, shrinks_to=10),
        Column("last success", 60),
        Column("last error", 50, shrinks_to=10),
    ]
    rows = []
    for name, u in health.get("upstreams", {}).items():
        errors = u.get("errors") or {}
        shown = ", ".join(f"{kind} {n}" for kind, n in sorted(errors.items())) or "-"
        last_ok = u.get("last_success_at")  # unix time from app.health(), ISO text from the status snapshot
        when = "never" if not last_ok else (last_ok if isinstance(last_ok, str) else iso(last_ok))[11:19]
        style = "red" if errors and not last_ok else ("yellow" if errors else "green")
        rows.append([f"[{style}]{name}[/]", str(u.get("calls", 0)), shown, when, u.get("last_error") or "-"])
    return fitted("Upstreams", columns, rows, width)


def render(
    status: dict[str, Any], report: CycleReport | None, poll_interval_s: float, width: int, copies: int = 10
) -> RenderableType:
    """The whole view, ``width`` columns wide: summary, cycle timing, leaders, recent copies and
    exits, open positions, upstreams."""
    health = dict(report.stats.source_health) if report is not None else status["stats"]
    parts: list[RenderableType] = [
        summary_text(status),
        cycle_text(report, poll_interval_s),
        leaders_table(status, width),
        copies_table(status["copies"][:copies], width),
    ]
    if status.get("exits"):
        parts.append(exits_table(status["exits"][: max(1, copies // 2)], width))
    parts += [positions_table(status, width), upstreams_table(health, width)]
    return Group(*parts)


class Dashboard:
    """A rich Live view; a context manager. ``show`` redraws it (called once per cycle)."""

    def __init__(self, console: Console, poll_interval_s: float, copies: int = 10) -> None:
        self._poll = poll_interval_s
        self._copies = copies
        # stdout/stderr printed while live (warnings) are shown above the view, not through it
        self._live = Live(
            Text("copybot: starting…"),
            console=console,
            refresh_per_second=4,
            redirect_stdout=True,
            redirect_stderr=True,
        )

    def show(self, status: dict[str, Any], report: CycleReport | None) -> None:
        width = self._live.console.width
        self._live.update(render(status, report, self._poll, width, self._copies), refresh=True)

    def __enter__(self) -> Dashboard:
        self._live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.stop()
