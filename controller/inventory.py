"""Ansible inventories, read as Ansible reads them.

Sources (``-i``, repeatable, the union of all): an Ansible YAML inventory (``all:`` with
``hosts:``, ``children:``, ``vars:``; host ranges like ``web[01:20]``), an INI inventory, a
directory of them with ``group_vars/`` and ``host_vars/``, a dynamic inventory script or its
saved ``--list`` JSON (see ``inventory_formats``), or a comma-separated host list
(``web1,web2,``).

Variable precedence, lowest first, as Ansible's: the inventory's group variables (``all``,
then groups by depth, parents before children; same depth by ``ansible_group_priority``,
then name), ``group_vars/all``, ``group_vars/<group>`` (same order), the inventory's host
variables, ``host_vars/<host>``. The loader validates once, into typed hosts, with errors
that name the file, the host and the key.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import yaml

from .errors import InventoryError
from .hosts import HostSpec, spec_from_vars

RANGE_RE = re.compile(r"\[([0-9]+|[a-z]):([0-9]+|[a-z])(?::([0-9]+))?\]")


@dataclass
class Group:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    file_vars: dict[str, Any] = field(default_factory=dict)  # from group_vars/
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: set[str] = field(default_factory=set)


@dataclass
class Inventory:
    """Groups and hosts in the order they were read; ``specs`` are the validated hosts."""

    sources: list[str] = field(default_factory=list)
    groups: dict[str, Group] = field(default_factory=dict)
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_file_vars: dict[str, dict[str, Any]] = field(default_factory=dict)  # host_vars/
    extra_vars: dict[str, Any] = field(default_factory=dict)  # -e
    host_source: dict[str, str] = field(default_factory=dict)
    var_source: dict[tuple[str, str], str] = field(default_factory=dict)  # (host, key) -> file
    specs: dict[str, HostSpec] = field(default_factory=dict)

    def group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def groups_of(self, host: str) -> list[str]:
        return [g.name for g in self.groups.values() if host in g.hosts]

    def hosts_in(self, group: str) -> list[str]:
        """All hosts of a group and its descendants, in inventory order."""
        seen: set[str] = set()
        stack, found = [group], set()
        while stack:
            name = stack.pop()
            if name in seen or name not in self.groups:
                continue
            seen.add(name)
            found.update(self.groups[name].hosts)
            stack.extend(self.groups[name].children)
        return [h for h in self.host_vars if h in found]


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


# libyaml's safe loader when PyYAML was built with it: ~10x faster on a big inventory
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: str) -> Any:
    """A YAML (or JSON) file's content; errors name the file and the line."""
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=SAFE_LOADER)  # noqa: S506 (a safe loader)
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read inventory: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{path}: inventory is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise InventoryError(f"{path}:{where}: invalid YAML: {problem}") from exc


def read_yaml_inventory(inv: Inventory, path: str, data: Any) -> None:
    if data is None:
        raise InventoryError(f"{path}: inventory is empty")
    reader = Reader(inv, path)
    for name, body in _mapping(data, f"{path}: top level").items():
        reader.read_group(str(name), body, None if name == "all" else "all")


def _read_host_list(inv: Inventory, text: str) -> None:
    reader = Reader(inv, "host list")
    for item in (part.strip() for part in text.split(",")):
        if item:
            reader.add_host(inv.group("ungrouped"), item, {})


def _depths(inv: Inventory) -> dict[str, int]:
    depths: dict[str, int] = {}

    def depth(name: str, trail: frozenset[str]) -> int:
        if name in depths:
            return depths[name]
        parents = inv.groups[name].parents - trail
        d = 0 if not parents else 1 + max(depth(p, trail | {name}) for p in parents)
        depths[name] = d
        return d

    for name in inv.groups:
        depth(name, frozenset())
    return depths


def merged_vars(inv: Inventory, host: str, depths: Mapping[str, int]) -> dict[str, Any]:
    groups = [g for g in inv.groups.values() if host in g.hosts or g.name == "all"]
    groups += [inv.groups[a] for g in list(groups) for a in _ancestors(inv, g.name)]
    ordered = sorted({g.name: g for g in groups}.values(),
                     key=lambda g: (depths[g.name], _priority(g), g.name))
    merged: dict[str, Any] = {}
    for group in ordered:  # Ansible's layers: inventory group vars, group_vars/all,
        merged.update(group.vars)
    merged.update(inv.groups["all"].file_vars)
    for group in ordered:  # group_vars/<group>, inventory host vars, host_vars/<host>
        if group.name != "all":
            merged.update(group.file_vars)
    merged.update(inv.host_vars[host])
    merged.update(inv.host_file_vars.get(host, {}))
    merged.update(inv.extra_vars)
    merged.pop("ansible_group_priority", None)  # consumed, as Ansible does
    return merged


def _priority(group: Group) -> int:
    value = group.file_vars.get("ansible_group_priority", group.vars.get(
        "ansible_group_priority", 1))
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1


def _ancestors(inv: Inventory, name: str) -> Iterable[str]:
    stack, seen = list(inv.groups[name].parents), set()
    while stack:
        parent = stack.pop()
        if parent not in seen:
            seen.add(parent)
            yield parent
            stack.extend(inv.groups[parent].parents)


def load_inventory(sources: Iterable[str], env: Mapping[str, str] | None = None,
                   extra_vars: Mapping[str, Any] | None = None) -> Inventory:
    """``extra_vars`` (``-e``) win over everything, as in Ansible."""
    inv = Inventory(sources=list(sources))
    inv.extra_vars = dict(extra_vars or {})
    inv.group("all")
    from .inventory_formats import read_source, read_vars_dirs
    for source in inv.sources:
        if os.path.exists(source):
            read_source(inv, source)
        elif "," in source:
            _read_host_list(inv, source)
        else:
            raise InventoryError(f"{source}: inventory file not found")
    for source in inv.sources:
        if os.path.exists(source):
            read_vars_dirs(inv, source)
    if not inv.host_vars:
        raise InventoryError(f"{', '.join(inv.sources) or 'inventory'}: names no hosts")
    for host in inv.host_vars:
        if host not in inv.groups["all"].hosts:
            inv.groups["all"].hosts.append(host)
    grouped = {h for g in inv.groups.values() if g.name not in ("all", "ungrouped")
               for h in g.hosts}
    ungrouped = inv.group("ungrouped")
    ungrouped.hosts = [h for h in inv.host_vars if h not in grouped]
    Reader(inv, "inventory").link("all", "ungrouped")  # as Ansible: all's implicit child
    depths = _depths(inv)
    for host in inv.host_vars:
        hostvars = merged_vars(inv, host, depths)
        inv.specs[host] = spec_from_vars(host, hostvars, inv.host_source[host], env)
    return inv
