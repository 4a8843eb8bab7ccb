"""`copybot init`: a commented settings file that loads, never overwritten by accident."""

from __future__ import annotations

from pathlib import Path

import yaml

from copybot.cli import init
from copybot.cli.init import ask_leaders
from copybot.config.loading import load_settings
from copybot.config.settings import Settings
from tests.support.cli import run_cli

LEADER_A = "0x2f633efb75256a2f2445110c8978684ab8936643"
LEADER_B = "0xdb4D584b12872361B88062F1Fe2773247b366E94"  # checksummed
EXAMPLE = Path(__file__).resolve().parents[2] / "settings.example.yaml"


def test_init_writes_a_file_that_loads_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "settings.yaml"
    result = run_cli("init", "--path", str(path), "--leader", LEADER_A, "--leader", LEADER_B)
    assert result.returncode == 0, result.stderr
    assert f"wrote {path} (2 leaders)" in result.stdout
    settings = load_settings(path, environ={})
    assert [leader.address for leader in settings.leaders] == [LEADER_A, LEADER_B.lower()]
    assert settings.mode == "paper"
    text = path.read_text(encoding="utf-8")
    assert text.count("#") > 20, "the file should explain its keys"

    again = run_cli("init", "--path", str(path), "--leader", LEADER_A)
    assert again.returncode == 2
    assert (
        again.stderr.strip()
        == f"copybot: error: {path}: already exists; not overwriting it (use --force to replace it)"
    )
    assert path.read_text(encoding="utf-8") == text

    forced = run_cli("init", "--path", str(path), "--force", "--leader", LEADER_B)
    assert forced.returncode == 0, forced.stderr
    assert [leader.address for leader in load_settings(path, environ={}).leaders] == [LEADER_B.lower()]


def test_init_rejects_a_bad_address_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    result = run_cli("init", "--path", str(path), "--leader", "0x1234")
    assert result.returncode == 2
    assert result.stderr.startswith("copybot: error: --leader: ") and "is not an address" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not path.exists()


def test_asking_for_leaders_on_a_terminal() -> None:
    answers = iter(["nonsense", LEADER_A, LEADER_A.upper().replace("0X", "0x"), LEADER_B, ""])
    said: list[str] = []
    chosen = ask_leaders(lambda _question: next(answers), said.append)
    assert chosen == [LEADER_A, LEADER_B]
    assert any("is not an address" in s for s in said) and any("already in the list" in s for s in said)


def test_the_file_is_the_example_with_the_leaders_filled_in() -> None:
    assert EXAMPLE == init.EXAMPLE and EXAMPLE.is_file()
    example_text = EXAMPLE.read_text(encoding="utf-8")
    text = init.render([LEADER_A, LEADER_B])
    assert text == init.from_example(example_text, [LEADER_A, LEADER_B])
    example, written = yaml.safe_load(example_text), yaml.safe_load(text)
    assert [leader["address"] for leader in written.pop("leaders")] == [LEADER_A, LEADER_B]
    example.pop("leaders")
    assert written == example, "every other key and value comes from the example"
    # every comment of the example survives, except those on the example leader's own lines
    kept = {line.strip() for line in text.splitlines()}
    dropped = [line for line in example_text.splitlines() if "#" in line and line.strip() not in kept]
    assert all("address:" in line or "label:" in line or line.startswith("leaders:") for line in dropped), dropped
    assert init.validate(text, "t").leaders[1].address == LEADER_B.lower()


def test_without_the_example_plain_defaults_still_load() -> None:
    assert init.from_example("mode: paper\n", [LEADER_A]) is None
    settings = init.validate(init.from_defaults([LEADER_A]), "t")
    assert [leader.address for leader in settings.leaders] == [LEADER_A]
    assert settings.model_dump(exclude={"leaders"}) == Settings().model_dump(exclude={"leaders"})
    assert init.validate(init.from_example(EXAMPLE.read_text(encoding="utf-8"), []) or "", "t").leaders == ()


def test_without_a_terminal_or_a_leader_nothing_is_written(tmp_path: Path) -> None:
    target = tmp_path / "settings.yaml"
    result = run_cli("init", "--path", str(target))  # stdin is not a terminal here
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "copybot: error: --leader: no leader given, and no terminal to ask for one "
        "(pass --leader 0x... once per leader)"
    )
    assert not target.exists()
