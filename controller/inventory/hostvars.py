"""Ansible's host variables -> a validated HostSpec, from one declarative table.

Each HostSpec field has a row: the Ansible variables it is read from (highest first) and the
run-wide setting it falls back to (option > ``ANSIBLE_*`` env > ansible.cfg > default, see
``controller.settings``). As in Ansible, a host's own variables win over the run-wide setting
(``ansible_user`` beats ``-u`` and ``remote_user``), and ``-e`` extra vars, already merged on
top of the host's variables, win over everything. ``spec_from_vars`` builds the spec and says
where each value came from; ``ctl inventory --host`` shows that.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..errors import CtlError, InventoryError
from ..hosts import HostOverrides, HostSpec
from ..secret import is_secret
from ..settings import Settings

log = logging.getLogger("ctl")

CONNECTIONS = ("ssh", "local")
BECOME_METHODS = ("sudo", "su")
FALSE_WORDS = ("0", "false", "no", "off", "n", "f")


@dataclass(frozen=True)
class Where:
    """The host and variable a value belongs to, for error messages."""

    source: str
    host: str
    key: str

    def fail(self, problem: str) -> InventoryError:
        return InventoryError(f"{self.source}: host {self.host}: {self.key} {problem}")


def text(where: Where, value: Any) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise where.fail(f"must be a string, got {value!r}")
    value = str(value) if not isinstance(value, str) else value
    if not value or "\x00" in value or "\n" in value:
        raise where.fail("is empty or has a NUL or newline")
    return value


def port(where: Where, value: Any) -> int:
    try:
        number = int(str(value), 10)
    except ValueError:
        number = -1
    if isinstance(value, bool) or not 0 < number < 65536:
        raise where.fail(f"must be a port number (1-65535), got {value!r}")
    return number


def seconds(where: Where, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1
    if number <= 0:
        raise where.fail(f"must be a number of seconds, got {value!r}")
    return number


def flag(where: Where, value: Any) -> bool:
    return str(value).strip().lower() not in FALSE_WORDS


def connection(where: Where, value: Any) -> str:
    name = "ssh" if str(value) == "smart" else str(value)
    if name not in CONNECTIONS:
        raise where.fail(f"{name!r} is not supported (use one of: {', '.join(CONNECTIONS)})")
    return name


def become_method(where: Where, value: Any) -> str:
    if str(value) not in BECOME_METHODS:
        raise where.fail(f"{str(value)!r} is not supported (use {', '.join(BECOME_METHODS)})")
    return str(value)


def key_file(where: Where, value: Any) -> str:
    path = os.path.expanduser(text(where, value))
    if not os.path.isfile(path):
        raise where.fail(f"{path} does not exist")
    return path


def secret(where: Where, value: Any) -> str:
    return text(where, value)


@dataclass(frozen=True)
class HostVar:
    """One HostSpec field: the Ansible variables it is read from, highest first, and the
    run-wide setting it falls back to (None: the HostSpec default)."""

    field: str
    names: tuple[str, ...]
    setting: str | None
    check: Callable[[Where, Any], Any]


HOST_VARS: tuple[HostVar, ...] = (
    HostVar("connection", ("ansible_connection",), None, connection),
    HostVar("address", ("ansible_host", "ansible_ssh_host"), None, text),
    HostVar("port", ("ansible_port", "ansible_ssh_port"), "remote_port", port),
    HostVar("user", ("ansible_user", "ansible_ssh_user"), "remote_user", text),
    HostVar("private_key", ("ansible_ssh_private_key_file", "ansible_private_key_file"),
            "private_key_file", key_file),
    HostVar("async_dir", ("ansible_async_dir",), "async_dir", text),
    HostVar("python", ("ansible_python_interpreter",), "python_interpreter", text),
    HostVar("connect_timeout", ("ansible_ssh_timeout", "ansible_timeout"), "timeout", seconds),
    HostVar("host_key_checking", ("ansible_host_key_checking",
                                  "ansible_ssh_host_key_checking"), "host_key_checking", flag),
    HostVar("become", ("ansible_become",), "become", flag),
    HostVar("become_method", ("ansible_become_method",), "become_method", become_method),
    HostVar("become_user", ("ansible_become_user",), "become_user", text),
    HostVar("password", ("ansible_password", "ansible_ssh_pass"), "connection_password",
            secret),
    HostVar("become_password", ("ansible_become_password", "ansible_become_pass"),
            "become_password", secret),
)

# OpenSSH arguments, joined in this order as Ansible's ssh connection does; each may come
# from a host variable or the run-wide ([ssh_connection] in ansible.cfg) setting.
SSH_ARG_VARS = (("ssh_args", "ansible_ssh_args"), ("ssh_common_args", "ansible_ssh_common_args"),
                ("ssh_extra_args", "ansible_ssh_extra_args"))
SSH_OPTIONS = ("proxyjump", "stricthostkeychecking", "userknownhostsfile", "connecttimeout")
# Harmless for ctl (it keeps no control master and compresses nothing): not worth a warning.
SSH_QUIET = ("controlmaster", "controlpersist", "controlpath", "compression",
             "serveraliveinterval", "serveralivecountmax", "forwardagent")
SSH_QUIET_FLAGS = ("-C", "-q", "-T", "-A", "-a", "-x", "-4", "-6")
_WARNED: set[str] = set()  # what was warned about since the inventory was loaded


def forget_warnings() -> None:
    """A new inventory load: its warnings are said again (once each)."""
    _WARNED.clear()


def ssh_args(source: str, host: str, line: str) -> dict[str, str]:
    """The OpenSSH options ctl honours from ssh args: ``-J host``, ``-o ProxyJump=``,
    ``StrictHostKeyChecking``, ``UserKnownHostsFile``, ``ConnectTimeout``. Others are
    ignored, with one warning per option per run."""
    try:
        words = shlex.split(line)
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
            if word not in SSH_QUIET_FLAGS:
                _warn_once(f"{source}: host {host}: ignoring ssh argument {word!r}", word)
            i += 1
            continue
        if word.startswith("-J"):
            found["proxyjump"] = value
            continue
        key, _, option = value.replace("=", " ", 1).partition(" ")
        if key.lower() in SSH_OPTIONS:
            found[key.lower()] = option.strip()
        elif key.lower() not in SSH_QUIET:
            _warn_once(f"{source}: host {host}: ignoring ssh option {key} (not supported by "
                       "ctl)", key.lower())
    return found


def _warn_once(message: str, key: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning("%s", message)


def lookup(hostvars: Mapping[str, Any], row: HostVar, settings: Settings
           ) -> tuple[Any, str | None, str]:
    """(value, the variable it came from or None, origin) for one row."""
    for name in row.names:
        value = hostvars.get(name)
        if value is not None:
            return value, name, f"variable {name}"
    if row.setting is None:
        return None, None, "default"
    found = settings.source(row.setting)
    return found.value, None, found.origin


def spec_from_vars(name: str, hostvars: Mapping[str, Any], source: str,
                   settings: Settings | None = None,
                   env: Mapping[str, str] | None = None,
                   locate: Callable[[str], str] | None = None) -> HostSpec:
    """``settings`` default: those of ``env`` (os.environ) and its ansible.cfg."""
    return resolve(name, hostvars, source, settings or Settings.load(env=env), locate)[0]


def resolve(name: str, hostvars: Mapping[str, Any], source: str,
            settings: Settings | None = None, locate: Callable[[str], str] | None = None
            ) -> tuple[HostSpec, dict[str, str]]:
    """A host's validated HostSpec from its merged variables, and where each field came
    from (``variable ansible_user``, ``--user``, ``env ANSIBLE_REMOTE_USER``, ...).
    ``locate(variable)`` names the inventory layer that set a variable, for warnings."""
    settings = settings if settings is not None else Settings()
    values: dict[str, Any] = {"name": name}
    origins: dict[str, str] = {}
    for row in HOST_VARS:
        try:
            value, var, origin = lookup(hostvars, row, settings)
        except CtlError:  # a vault or template error in a password this host never uses
            if row.field != "become_password" or values.get("become"):
                raise
            continue
        if value is None:
            continue
        values[row.field] = row.check(Where(source, name, var or row.setting or row.field),
                                      value)
        origins[row.field] = origin
        if var in ("ansible_password", "ansible_become_password", "ansible_become_pass",
                   "ansible_ssh_pass") and not is_secret(value):
            _warn_once(f"host {name}: {var} is stored in plain text in "
                       f"{locate(var) if locate else source}; prefer keys, ssh-agent or "
                       "ansible-vault", f"{name}\0{var}")
    values.setdefault("address", name)
    origins.setdefault("address", "the inventory host name")
    _apply_ssh_args(values, origins, hostvars, settings, source, name)
    return HostSpec(**values), origins


def _apply_ssh_args(values: dict[str, Any], origins: dict[str, str],
                    hostvars: Mapping[str, Any], settings: Settings, source: str,
                    host: str) -> None:
    """Jump host, known_hosts file, StrictHostKeyChecking and ConnectTimeout from the
    joined ssh args (StrictHostKeyChecking wins over ansible_host_key_checking, as in
    OpenSSH; ConnectTimeout counts only where no timeout variable is set)."""
    parts, where = [], []
    for setting, var in SSH_ARG_VARS:
        value = hostvars.get(var)
        found = settings.source(setting)
        line, origin = (value, f"variable {var}") if value is not None else \
            (found.value, found.origin)
        if line:
            parts.append(str(line))
            where.append(origin)
    if not parts:
        return
    origin = ", ".join(where)
    ssh = ssh_args(source, host, " ".join(parts))
    if "proxyjump" in ssh:
        values["jump"], origins["jump"] = ssh["proxyjump"], origin
    if "userknownhostsfile" in ssh:
        values["known_hosts_file"] = os.path.expanduser(ssh["userknownhostsfile"])
        origins["known_hosts_file"] = origin
    if "stricthostkeychecking" in ssh:
        checking = ssh["stricthostkeychecking"].lower()
        values["accept_new"] = checking == "accept-new"
        values["host_key_checking"] = values["accept_new"] or checking not in FALSE_WORDS
        origins["host_key_checking"] = origins["accept_new"] = origin
    if "connecttimeout" in ssh and not origins.get("connect_timeout", "").startswith("variable"):
        values["connect_timeout"] = seconds(Where(source, host, "ConnectTimeout"),
                                            ssh["connecttimeout"])
        origins["connect_timeout"] = origin


def overrides_from(settings: Settings) -> HostOverrides:
    """The connection options given on the command line, as overrides of the hosts a job
    was started on (read back from the registry, where env and cfg were applied at launch)."""
    fields = {f.name for f in dataclasses.fields(HostOverrides)}
    return HostOverrides(**{row.field: settings.options[row.setting].value for row in HOST_VARS
                            if row.setting is not None and row.setting in settings.options
                            and row.field in fields})
