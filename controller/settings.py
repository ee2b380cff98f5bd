"""Settings, resolved once: every default in one place, and one object that says, for each
run-wide setting, its value and where it came from.

Layers, highest first: a command-line option, an ``ANSIBLE_*`` environment variable,
``ansible.cfg`` (found as Ansible finds it), ctl's default. A host's connection settings add
Ansible's exception on top: the host's inventory variables (``ansible_user``,
``ansible_port``, ...) win over all of these, and ``-e`` extra vars win over everything
(``controller.inventory.hostvars`` holds that table).

Nothing here contacts a host or imports an SSH library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .ansiblecfg import AnsibleLayers, Sourced, load_layers
from .defaults import DEFAULTS, MASK, SECRET_SETTINGS, UNSET

__all__ = ["DEFAULTS", "SECRET_SETTINGS", "Settings", "Sourced", "UNSET"]


@dataclass(frozen=True)
class Settings:
    """The run-wide settings of one command: its options over Ansible's layers over the
    defaults. ``options`` holds only the options the user gave (each with its origin)."""

    options: Mapping[str, Sourced] = field(default_factory=dict)
    ansible: AnsibleLayers | None = None
    secrets: tuple[Any, ...] = field(default=(), repr=False)  # vault secrets (VaultSecret)

    @classmethod
    def load(cls, options: Mapping[str, Sourced] | None = None,
             env: Mapping[str, str] | None = None, cwd: str | None = None) -> Settings:
        return cls(dict(options or {}), load_layers(env, cwd))

    def source(self, name: str) -> Sourced:
        """The value of ``name`` and where it came from."""
        if name in self.options:
            return self.options[name]
        found = self.ansible.get(name) if self.ansible is not None else None
        if found is not None:
            return found
        return Sourced(DEFAULTS[name], "default")

    def __getitem__(self, name: str) -> Any:
        return self.source(name).value

    def given(self, name: str) -> bool:
        """Set anywhere above the default."""
        return self.source(name).origin != "default"

    def rows(self, changed_only: bool = True) -> list[tuple[str, Any, str]]:
        """(name, value, origin) of every setting, secrets masked, for ``ctl config``."""
        rows = []
        for name in sorted(DEFAULTS):
            found = self.source(name)
            if changed_only and found.origin == "default":
                continue
            value = MASK if name in SECRET_SETTINGS and found.value is not None else found.value
            rows.append((name, value, found.origin))
        return rows
