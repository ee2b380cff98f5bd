"""Load ``-i`` sources into one validated Inventory."""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator, Mapping

from ..errors import InventoryError
from ..hosts import HostSpec
from ..settings import Settings
from ..templating import HostVars, InventoryContext
from .hostvars import forget_warnings, spec_from_vars
from .model import Inventory
from .precedence import depths, merged_vars, origin_of
from .reader import Reader, read_host_list
from .sources import read_source, read_vars_dirs


def load_inventory(sources: Iterable[str], env: Mapping[str, str] | None = None,
                   extra_vars: Mapping[str, Any] | None = None,
                   settings: Settings | None = None, validate: bool = True) -> Inventory:
    """Read every source; ``validate``: build every host's HostSpec now (else on first use
    of ``inv.specs[host]``). ``extra_vars`` (``-e``) win over everything, as in Ansible;
    ``settings`` (default: the environment's and ansible.cfg's) are what a host falls back
    to where its variables say nothing."""
    settings = settings if settings is not None else Settings.load(env=env)
    forget_warnings()
    inv = Inventory(sources=list(sources), secrets=settings.secrets)
    inv.extra_vars = dict(extra_vars or {})
    inv.group("all")
    for source in inv.sources:
        if os.path.exists(source):
            read_source(inv, source)
        elif "," in source:
            read_host_list(inv, source)
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
    inv.specs = HostSpecs(inv, settings)
    if validate:
        for host in inv.host_vars:
            inv.specs[host]
    return inv


class GroupHosts(Mapping[str, list[str]]):
    """Ansible's ``groups`` for templates: group -> its hosts, children included, on use."""

    def __init__(self, inv: Inventory) -> None:
        self.inv = inv

    def __getitem__(self, name: str) -> list[str]:
        if name not in self.inv.groups:
            raise KeyError(name)
        return self.inv.hosts_in(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.inv.groups)

    def __len__(self) -> int:
        return len(self.inv.groups)


class HostSpecs(Mapping[str, HostSpec]):
    """Each host's validated HostSpec, built on first use from its merged variables, which
    are rendered (``{{ }}``, lazily, as Ansible does) only where ctl reads them: a host
    that is not selected is never rendered, so its templates cannot fail the run."""

    def __init__(self, inv: Inventory, settings: Settings) -> None:
        self.inv, self.settings = inv, settings
        order = depths(inv)
        self.raw = {h: merged_vars(inv, h, order) for h in inv.host_vars}
        self.context = InventoryContext(GroupHosts(inv), inv.group_names, self.raw.__getitem__)
        self.built: dict[str, HostSpec] = {}
        self.family: HostVars | None = None

    def variables(self, host: str) -> HostVars:
        """The host's variables, rendered on access; one family shares renders."""
        if self.family is None:
            self.family = HostVars(host, self.raw[host], self.context)
            return self.family
        return self.family.peer(host)

    def __getitem__(self, host: str) -> HostSpec:
        if host not in self.built:
            if host not in self.raw:
                raise KeyError(host)
            self.built[host] = spec_from_vars(
                host, self.variables(host), self.inv.host_source[host], self.settings,
                locate=lambda var: origin_of(self.inv, host, (var,)))
        return self.built[host]

    def __contains__(self, host: object) -> bool:
        return host in self.raw  # without building the spec

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)
