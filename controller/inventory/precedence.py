"""Ansible's variable precedence for one host, lowest first: the inventory's group variables
(``all``, then groups by depth, parents before children; same depth by
``ansible_group_priority``, then name), ``group_vars/all``, ``group_vars/<group>`` (same
order), the inventory's host variables, ``host_vars/<host>``, then ``-e`` extra vars."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .model import Group, Inventory


def depths(inv: Inventory) -> dict[str, int]:
    found: dict[str, int] = {}

    def depth(name: str, trail: frozenset[str]) -> int:
        if name in found:
            return found[name]
        parents = inv.groups[name].parents - trail
        d = 0 if not parents else 1 + max(depth(p, trail | {name}) for p in parents)
        found[name] = d
        return d

    for name in inv.groups:
        depth(name, frozenset())
    return found


def merged_vars(inv: Inventory, host: str, depth_of: Mapping[str, int]) -> dict[str, Any]:
    groups = [g for g in inv.groups.values() if host in g.hosts or g.name == "all"]
    groups += [inv.groups[a] for g in list(groups) for a in _ancestors(inv, g.name)]
    ordered = sorted({g.name: g for g in groups}.values(),
                     key=lambda g: (depth_of[g.name], _priority(g), g.name))
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


def origin_of(inv: Inventory, host: str, keys: tuple[str, ...]) -> str:
    """Which layer set the first of ``keys`` that is set (the highest layer wins)."""
    for key in keys:
        if key in inv.extra_vars:
            return f"extra vars (-e {key})"
        if key in inv.host_file_vars.get(host, {}):
            return f"host_vars/{host} ({key})"
        if key in inv.host_vars[host]:
            where = inv.var_source.get((host, key), inv.host_source[host])
            return f"host {host} in {where} ({key})"
        for name in reversed(_groups_by_precedence(inv, host)):
            if key in inv.groups[name].file_vars:
                return f"group_vars/{name} ({key})"
        for name in reversed(_groups_by_precedence(inv, host)):
            if key in inv.groups[name].vars:
                return f"group {name} ({key})"
    return "default"


def _groups_by_precedence(inv: Inventory, host: str) -> list[str]:
    order = depths(inv)
    names = [g for g in inv.groups if host in inv.hosts_in(g)]
    return sorted(names, key=lambda g: (order[g], g))
