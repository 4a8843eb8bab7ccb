"""The score of the last ``make mutate`` run, per module: how many single flips the tests caught.

Reads the results mutmut left in ``mutants/*.meta``. A flip counts as caught when a test failed on
it, it ran past its time limit (an infinite loop), or the type checker refused it; as missed when
every test passed, or no test ran the line at all. Score = caught / (caught + missed).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

CAUGHT = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 37: "type check"}
MISSED = {0: "survived", 5: "no tests", 33: "no tests"}


def tally(mutants: Path) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        module = str(meta.relative_to(mutants)).removesuffix(".meta")
        counts: Counter[str] = Counter()
        for code in json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"].values():
            counts["caught" if code in CAUGHT else "missed" if code in MISSED else "unknown"] += 1
        out[module] = counts
    return out


def main(mutants: Path = Path("mutants")) -> int:
    if not mutants.is_dir():
        print("no mutants/ folder: run `make mutate` first", file=sys.stderr)
        return 2
    rows = tally(mutants)
    total: Counter[str] = Counter()
    print(f"{'module':<36} {'caught':>7} {'missed':>7} {'not run':>8} {'score':>7}")
    for module, c in rows.items():
        total += c
        judged = c["caught"] + c["missed"]
        score = f"{c['caught'] / judged:.1%}" if judged else "-"
        print(f"{module:<36} {c['caught']:>7} {c['missed']:>7} {c['unknown']:>8} {score:>7}")
    judged = total["caught"] + total["missed"]
    score = f"{total['caught'] / judged:.1%}" if judged else "-"
    print(f"{'all':<36} {total['caught']:>7} {total['missed']:>7} {total['unknown']:>8} {score:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
