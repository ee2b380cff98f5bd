"""What ctl sees in an inventory, for ``ctl inventory``: Ansible's ``--list`` JSON, a
``--graph`` tree, and one host's variables and effective connection settings with where
each value came from. Secrets are masked."""

from __future__ import annotations

import os
from typing import Any

from .hosts import HostSpec
from .inventory import Inventory, _depths, merged_vars

SECRET_KEYS = ("ansible_password", "ansible_ssh_pass", "ansible_become_password",
               "ansible_become_pass")
MASK = "********"

# HostSpec field -> the variables it comes from, highest first
SETTING_VARS = {
    "connection": ("ansible_connection",), "address": ("ansible_host",),
    "port": ("ansible_port",), "user": ("ansible_user",),
    "private_key": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
    "async_dir": ("ansible_async_dir",), "python": ("ansible_python_interpreter",),
    "host_key_checking": ("ansible_host_key_checking", "ansible_ssh_host_key_checking",
                          "ansible_ssh_common_args", "ansible_ssh_extra_args"),
    "connect_timeout": ("ansible_ssh_timeout", "ansible_timeout", "ansible_ssh_common_args",
                        "ansible_ssh_extra_args"),
    "known_hosts_file": ("ansible_ssh_common_args", "ansible_ssh_extra_args"),
    "jump": ("ansible_ssh_common_args", "ansible_ssh_extra_args"),
    "become": ("ansible_become",), "become_user": ("ansible_become_user",),
}


def masked(hostvars: dict[str, Any]) -> dict[str, Any]:
    return {k: (MASK if k in SECRET_KEYS else v) for k, v in hostvars.items()}


def as_list(inv: Inventory, hosts: list[str]) -> dict[str, Any]:
    """The shape of ``ansible-inventory --list``."""
    depths = _depths(inv)
    chosen = set(hosts)
    out: dict[str, Any] = {"_meta": {"hostvars": {
        h: masked(merged_vars(inv, h, depths)) for h in hosts}}}
    for name, group in inv.groups.items():
        body: dict[str, Any] = {}
        members = [h for h in group.hosts if h in chosen and name != "all"]
        if members:
            body["hosts"] = members
        if group.children:
            body["children"] = list(group.children)
        if body or name == "all":
            out[name] = body
    return out


def graph(inv: Inventory, hosts: list[str], name: str = "all", depth: int = 0) -> list[str]:
    """The ``ansible-inventory --graph`` tree."""
    pad = "  |" * depth
    lines = [f"{pad}--@{name}:" if depth else f"@{name}:"]
    group = inv.groups[name]
    for child in sorted(group.children):
        lines += graph(inv, hosts, child, depth + 1)
    for host in group.hosts:
        if host in hosts and name != "all":
            lines.append(f"{pad}  |--{host}")
    return lines


def origin(inv: Inventory, host: str, keys: tuple[str, ...]) -> str:
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
    depths = _depths(inv)
    names = [g for g in inv.groups if host in inv.hosts_in(g)]
    return sorted(names, key=lambda g: (depths[g], g))


def host_view(inv: Inventory, host: str, spec: HostSpec) -> dict[str, Any]:
    depths = _depths(inv)
    settings = {}
    for name, value in spec.to_dict().items():
        if name == "name":
            continue
        source = origin(inv, host, SETTING_VARS.get(name, ()))
        if source == "default" and name == "async_dir" and os.environ.get("ANSIBLE_ASYNC_DIR"):
            source = "environment (ANSIBLE_ASYNC_DIR)"
        if name == "address" and source == "default":
            source = "the inventory host name"
        settings[name] = {"value": value, "from": source}
    for secret in ("password", "become_password"):
        if getattr(spec, secret) is not None:
            settings[secret] = {"value": MASK, "from": "inventory (masked)"}
    return {"host": host, "groups": sorted(g for g in inv.groups if host in inv.hosts_in(g)),
            "settings": settings, "vars": masked(merged_vars(inv, host, depths))}
