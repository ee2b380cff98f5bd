"""The inventory as read: groups and hosts in the order they were read, their variables by
layer, and the validated host settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..hosts import HostSpec
from ..vault import VaultSecret


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
    specs: Mapping[str, HostSpec] = field(default_factory=dict)  # built on first use
    secrets: Sequence[VaultSecret] = ()  # to open vaulted files and !vault values

    def group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def groups_of(self, host: str) -> list[str]:
        return [g.name for g in self.groups.values() if host in g.hosts]

    def group_names(self, host: str) -> list[str]:
        """Ansible's ``group_names``: every group the host is in, through children too,
        sorted, without ``all``."""
        return sorted(g for g in self.groups if g != "all" and host in self.hosts_in(g))

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
