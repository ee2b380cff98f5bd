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

__all__ = ["DEFAULTS", "SECRET_SETTINGS", "Settings", "Sourced", "UNSET"]


class _Unset:
    """Not given (as opposed to given as off, empty or zero)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()

MIB = 1024 * 1024

# Every default ctl has, in one place.
DEFAULTS: dict[str, Any] = {
    # run-wide connection settings (also ansible.cfg / ANSIBLE_* names)
    "inventory": [],
    "forks": 50,
    "timeout": 10.0,  # SSH connect timeout, seconds (-T, ansible_ssh_timeout)
    "host_key_checking": True,
    "remote_user": None,
    "remote_port": None,
    "private_key_file": None,
    "ssh_args": "",
    "ssh_common_args": "",
    "ssh_extra_args": "",
    "async_dir": "~/.ansible_async",
    "python_interpreter": "auto",  # python3, then python, then platform-python
    "become": False,
    "become_method": "sudo",
    "become_user": "root",
    "become_ask_pass": False,
    "become_password_file": None,
    "become_password": None,
    "become_exe": None,
    "become_flags": None,
    "ask_pass": False,
    "connection_password_file": None,
    "connection_password": None,
    "remote_tmp": None,
    "vault_password_file": None,
    "vault_identity_list": [],
    "ask_vault_pass": False,
    "poll_interval": 15,  # -P's default, seconds (Ansible's)
    # ctl's own
    "background": 3600,  # -B, seconds
    "retries": 30,  # poll --wait
    "delay": 10.0,  # poll --wait, seconds
    "tail": 5,  # poll --tail, lines
    "kill_grace": 5.0,  # seconds between the first signal and SIGKILL
    "output_cap": 4 * MIB,
    "connect_retries": 4,  # connections dropped before login (sshd's MaxStartups)
    "retry_backoff": 0.5,  # seconds, doubled each retry, with full jitter
    # scaling out (README "Scaling out"): empty = SQLite in $CTL_HOME, one process
    "registry": None,  # --registry / CTL_REGISTRY: postgresql://user@host:port/db
    "registry_connect_timeout": 5.0,  # seconds: an unreachable registry is said in < 10 s
    "cluster": None,  # --cluster / CTL_CLUSTER: tcp://, tls:// or local:N
    "cluster_connect_timeout": 5.0,  # seconds (Dask's own default is 30)
    "shard_size": 1000,  # most hosts per cluster task (fewer when there are few hosts)
    "shards_per_worker": 4,  # at least this many shards per worker, when hosts allow
}

# Never printed, never stored: masked wherever a setting is shown.
SECRET_SETTINGS = frozenset({"become_password", "connection_password"})
MASK = "********"


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
