"""A host's effective connection settings (built and validated from its variables by
``controller.inventory.hostvars``), and the typed command-line overrides applied to the
hosts of a job read back from the registry."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from .defaults import DEFAULTS, UNSET

DEFAULT_ASYNC_DIR = DEFAULTS["async_dir"]
SECRET = ("password", "become_password")  # never in the registry


@dataclass(frozen=True)
class HostSpec:
    """Everything needed to reach one host and find its job files. ``password`` (from
    ``ansible_password``) stays in memory: never in repr, the registry or a log."""

    name: str
    connection: str = "ssh"
    address: str = ""
    port: int | None = None
    user: str | None = None
    private_key: str | None = None
    async_dir: str = DEFAULT_ASYNC_DIR
    python: str = "auto"  # "auto": python3, then python, then /usr/libexec/platform-python
    host_key_checking: bool = True
    accept_new: bool = False  # StrictHostKeyChecking=accept-new: trust and record a new key
    connect_timeout: float | None = None  # ansible_ssh_timeout, -o ConnectTimeout=
    known_hosts_file: str | None = None  # -o UserKnownHostsFile=
    jump: str | None = None  # -J / -o ProxyJump=: [user@]host[:port]
    become: bool = False
    become_method: str = DEFAULTS["become_method"]
    become_user: str = DEFAULTS["become_user"]
    password: str | None = field(default=None, repr=False, compare=False)
    become_password: str | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """What the registry keeps (every field is a plain value: asdict's deep copy cost
        0.2 ms a host at launch)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in SECRET}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostSpec:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def with_overrides(self, overrides: HostOverrides) -> HostSpec:
        changes = overrides.changes()
        return replace(self, **changes) if changes else self


@dataclass(frozen=True)
class HostOverrides:
    """Connection settings given on the command line, applied over the hosts a job was
    started on (read back from the registry). UNSET: not given."""

    user: Any = UNSET
    private_key: Any = UNSET
    connect_timeout: Any = UNSET
    become: Any = UNSET
    become_method: Any = UNSET
    become_user: Any = UNSET
    become_password: Any = field(default=UNSET, repr=False)

    def changes(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not UNSET}
