"""A host's effective connection settings, validated once from its variables.

Lookup order, highest first: command-line options (``-u``, ``--private-key``), the host's
inventory variables (after group/host precedence), the controller's environment
(``ANSIBLE_ASYNC_DIR``, ``ANSIBLE_HOST_KEY_CHECKING``), then defaults (``~/.ssh/config``
for SSH settings it names, asyncssh's defaults, ``~/.ansible_async``).
"""

from __future__ import annotations

import logging
import os
import shlex
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from .errors import InventoryError

log = logging.getLogger("ctl")

DEFAULT_ASYNC_DIR = "~/.ansible_async"
CONNECTIONS = ("ssh", "local")
FALSE_WORDS = ("0", "false", "no", "off", "n", "f")


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
    become_user: str = "root"
    password: str | None = field(default=None, repr=False, compare=False)
    become_password: str | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["password"], data["become_password"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostSpec:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def with_overrides(self, **changes: Any) -> HostSpec:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _text(source: str, host: str, key: str, value: Any) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InventoryError(f"{source}: host {host}: {key} must be a string, got {value!r}")
    text = str(value)
    if not text or "\x00" in text or "\n" in text:
        raise InventoryError(f"{source}: host {host}: {key} is empty or has a NUL or newline")
    return text


def _port(source: str, host: str, value: Any) -> int:
    try:
        port = int(str(value), 10)
    except ValueError:
        port = -1
    if isinstance(value, bool) or not 0 < port < 65536:
        raise InventoryError(f"{source}: host {host}: ansible_port must be a port number "
                             f"(1-65535), got {value!r}")
    return port


SSH_OPTIONS = ("proxyjump", "stricthostkeychecking", "userknownhostsfile", "connecttimeout")


def ssh_args(source: str, host: str, text: str) -> dict[str, str]:
    """The OpenSSH options ctl honours from ansible_ssh_common_args / _extra_args:
    ``-J host``, ``-o ProxyJump=``, ``StrictHostKeyChecking``, ``UserKnownHostsFile``,
    ``ConnectTimeout`` (others are ignored, with a warning)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InventoryError(f"{source}: host {host}: ansible_ssh_common_args: {exc}") from exc
    found: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-J", "-o") and i + 1 < len(words):
            value, i = words[i + 1], i + 2
        elif word.startswith(("-J", "-o")) and len(word) > 2:
            value, i = word[2:], i + 1
        else:
            log.warning("%s: host %s: ignoring ssh argument %r", source, host, word)
            i += 1
            continue
        if word.startswith("-J"):
            found["proxyjump"] = value
            continue
        key, _, option = value.replace("=", " ", 1).partition(" ")
        if key.lower() in SSH_OPTIONS:
            found[key.lower()] = option.strip()
        else:
            log.warning("%s: host %s: ignoring ssh option %s (not supported by ctl)",
                        source, host, key)
    return found


def _seconds(source: str, host: str, value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1
    if seconds <= 0:
        raise InventoryError(f"{source}: host {host}: ansible_ssh_timeout must be a number of "
                             f"seconds, got {value!r}")
    return seconds


def _flag(value: Any) -> bool:
    return str(value).strip().lower() not in FALSE_WORDS


def spec_from_vars(name: str, hostvars: Mapping[str, Any], source: str,
                   env: Mapping[str, str] | None = None) -> HostSpec:
    """Build and validate a HostSpec from a host's merged variables; errors name the key."""
    env = os.environ if env is None else env
    get = hostvars.get
    connection = str(get("ansible_connection", "ssh"))
    if connection == "smart":
        connection = "ssh"
    if connection not in CONNECTIONS:
        raise InventoryError(f"{source}: host {name}: ansible_connection {connection!r} is not "
                             f"supported (use one of: {', '.join(CONNECTIONS)})")
    address = _text(source, name, "ansible_host", get("ansible_host", name))
    port = _port(source, name, get("ansible_port")) if get("ansible_port") is not None else None
    user = _text(source, name, "ansible_user", get("ansible_user")) if get("ansible_user") else None
    key = get("ansible_ssh_private_key_file") or get("ansible_private_key_file")
    if key is not None:
        key = os.path.expanduser(_text(source, name, "ansible_ssh_private_key_file", key))
        if not os.path.isfile(key):
            raise InventoryError(f"{source}: host {name}: ansible_ssh_private_key_file "
                                 f"{key} does not exist")
    async_dir = get("ansible_async_dir") or env.get("ANSIBLE_ASYNC_DIR") or DEFAULT_ASYNC_DIR
    python = get("ansible_python_interpreter") or "auto"
    default_checking = env.get("ANSIBLE_HOST_KEY_CHECKING", "yes")
    checking = get("ansible_host_key_checking",
                   get("ansible_ssh_host_key_checking", default_checking))
    password = get("ansible_password", get("ansible_ssh_pass"))
    if password is not None:
        password = _text(source, name, "ansible_password", password)
        log.warning("%s: host %s: ansible_password is stored in plain text in an inventory; "
                    "prefer keys or ssh-agent", source, name)
    method = str(get("ansible_become_method", "sudo"))
    if method != "sudo":
        raise InventoryError(f"{source}: host {name}: ansible_become_method {method!r} is not "
                             "supported (use sudo)")
    become_password = get("ansible_become_password", get("ansible_become_pass"))
    if become_password is not None:
        become_password = _text(source, name, "ansible_become_password", become_password)
        log.warning("%s: host %s: ansible_become_password is stored in plain text in an "
                    "inventory; prefer --ask-become-pass", source, name)
    ssh = ssh_args(source, name, " ".join(str(get(k) or "") for k in (
        "ansible_ssh_common_args", "ansible_ssh_extra_args")))
    accept_new = False
    if "stricthostkeychecking" in ssh:
        checking = ssh["stricthostkeychecking"]
        accept_new = checking.lower() == "accept-new"
        checking = "yes" if accept_new else checking
    timeout = get("ansible_ssh_timeout", get("ansible_timeout", ssh.get("connecttimeout")))
    return HostSpec(
        name=name, connection=connection, address=address, port=port, user=user,
        connect_timeout=_seconds(source, name, timeout) if timeout is not None else None,
        known_hosts_file=os.path.expanduser(ssh["userknownhostsfile"])
        if "userknownhostsfile" in ssh else None,
        jump=ssh.get("proxyjump"), accept_new=accept_new,
        password=password, become=_flag(get("ansible_become", False)),
        become_user=_text(source, name, "ansible_become_user",
                          get("ansible_become_user", "root")),
        become_password=become_password,
        private_key=key, async_dir=_text(source, name, "ansible_async_dir", async_dir),
        python=_text(source, name, "ansible_python_interpreter", python),
        host_key_checking=_flag(checking))
