"""What ctl sees in an inventory, for ``ctl inventory``: Ansible's ``--list`` JSON, a
``--graph`` tree, and one host's variables and effective connection settings with where
each value came from. Secrets are masked."""

from __future__ import annotations

from typing import Any

from ..secret import MASK, Sealed, is_secret
from ..settings import Settings
from .hostvars import resolve
from .loader import HostSpecs
from .model import Inventory
from .precedence import depths, merged_vars, origin_of

SECRET_KEYS = ("ansible_password", "ansible_ssh_pass", "ansible_become_password",
               "ansible_become_pass")


def masked(hostvars: dict[str, Any]) -> dict[str, Any]:
    """Passwords and decrypted vault text masked; an unopened ``!vault`` value shown as
    ``ansible-inventory`` shows it (its ciphertext)."""
    return {k: _shown(k, v) for k, v in hostvars.items()}


def _shown(key: str, value: Any) -> Any:
    if isinstance(value, Sealed):
        return value.to_json()
    if key in SECRET_KEYS or is_secret(value):
        return MASK
    if isinstance(value, dict):
        return masked(value)
    if isinstance(value, list):
        return [_shown("", v) for v in value]
    return value


def as_list(inv: Inventory, hosts: list[str]) -> dict[str, Any]:
    """The shape of ``ansible-inventory --list``: hosts without variables are left out of
    ``_meta.hostvars``, and ``ungrouped`` comes first among ``all``'s children, as there."""
    order = depths(inv)
    chosen = set(hosts)
    hostvars = {h: masked(merged_vars(inv, h, order)) for h in hosts}
    out: dict[str, Any] = {"_meta": {"hostvars": {h: v for h, v in hostvars.items() if v}}}
    for name, group in inv.groups.items():
        body: dict[str, Any] = {}
        members = [h for h in group.hosts if h in chosen and name != "all"]
        if members:
            body["hosts"] = members
        if group.children:
            body["children"] = sorted(group.children, key=lambda c: c != "ungrouped")
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


def host_view(inv: Inventory, host: str, settings: Settings | None = None) -> dict[str, Any]:
    """One host: its groups, its variables, and each connection setting with where it came
    from (the inventory layer that set a variable, an option, the environment, the cfg)."""
    hostvars = merged_vars(inv, host, depths(inv))
    variables = inv.specs.variables(host) if isinstance(inv.specs, HostSpecs) else hostvars
    spec, origins = resolve(host, variables, inv.host_source[host], settings)
    shown = {}
    for name, value in spec.to_dict().items():
        if name != "name":
            shown[name] = {"value": value, "from": _where(inv, host, origins.get(name))}
    for secret in ("password", "become_password"):
        if getattr(spec, secret) is not None:
            shown[secret] = {"value": MASK, "from": _where(inv, host, origins.get(secret))
                             + " (masked)"}
    return {"host": host, "groups": sorted(g for g in inv.groups if host in inv.hosts_in(g)),
            "settings": shown, "vars": masked(hostvars)}


def _where(inv: Inventory, host: str, origin: str | None) -> str:
    """``variable ansible_user`` -> the inventory layer that set it."""
    if origin is None:
        return "default"
    return ", ".join(origin_of(inv, host, (part[len("variable "):],))
                     if part.startswith("variable ") else part for part in origin.split(", "))
