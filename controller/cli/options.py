"""The command line's option groups, declared once, each handed to a command as one typed
value: ``Hosts`` (which hosts), ``Connection`` (how to reach them), ``Show`` (how to print).

``@options(hosts=Hosts, conn=Connection)`` adds a group's options to a command's signature
(typer sees plain options) and calls the command with the group built from them. A group
turns what the user typed into settings once: ``Connection.settings()`` is the option layer
of ``controller.settings.Settings``, with where each value came from.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import typing
from typing import TYPE_CHECKING, Any, Callable, List, TypeVar

import typer

from ..defaults import DEFAULTS
from ..errors import OptionError
from ..units import parse_duration, parse_extra_vars, parse_size

if TYPE_CHECKING:
    from ..settings import Settings, Sourced

F = TypeVar("F", bound=Callable[..., Any])
HOSTS, CONN, OUT, VAULT, SCALE = "Hosts", "Connection", "Output", "Vault", "Scaling out"


def options(**groups: type) -> Callable[[F], F]:
    """Add each group's options to the command; call it with ``name=Group(...)``."""
    def decorate(command: F) -> F:
        hints = typing.get_type_hints(command)
        own = [p.replace(annotation=hints.get(p.name, p.annotation))
               for p in inspect.signature(command).parameters.values() if p.name not in groups]
        added = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                   annotation=hints_of(cls)[f.name])
                 for cls in groups.values() for f in dataclasses.fields(cls)]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            for name, cls in groups.items():
                kwargs[name] = cls(**{f.name: kwargs.pop(f.name)
                                      for f in dataclasses.fields(cls)})
            return command(**kwargs)

        params = own + added
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]
    return decorate


@functools.cache
def hints_of(group: type) -> dict[str, Any]:
    """A group's field types, resolved once (every command that takes the group reuses it)."""
    return typing.get_type_hints(group)


@dataclasses.dataclass(frozen=True)
class Hosts:
    """Which hosts: an inventory (or the job's hosts from the registry), a pattern, -e."""

    inventory: List[str] | None = typer.Option(
        None, "-i", "--inventory", metavar="INVENTORY", rich_help_panel=HOSTS,
        help="Inventory file, directory or host list (web1,web2,); repeatable. Default: "
             "ansible.cfg's inventory / ANSIBLE_INVENTORY.")
    limit: str | None = typer.Option(
        None, "-l", "--limit", metavar="PATTERN", rich_help_panel=HOSTS,
        help="Host pattern: group, host, glob, ~regex, a:b, a:&b, a:!b, @file.")
    extra_vars: List[str] | None = typer.Option(
        None, "-e", "--extra-vars", metavar="VARS", rich_help_panel=HOSTS,
        help="key=value, @file.yml or JSON; wins over the inventory; repeatable.")
    vault_password_file: List[str] | None = typer.Option(
        None, "--vault-password-file", "--vault-pass-file", metavar="FILE",
        rich_help_panel=VAULT, help="Vault password: a file, or a script that prints it; "
                                    "repeatable.")
    vault_id: List[str] | None = typer.Option(
        None, "--vault-id", metavar="[LABEL@]SOURCE", rich_help_panel=VAULT,
        help="A vault identity: SOURCE is a file, a script or 'prompt'; repeatable.")
    ask_vault_pass: bool = typer.Option(False, "-J", "--ask-vault-pass", "--ask-vault-password",
                                        rich_help_panel=VAULT, help="Prompt for the vault "
                                        "password (never echoed, never stored).")

    def extra(self, settings: Settings) -> dict[str, Any]:
        return parse_extra_vars(self.extra_vars or [], settings.secrets)

    def unlocked(self, settings: Settings) -> Settings:
        """``settings`` with the vault secrets read once, in Ansible's order: the cfg's
        vault_identity_list, --vault-id, --vault-password-file, the cfg's
        vault_password_file, then the prompt. Secrets stay in memory only."""
        from ..vault import read_secrets

        files = list(self.vault_password_file or [])
        if settings["vault_password_file"] and settings["vault_password_file"] not in files:
            files.append(settings["vault_password_file"])
        secrets = read_secrets(files, [*settings["vault_identity_list"], *(self.vault_id or [])],
                               self.ask_vault_pass or settings["ask_vault_pass"])
        return dataclasses.replace(settings, secrets=tuple(secrets))


@dataclasses.dataclass(frozen=True)
class Connection:
    """How to reach the hosts. Each option given wins over ANSIBLE_* and ansible.cfg; a
    host's own inventory variables win over all three, as in Ansible."""

    forks: int | None = typer.Option(None, "-f", "--forks", min=1, rich_help_panel=CONN,
                                     help="Hosts worked on at once (default 50).")
    workers: int | None = typer.Option(None, "--workers", hidden=True)  # gone: --cluster
    cluster: str | None = typer.Option(
        None, "--cluster", metavar="ADDRESS", rich_help_panel=SCALE,
        help="Shard the hosts over a Dask cluster: tcp://HOST:8786, tls://..., or local:N "
             "(N worker processes here); --forks is per worker. Default: $CTL_CLUSTER.")
    allow_insecure_cluster: bool = typer.Option(
        False, "--allow-insecure-cluster", rich_help_panel=SCALE,
        help="Send become and connection passwords to a plain tcp:// cluster.")
    cluster_own_keys: bool = typer.Option(
        False, "--cluster-own-keys", rich_help_panel=SCALE,
        help="The cluster's workers use their own SSH keys, agent and known_hosts (else "
             "this machine's are sent with each shard, as secrets are).")
    registry: str | None = typer.Option(
        None, "--registry", metavar="URL", rich_help_panel=SCALE,
        help="The job registry: postgresql://user@host:port/db, shared by every machine "
             "that names it. Default: $CTL_REGISTRY, else SQLite in $CTL_HOME.")
    timeout: float | None = typer.Option(None, "-T", "--timeout", rich_help_panel=CONN,
                                         help="SSH connect timeout, seconds (default 10).")
    user: str | None = typer.Option(None, "-u", "--user", rich_help_panel=CONN,
                                    help="Remote user (ansible_user wins, as in Ansible).")
    private_key: str | None = typer.Option(None, "--private-key", "--key-file",
                                           rich_help_panel=CONN, help="Private key file.")
    no_host_key_checking: bool = typer.Option(
        False, "--no-host-key-checking", rich_help_panel=CONN,
        help="Do not check host keys against known_hosts (labs only; says so loudly).")
    become: bool = typer.Option(False, "-b", "--become", rich_help_panel=CONN,
                                help="Run the job as another user (sudo, or su).")
    become_method: str | None = typer.Option(None, "--become-method", metavar="METHOD",
                                             rich_help_panel=CONN,
                                             help="How to become: sudo (default) or su.")
    become_user: str | None = typer.Option(None, "--become-user", metavar="USER",
                                           rich_help_panel=CONN,
                                           help="The user to become (default root).")
    ask_become_pass: bool = typer.Option(False, "-K", "--ask-become-pass", rich_help_panel=CONN,
                                         help="Prompt for the become password (never echoed, "
                                              "never stored).")
    become_password_file: str | None = typer.Option(
        None, "--become-password-file", "--become-pass-file", metavar="FILE",
        rich_help_panel=CONN, help="Read the become password from FILE.")
    persist: float | None = typer.Option(
        None, "--persist", metavar="SECONDS", min=0, rich_help_panel=CONN,
        help="Keep the SSH connections open this long after the command, for the next "
             "ones (a per-user keeper process); 0 = none. Default 60, $CTL_PERSIST.")
    verbose: int = typer.Option(
        0, "-v", "--verbose", count=True, rich_help_panel=OUT,
        help="More detail on stderr: -v connections, -vv remote calls, -vvv the SSH "
             "conversation; each line names its host and jid.")

    def layer(self) -> dict[str, Sourced]:
        """The options the user gave, as settings (name -> value and the option's flag)."""
        from ..settings import Sourced

        if self.workers is not None:
            raise OptionError(f"--workers is gone: use --cluster local:{self.workers} "
                              "(worker processes on this machine; see Scaling out in the README)")
        if self.timeout is not None and self.timeout <= 0:
            raise OptionError(f"-T/--timeout must be more than 0 seconds, got {self.timeout:g}")
        given = {"forks": (self.forks, "--forks"), "timeout": (self.timeout, "--timeout"),
                 "remote_user": (self.user, "--user"),
                 "private_key_file": (_key_file(self.private_key), "--private-key"),
                 "become": (True if self.become or self.become_user else None,
                            "--become" if self.become else "--become-user"),
                 "become_method": (self.become_method, "--become-method"),
                 "become_user": (self.become_user, "--become-user"),
                 "become_password": (self._become_password(), "--become-password-file"
                                     if self.become_password_file else "--ask-become-pass"),
                 **scale_layer(self.cluster, self.registry), **persist_layer(self.persist)}
        return {name: Sourced(value, origin) for name, (value, origin) in given.items()
                if value is not None}

    def settings(self) -> Settings:
        """Every run-wide setting, resolved once: these options > ANSIBLE_* > ansible.cfg >
        defaults. Passwords the cfg points to (become_password_file,
        connection_password_file) are read here, and become_ask_pass prompts here."""
        import getpass

        from ..settings import Settings, Sourced

        settings = Settings.load(self.layer())
        found = dict(settings.options)
        for name, file_setting in (("become_password", "become_password_file"),
                                   ("connection_password", "connection_password_file")):
            path = settings[file_setting]
            if settings[name] is None and path:
                found[name] = Sourced(read_secret_line(path, file_setting), file_setting)
        if settings["become_ask_pass"] and "become_password" not in found:
            found["become_password"] = Sourced(getpass.getpass("BECOME password: "),
                                               "become_ask_pass")
        return dataclasses.replace(settings, options=found)

    def _become_password(self) -> str | None:
        if self.become_password_file is not None:
            return read_secret_line(self.become_password_file, "--become-password-file")
        if self.ask_become_pass:
            import getpass

            return getpass.getpass("BECOME password: ")
        return None


def scale_layer(cluster: str | None, registry: str | None) -> dict[str, tuple[Any, str]]:
    """--cluster and --registry, else CTL_CLUSTER and CTL_REGISTRY (empty: not set)."""
    return {name: (given, f"--{name}") if given else (os.environ.get(env) or None, env)
            for name, given, env in (("cluster", cluster, "CTL_CLUSTER"),
                                     ("registry", registry, "CTL_REGISTRY"))}


def persist_layer(given: float | None) -> dict[str, tuple[Any, str]]:
    """--persist, else CTL_PERSIST (empty: not set)."""
    if given is not None:
        return {"persist": (given, "--persist")}
    text = os.environ.get("CTL_PERSIST")
    if not text:
        return {}
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise OptionError(f"CTL_PERSIST={text!r}: give seconds (0: no keeper)")
    return {"persist": (value, "CTL_PERSIST")}


REGISTRY = typer.Option(None, "--registry", metavar="URL", rich_help_panel=SCALE,
                        help="The job registry (default: $CTL_REGISTRY, else SQLite in "
                             "$CTL_HOME).")


def _key_file(path: str | None) -> str | None:
    if path is None:
        return None
    if not os.path.isfile(os.path.expanduser(path)):
        raise OptionError(f"--private-key {path}: no such file")
    return os.path.expanduser(path)


def read_secret_line(path: str, option: str) -> str:
    """The first line of a password file, without its newline; errors name the option."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise OptionError(f"{option} {path}: {reason}") from exc


@dataclasses.dataclass(frozen=True)
class Show:
    """How to print results."""

    one_line: bool = typer.Option(False, "-o", "--one-line", rich_help_panel=OUT,
                                  help="One line per host (ansible -o).")
    as_json: bool = typer.Option(False, "--json", rich_help_panel=OUT,
                                 help="JSON Lines on stdout, one object per host per event; "
                                      "nothing else on stdout.")
    tree: str | None = typer.Option(None, "-t", "--tree", metavar="DIR", rich_help_panel=OUT,
                                    help="Also write each host's final result to DIR/<host> "
                                         "(ansible -t).")
    group: bool = typer.Option(False, "-g", "--group-identical", rich_help_panel=OUT,
                               help="Print identical outputs once, under the folded list of "
                                    "their hosts (clush -b).")


ALL_HOSTS = typer.Option(False, "--all-hosts", rich_help_panel=HOSTS,
                         help="Every host the job was started on, from the registry (the "
                              "default without -i).")
GRACE = typer.Option(5.0, "--grace", help="Seconds between the first signal and SIGKILL.")


@dataclasses.dataclass(frozen=True)
class Timing:
    """A job's time limit, polling and leftovers (``run`` and its ad-hoc form)."""

    background: int = typer.Option(DEFAULTS["background"], "-B", "--background",
                                   help="Time limit of the job on each host, seconds "
                                        "(enforced on the host).")
    poll: int | None = typer.Option(None, "-P", "--poll", help="Poll every N seconds until "
                                    "done; 0 = start and detach (default 15, ansible.cfg's "
                                    "poll_interval).")
    cleanup_after: str | None = typer.Option(
        None, "--cleanup-after", metavar="AGE", help="The host erases the job's files this "
        "long after the job ends (e.g. 1d), with no controller involved.")
    output_cap: str = typer.Option("4M", "--output-cap", metavar="SIZE", help="Most output "
                                   "per stream embedded in the final record; the rest stays "
                                   "in the output files (ctl logs).")
    watch: bool = typer.Option(False, "--watch", help="Start detached, then watch the job "
                               "live, full screen (ctl watch); on a terminal only.")

    def cap(self) -> int:
        return parse_size(self.output_cap, "--output-cap")

    def cleanup_seconds(self) -> float | None:
        if self.cleanup_after is None:
            return None
        return parse_duration(self.cleanup_after, "--cleanup-after")
