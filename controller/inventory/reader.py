"""What one inventory source declares, added to the Inventory with its names checked: groups,
hosts (with ranges like ``web[01:20]``), the YAML inventory shape and comma host lists."""

from __future__ import annotations

import re
import string
from typing import Any, Mapping

from ..errors import InventoryError
from .model import Group, Inventory

RANGE_RE = re.compile(r"\[([0-9]+|[a-z]):([0-9]+|[a-z])(?::([0-9]+))?\]")


def expand_ranges(pattern: str) -> list[str]:
    """``web[01:03]`` -> web01, web02, web03; ``db-[a:c]`` -> db-a, db-b, db-c."""
    match = RANGE_RE.search(pattern)
    if not match:
        return [pattern]
    first, last, step = match.group(1), match.group(2), int(match.group(3) or 1)
    head, tail = pattern[:match.start()], pattern[match.end():]
    if first.isdigit() and last.isdigit():
        width = len(first) if first.startswith("0") else 0
        items = [str(i).zfill(width) for i in range(int(first), int(last) + 1, step)]
    elif first.isalpha() and last.isalpha():
        letters = string.ascii_lowercase
        items = list(letters[letters.index(first):letters.index(last) + 1:step])
    else:
        raise InventoryError(f"bad host range {pattern!r}")
    return [h for item in items for h in expand_ranges(head + item + tail)]


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InventoryError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


class Reader:
    """Adds what one inventory source declares to the Inventory, checking names."""

    def __init__(self, inv: Inventory, source: str) -> None:
        self.inv, self.source = inv, source

    def checked(self, kind: str, name: str) -> str:
        if not name or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise InventoryError(f"{self.source}: invalid {kind} name {name!r}: it is empty "
                                 "or has control characters")
        return name

    def read_group(self, name: str, body: Any, parent: str | None) -> None:
        name = self.checked("group", name)
        where = f"{self.source}: group {name}"
        body = _mapping(body, where)
        group = self.inv.group(str(name))
        if parent is not None:
            self.link(parent, group.name)
        unknown = set(body) - {"hosts", "vars", "children"}
        if unknown:
            raise InventoryError(f"{where}: unknown key {sorted(unknown)[0]!r} "
                                 "(expected hosts, vars or children)")
        group.vars.update(_mapping(body.get("vars"), f"{where}: vars"))
        for pattern, hvars in _mapping(body.get("hosts"), f"{where}: hosts").items():
            for host in expand_ranges(self.checked("host", str(pattern))):
                self.add_host(group, host, _mapping(hvars, f"{self.source}: host {host}"))
        for child, child_body in _mapping(body.get("children"), f"{where}: children").items():
            self.read_group(str(child), child_body, group.name)

    def link(self, parent: str, child: str) -> None:
        """Make ``child`` a child group of ``parent`` (both created if new)."""
        if parent == child:
            return
        self.inv.group(child).parents.add(parent)
        if child not in self.inv.group(parent).children:
            self.inv.group(parent).children.append(child)

    def add_host(self, group: Group, host: str, hvars: Mapping[str, Any]) -> None:
        host = self.checked("host", host)
        self.inv.host_vars.setdefault(host, {}).update(hvars)
        self.inv.host_source.setdefault(host, self.source)
        for key in hvars:
            self.inv.var_source[(host, key)] = self.source
        if host not in group.hosts:
            group.hosts.append(host)


def read_yaml_inventory(inv: Inventory, path: str, data: Any) -> None:
    if data is None:
        raise InventoryError(f"{path}: inventory is empty")
    reader = Reader(inv, path)
    for name, body in _mapping(data, f"{path}: top level").items():
        reader.read_group(str(name), body, None if name == "all" else "all")


def read_host_list(inv: Inventory, text: str) -> None:
    reader = Reader(inv, "host list")
    for item in (part.strip() for part in text.split(",")):
        if item:
            reader.add_host(inv.group("ungrouped"), item, {})
