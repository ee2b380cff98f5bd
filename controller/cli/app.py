"""The typer application and what every command shares: building the settings, the
controller and the output once from the option groups, running one async entry point, and
turning results into the exit code and the next step to take.

Heavy modules (the SSH library, rich's live display) are imported only by the commands
that contact hosts, so ``ctl --version``, ``ctl jobs`` and ``ctl show`` start fast.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, TypeVar

import typer

from .. import __version__
from ..errors import EXIT_INTERRUPTED, CtlError, OptionError, PatternError
from ..logcontext import LOG_CONTEXT
from ..results import HostResult, Status, exit_code
from .options import Connection, Hosts, Show

if TYPE_CHECKING:
    from ..api import Controller, Targets
    from ..cluster import Cluster
    from ..registries import JobRegistry
    from ..render import Output
    from ..settings import Settings
    from ..transport import Connector

T = TypeVar("T")

class PanelCommand(typer.core.TyperCommand):
    """Plain-text help (click's), with the options in their panels (Hosts, Connection, ...)
    as sections: typer's rich help imports rich and markdown-it, which tripled the time of
    ``ctl run --help``, and its boxes do not survive a pager or a pipe well."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                default = "Arguments" if param.param_type_name == "argument" else "Options"
                sections.setdefault(getattr(param, "rich_help_panel", None) or default,
                                    []).append(record)
        for title, records in sections.items():
            with formatter.section(title):
                formatter.write_dl(records)


class CtlTyper(typer.Typer):
    """ctl's applications (the root and ``ctl keeper``): plain help, PanelCommand's for
    every command."""

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("rich_markup_mode", None)
        super().__init__(**settings)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", PanelCommand)
        return super().command(*args, **kwargs)


APP_SETTINGS: dict[str, Any] = dict(
    add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
    help="ctl: start long jobs on many hosts over SSH, detached, and follow them; on-disk "
         "compatible with Ansible's async jobs.")
app = CtlTyper(**APP_SETTINGS)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=version_callback,
                                      is_eager=True, help="Show the version and exit.")
         ) -> None:
    """ctl: start long jobs on many hosts over SSH, detached, and follow them."""


class Interrupted(CtlError):
    exit_code = EXIT_INTERRUPTED


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class HostJidFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.host, record.jid = LOG_CONTEXT.get()
        return True


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(HostJidFilter())
    handler.setFormatter(logging.Formatter("ctl: [%(host)s %(jid)s] %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("ctl").setLevel(level)
    logging.getLogger("asyncssh").setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)
    if verbose >= 3:
        import asyncssh
        asyncssh.set_debug_level(2)


def make_output(show: Show | None, quiet_launch: bool = False) -> Output:
    from ..render import GroupedOutput, JsonOutput, OneLineOutput, TextOutput, TreeOutput

    show = show or Show(False, False, None, False)
    if sum((show.one_line, show.as_json, show.group)) > 1:
        raise OptionError("choose one of -o/--one-line, --json, -g/--group-identical")
    output: Output = JsonOutput() if show.as_json else OneLineOutput() if show.one_line \
        else GroupedOutput() if show.group else TextOutput()
    output.quiet_launch = quiet_launch
    if show.tree:
        output = TreeOutput(show.tree, output)
    if show.as_json or not sys.stderr.isatty():  # no progress display: rich not imported
        return output
    from ..progress import ProgressOutput
    return ProgressOutput(output)


@dataclass
class Invocation:
    """What one command works with, built once from its option groups."""

    settings: Settings
    controller: Controller
    output: Output

    @classmethod
    def start(cls, conn: Connection, show: Show | None = None, quiet_launch: bool = False,
              quiet: bool = False) -> Invocation:
        from ..api import Controller
        from ..render import Output
        from ..transport import ConnectOptions

        setup_logging(conn.verbose)
        settings = loaded(conn.settings())
        if conn.no_host_key_checking:
            warn("WARNING: host key checking is OFF (--no-host-key-checking): a man in the "
                 "middle would not be noticed. Use this only in a lab.")
        output = Output() if quiet else make_output(show, quiet_launch)
        cluster = open_cluster(settings, conn.allow_insecure_cluster, conn.cluster_own_keys)
        controller = Controller(open_registry(settings["registry"]),
                                ConnectOptions(not conn.no_host_key_checking),
                                settings["forks"], output, cluster, connector(settings, cluster))
        return cls(settings, controller, output)

    def targets(self, hosts: Hosts, pattern: str | None = None) -> Targets:
        """The hosts of ``-i`` (or ansible.cfg's inventory), narrowed by the pattern."""
        from ..api import Targets

        sources = inventory_sources(hosts, self.settings)
        settings = hosts.unlocked(self.settings)
        return Targets.from_inventory(sources, pattern or hosts.limit, settings,
                                      hosts.extra(settings))

    def job_targets(self, jid: str, hosts: Hosts, all_hosts: bool,
                    pattern: str | None = None) -> Targets:
        """A job's hosts: from ``-i`` when given, else the registry's, with the command
        line's connection options over what was recorded at launch."""
        from ..inventory.hostvars import overrides_from
        from ..jid import check_jid

        check_jid(jid)
        if hosts.inventory and all_hosts:
            raise OptionError("use either --all-hosts (the job's hosts, from the registry) or "
                              "-i INVENTORY, not both")
        if hosts.inventory or (self.controller.registry.find_job(jid) is None
                               and self.settings["inventory"]):
            return self.targets(hosts, pattern)  # -i, or ansible.cfg's for a job ctl never ran
        return self.controller.job_targets(jid, pattern or hosts.limit,
                                           hosts.unlocked(self.settings),
                                           overrides_from(self.settings))

    def execute(self, work: Awaitable[T]) -> T:
        """Run one async entry point; Ctrl-C stops cleanly and says how to pick it up."""
        import asyncio

        async def closing() -> T:
            try:
                return await work
            finally:
                if self.controller.cluster is not None:
                    await self.controller.cluster.close()

        try:
            return asyncio.run(closing())
        except KeyboardInterrupt:
            close = getattr(self.output, "close", None)
            if close is not None:
                close()
            jid = self.controller.jid
            hint = f"; what was launched is recorded: ctl poll {jid} --all-hosts; to finish " \
                f"the launch: ctl resume {jid}" if jid else ""
            raise Interrupted(f"interrupted{hint}") from None

    def finish(self, op: str, results: list[HostResult], next_hint: str | None) -> None:
        self.output.end(op, results)
        if next_hint:
            warn(next_hint)
        raise typer.Exit(exit_code(results))


def open_registry(url: str | None) -> JobRegistry:
    """The job registry a command uses: PostgreSQL for a URL, else SQLite in $CTL_HOME."""
    from ..registries import open_registry as opened

    return opened(url)


def connector(settings: Settings, cluster: Cluster | None) -> Connector:
    """How hosts are reached: through the keeper of $CTL_HOME (warm connections), or
    directly with --persist 0 and on a cluster (whose workers keep their own)."""
    from ..transport import open_transport

    if cluster is not None or not settings["persist"]:
        return open_transport
    from ..keeper.client import keeper_connector
    from ..registry import default_home

    return keeper_connector(default_home(), float(settings["persist"]))


def open_cluster(settings: Settings, allow_insecure: bool, own_keys: bool) -> Cluster | None:
    """The Dask cluster named by --cluster / CTL_CLUSTER (checked reachable now, before
    anything is recorded), or None: this process does the work."""
    if not settings["cluster"]:
        return None
    from ..cluster import Cluster

    cluster = Cluster(settings["cluster"], allow_insecure, own_keys,
                      settings["cluster_connect_timeout"],
                      settings["shard_size"], settings["shards_per_worker"])
    cluster.preflight()
    return cluster


def loaded(settings: Settings) -> Settings:
    """Say, once, what Ansible's config lookup warned about (a world-writable cwd ...)."""
    for message in settings.ansible.warnings if settings.ansible else ():
        warn(f"[WARNING]: {message}")
    return settings


def inventory_sources(hosts: Hosts, settings: Settings) -> list[str]:
    """-i, else ansible.cfg's inventory / ANSIBLE_INVENTORY."""
    sources = list(hosts.inventory or settings["inventory"])
    if not sources:
        raise OptionError("no inventory: give one with -i FILE (or -i host1,host2,), or set "
                          "inventory in ansible.cfg / ANSIBLE_INVENTORY")
    return sources


def next_step(jid: str, results: list[HostResult]) -> str:
    statuses = {r.status for r in results}
    if Status.RUNNING in statuses or any(r.data.get("started") and r.data.get("finished") == 0
                                         for r in results):  # given up on, still running
        return f"ctl: job {jid}: still running; next: ctl poll {jid} --wait"
    if Status.UNREACHABLE in statuses:
        return f"ctl: job {jid}: some hosts were unreachable; once they are back: " \
               f"ctl poll {jid} --all-hosts"
    return f"ctl: job {jid}: every host finished; next: ctl cleanup {jid}"


def one_host(names: Any, host: str, sources: list[str]) -> None:
    if host not in names:
        raise PatternError(f"host {host!r} is not in {', '.join(sources)}")
