"""``copybot init``: write a commented settings file to start from.

The text is ``settings.example.yaml`` itself, every comment kept, with only the leaders filled
in, from ``--leader`` or asked for on a terminal (without the example, plain defaults). The result is
validated by parsing it exactly as ``watch`` will, before anything is written, and an existing
file is never replaced without ``--force``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from copybot.config.loading import parse_settings
from copybot.config.settings import Settings
from copybot.errors import ConfigError

# The example next to the package (a source checkout or an editable install, as the README's
# install does): the one place every key is documented, so init never drifts from it.
EXAMPLE = Path(__file__).resolve().parents[2] / "settings.example.yaml"
HEADER = "# written by `copybot init` from settings.example.yaml; see it for every key and default.\n"
LEADERS_HELP = (
    "# the wallets to copy: the proxy/safe wallet shown on the Polymarket profile, not the owner's EOA.",
    "# Checksum or lowercase, in quotes. label is optional, shown in status and logs.",
)


def leaders_yaml(addresses: Sequence[str]) -> str:
    if not addresses:
        return 'leaders: []                     # add some: - address: "0x..."  (watch copies nothing without)'
    lines = ["leaders:"]
    for i, address in enumerate(addresses, 1):
        lines += [f'  - address: "{address}"', f'    label: "leader-{i}"']
    return "\n".join(lines)


def render(addresses: Sequence[str]) -> str:
    """The settings text: the commented example with these leaders, or plain defaults without it."""
    try:
        example = EXAMPLE.read_text(encoding="utf-8")
    except OSError:
        return from_defaults(addresses)
    return from_example(example, addresses) or from_defaults(addresses)


def from_example(example: str, addresses: Sequence[str]) -> str | None:
    """``example`` with its ``leaders:`` block replaced; None if it has no such block."""
    lines = example.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("leaders:")), None)
    if start is None:
        return None
    end = start + 1  # the block runs to the first blank or unindented line
    while end < len(lines) and lines[end].strip() and lines[end][0].isspace():
        end += 1
    # comment-only lines of the block are hints about a leader's keys (e.g. per-leader risk): keep them
    hints = [line for line in lines[start + 1 : end] if line.lstrip().startswith("#")]
    block = [*LEADERS_HELP, *leaders_yaml(addresses).splitlines(), *hints]
    return HEADER + "\n".join(lines[:start] + block + lines[end:]) + "\n"


def from_defaults(addresses: Sequence[str]) -> str:
    data = Settings().redacted()
    data["leaders"] = [{"address": a, "label": f"leader-{i}"} for i, a in enumerate(addresses, 1)]
    return (
        "# written by `copybot init` with every default (settings.example.yaml, which explains each key,\n"
        "# was not found next to this installation; it is in the copybot repository).\n"
        + yaml.safe_dump(data, sort_keys=False)
    )


def validate(text: str, where: str) -> Settings:
    """Parse like ``watch`` does, but ignoring COPYBOT__ overrides: the file must stand on its own."""
    return parse_settings(yaml.safe_load(text), where, environ={})


def check_address(address: str) -> str:
    """The address as written, if copybot accepts it as a leader; ConfigError naming the problem otherwise."""
    address = address.strip()
    validate(leaders_yaml([address]), "--leader")
    return address


def ask_leaders(prompt: Callable[[str], str], say: Callable[[str], None]) -> list[str]:
    """Ask for addresses one at a time until an empty answer; a wrong one is explained and asked again."""
    say("Leader wallets to copy: the proxy/safe wallet shown on their Polymarket profile (0x + 40 hex digits).")
    chosen: list[str] = []
    while True:
        answer = prompt(f"leader {len(chosen) + 1} address (empty to finish)").strip()
        if not answer:
            return chosen
        try:
            address = check_address(answer)
        except ConfigError as exc:
            say(str(exc).removeprefix("--leader: leaders[0].address: "))
            continue
        if address.lower() in {a.lower() for a in chosen}:
            say(f"{address} is already in the list")
            continue
        chosen.append(address)


def with_storage(text: str, storage: str) -> str:
    """``text`` with the value of ``storage.path`` replaced (quoted; the comment after it kept)."""
    lines = text.splitlines()
    section = next((i for i, line in enumerate(lines) if line.startswith("storage:")), None)
    if section is None:
        return text.rstrip("\n") + f"\nstorage:\n  path: {json.dumps(storage)}\n"
    for i in range(section + 1, len(lines)):
        if not lines[i].startswith(" "):
            break
        if lines[i].lstrip().startswith("path:"):
            indent, rest = lines[i].split("path:", 1)
            comment = rest[rest.index("#") :] if "#" in rest else ""
            lines[i] = f"{indent}path: {json.dumps(storage)}" + (f"  {comment}" if comment else "")
            return "\n".join(lines) + "\n"
    lines.insert(section + 1, f"  path: {json.dumps(storage)}")
    return "\n".join(lines) + "\n"


def write_settings_file(path: Path, addresses: Sequence[str], *, force: bool, storage: str | None = None) -> Settings:
    if path.exists() and not force:
        raise ConfigError(f"{path}: already exists; not overwriting it (use --force to replace it)")
    text = render(addresses)
    if storage:
        text = with_storage(text, storage)
    settings = validate(text, str(path))
    try:
        if path.parent != Path("."):
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the settings file: {exc.strerror}") from None
    return settings
