"""``yaml.safe_load`` that refuses a key written twice in one mapping (PyYAML keeps the last silently).

The node tree is checked before anything is built, so keys that override a ``<<`` merge still work.
"""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKey(yaml.YAMLError):
    def __init__(self, path: tuple[int | str, ...], line: int, first: int) -> None:
        super().__init__(f"duplicate key {'.'.join(map(str, path))} (line {line}; first at line {first})")
        self.path, self.line, self.first = path, line, first


class _StrictLoader(yaml.SafeLoader):
    def construct_document(self, node: yaml.Node) -> Any:
        self._check_keys(node, (), set())
        return super().construct_document(node)

    def _check_keys(self, node: yaml.Node, path: tuple[int | str, ...], done: set[int]) -> None:
        if id(node) in done:  # an alias: checked where its anchor is
            return
        done.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._check_keys(item, (*path, index), done)
        elif isinstance(node, yaml.MappingNode):
            lines: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self._check_keys(value_node, path, done)
                    continue
                if not isinstance(key_node, yaml.ScalarNode):  # a list or mapping as key: the constructor refuses it
                    continue
                key, line = self.construct_object(key_node), key_node.start_mark.line + 1
                if key in lines:
                    raise DuplicateKey((*path, str(key)), line, lines[key])
                lines[key] = line
                self._check_keys(value_node, (*path, str(key)), done)


def load(text: str) -> Any:
    """Like ``yaml.safe_load``; raises :class:`DuplicateKey` (a ``yaml.YAMLError``) for a repeated key."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
