"""What every benchmark shares: a result section (text + table), timing, percentiles, the machine.

A :class:`Section` is one benchmark's outcome, rendered the same way on the terminal and in
``bench/RESULTS.md``. Numbers are formatted once here so every table reads alike.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

LATENCY_MS = 50.0  # injected on every upstream request, like a real API far away


@dataclass
class Section:
    """One benchmark's results: a title, what was measured, a table, and what it means."""

    key: str  # the name used on the command line: python -m bench <key>
    title: str
    intro: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # the numbers that answer the brief: [measure, result, target, met ("yes", "NO" or "")]
    headline: list[list[str]] = field(default_factory=list)
    seconds: float = 0.0  # how long the benchmark itself took
    ran_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M %Z"))
    machine: str = field(default_factory=lambda: machine())
    load: float = field(default_factory=lambda: load_average())  # when the benchmark started

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", self.intro, "", *table(self.headers, self.rows)]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        lines += [
            "",
            f"_`python -m bench {self.key}`: {self.seconds:.0f} s, {self.ran_at}, load average "
            f"{self.load:.2f} at start._",
        ]
        return "\n".join(lines)

    def terminal(self) -> str:
        widths = [max([len(h)] + [len(r[i]) for r in self.rows]) for i, h in enumerate(self.headers)]
        out = [f"== {self.title} ({self.seconds:.0f} s)", _line(self.headers, widths)]
        out += [_line(row, widths) for row in self.rows]
        out += [f"  * {note}" for note in self.notes]
        return "\n".join(out)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numbers: bool = True) -> list[str]:
    """A markdown table: the first column left-aligned, the others right-aligned if ``numbers``."""
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---" if i == 0 or not numbers else "---:" for i in range(len(headers))) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """First column left-aligned (the case), numbers right-aligned."""
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def machine() -> str:
    """This machine in one line: what the numbers depend on."""
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (
        f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs{mem}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def load_average() -> float:
    """The 1-minute load average: how busy the machine was (others' processes count too)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rss_mb() -> float:
    """Resident set size of this process (VmRSS), in MiB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def secs(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def ratio(naive: float, ours: float) -> str:
    if ours <= 0 or math.isnan(ours) or math.isnan(naive):
        return "n/a"
    return f"{naive / ours:.1f}x"


def count(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:.1f}"
