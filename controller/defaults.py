"""Every default ctl has, in one place, and the UNSET marker: a leaf module, cheap to import
(the command line's option declarations read it; ``controller.settings`` resolves the
layers over it)."""

from __future__ import annotations

from typing import Any


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
    "persist": 60.0,  # --persist / CTL_PERSIST: seconds the keeper keeps connections; 0 = none
    "max_sessions": 10,  # commands at once on one kept connection (sshd's MaxSessions)
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
