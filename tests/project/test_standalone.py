"""A clone anywhere works: nothing in the project reads a path outside its own checkout.

The tracked files are copied into a directory that holds nothing else (no sibling folder beside it),
and a part of the suite runs there under an audit hook that records every file or directory the
run opens in the original checkout or beside it. The part: every test module imported (collection),
every fixture loaded, the decoding, sandbox wire-format and ``init`` tests run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_THERE = (
    "tests/unit/test_fixtures.py",
    "tests/unit/test_decode.py",
    "tests/integration/test_sandbox.py",
    "tests/cli/test_init.py",
)

GUARD = '''
"""pytest plugin: remember every path opened or listed under a forbidden prefix."""
import atexit, os, sys

FORBIDDEN = [p for p in os.environ["COPYBOT_GUARD_FORBIDDEN"].split(os.pathsep) if p]
ALLOWED = [p for p in os.environ["COPYBOT_GUARD_ALLOWED"].split(os.pathsep) if p] + [sys.prefix]
SEEN = set()


def _under(path, prefixes):
    return any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in prefixes)


def _hook(event, args):
    if event not in ("open", "os.listdir", "os.scandir") or not args:
        return
    target = args[0]
    if not isinstance(target, (str, bytes, os.PathLike)):
        return
    path = os.path.abspath(os.fsdecode(target))
    if _under(path, FORBIDDEN) and not _under(path, ALLOWED):
        SEEN.add(path)


def _report():
    with open(os.environ["COPYBOT_GUARD_REPORT"], "a", encoding="utf-8") as out:
        out.writelines(p + "\\n" for p in sorted(SEEN))


sys.addaudithook(_hook)
atexit.register(_report)
'''


def tracked_files() -> list[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed: cannot list the tracked files")
    done = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("not a git checkout: cannot list the tracked files")
    return [name for name in done.stdout.decode().split("\0") if name]


def forbidden_places(allowed: list[Path]) -> list[str]:
    """The original checkout and everything beside it, except places the copy legitimately uses
    (a sibling that holds the copy or the interpreter, e.g. /tmp when the checkout is in /tmp)."""
    places = [REPO]
    for sibling in REPO.parent.iterdir():
        if sibling != REPO and not any(a == sibling or sibling in a.parents for a in allowed):
            places.append(sibling)
    return [str(p) for p in places]


def test_a_copy_with_nothing_beside_it_imports_every_test_and_runs_a_part(tmp_path: Path) -> None:
    files = tracked_files()
    root = tmp_path / "alone" / "copybot"  # "alone" holds the checkout and nothing else
    for name in files:
        source = REPO / name
        if source.is_file():  # a file deleted in the working tree but still tracked is skipped
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "outside_guard.py").write_text(GUARD, encoding="utf-8")
    report = tmp_path / "outside.txt"
    report.touch()
    allowed = [tmp_path, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), str(guard)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "COPYBOT_GUARD_FORBIDDEN": os.pathsep.join(forbidden_places(allowed)),
        "COPYBOT_GUARD_ALLOWED": os.pathsep.join(str(a) for a in allowed),
        "COPYBOT_GUARD_REPORT": str(report),
    }
    env.pop("COPYBOT_CONFIG", None)
    base = [sys.executable, "-m", "pytest", "-p", "outside_guard", "-p", "no:cacheprovider", "-q"]
    where = subprocess.run(
        [sys.executable, "-c", "import copybot; print(copybot.__file__)"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert Path(where.stdout.strip()).is_relative_to(root), f"the copy imported {where.stdout or where.stderr}"

    collected = subprocess.run(
        [*base, "--collect-only", "--basetemp", str(tmp_path / "t1")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert " collected" in collected.stdout.splitlines()[-1]

    ran = subprocess.run(
        [*base, "--basetemp", str(tmp_path / "t2"), *RUN_THERE],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert " passed" in ran.stdout.splitlines()[-1] and "skipped" not in ran.stdout.splitlines()[-1]

    outside = report.read_text(encoding="utf-8").split()
    assert outside == [], f"the copy read outside its checkout: {outside[:10]}"
