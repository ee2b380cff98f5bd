"""The ``ctl`` commands that read and show, contacting no host: ``inventory``, ``config``,
``jobs`` (unless ``--refresh``) and ``show``."""

from __future__ import annotations

import json
import shlex
import time

import typer

from .app import (
    Invocation,
    app,
    inventory_sources,
    loaded,
    one_host,
    open_registry,
    setup_logging,
)
from .options import REGISTRY, Connection, Hosts, options, scale_layer


@app.command()
@options(hosts=Hosts)
def inventory(
    host: str | None = typer.Option(None, "--host", help="One host: its variables and "
                                    "effective connection settings, with where each came from."),
    show_graph: bool = typer.Option(False, "--graph", help="The group tree."),
    as_json: bool = typer.Option(False, "--json", "--list", help="ansible-inventory --list "
                                 "JSON (the default without --graph or --host)."),
    *, hosts: Hosts,
) -> None:
    """Show the hosts ctl selects and how it will reach each one (secrets masked).

    Example: ctl inventory -i hosts.ini --host web01
    """
    from ..inventory import load_inventory, select_hosts
    from ..inventory.view import as_list, graph, host_view
    from ..settings import Settings

    setup_logging(0)
    settings = hosts.unlocked(loaded(Settings.load()))
    sources = inventory_sources(hosts, settings)
    inv = load_inventory(sources, extra_vars=hosts.extra(settings), settings=settings,
                         validate=False)
    names = select_hosts(inv, hosts.limit)
    if host is not None:
        one_host(inv.specs, host, sources)
        print(json.dumps(host_view(inv, host, settings), indent=4, sort_keys=True, default=str))
    elif show_graph and not as_json:
        print("\n".join(graph(inv, names)))
    else:
        print(json.dumps(as_list(inv, names), indent=4, sort_keys=True, default=str))


@app.command()
@options(conn=Connection)
def jobs(as_json: bool = typer.Option(False, "--json", help="JSON Lines, one job a line."),
         show_all: bool = typer.Option(False, "--all", help="Include cleaned-up jobs."),
         refresh: bool = typer.Option(False, "--refresh", help="Poll the listed jobs first."),
         limit: int = typer.Option(50, "-n", help="Show at most N jobs (0: all)."),
         *, conn: Connection) -> None:
    """List the jobs in the registry, newest first, with host counts at the last poll.

    Example: ctl jobs --refresh
    """
    from ..render import job_table

    registry = open_registry(scale_layer(conn.cluster, conn.registry)["registry"][0])
    rows = [j for j in registry.jobs() if show_all or j.state != "cleaned"][:limit or None]
    if refresh:
        refresh_jobs(conn, [job.jid for job in rows])
    listing = [(job, registry.host_counts(job.jid)) for job in rows]
    for job, counts in listing if as_json else ():
        print(json.dumps({"jid": job.jid, "command": job.command, "created": job.created,
                          "timeout": job.timeout, "state": job.state, "hosts": counts}))
    if not as_json:
        print(job_table([(job.jid, when(job.created), job.state, counts,
                          command_text(job.command)) for job, counts in listing]))


def refresh_jobs(conn: Connection, jids: list[str]) -> None:
    """``ctl jobs --refresh``: poll each job once, quietly (the registry records it)."""
    it = Invocation.start(conn, quiet=True)
    for jid in jids:
        it.execute(it.controller.poll(jid))


@app.command()
def show(jid: str = typer.Argument(..., help="The job id."),
         as_json: bool = typer.Option(False, "--json", help="One JSON object."),
         registry_url: str | None = REGISTRY) -> None:
    """One job from the registry, host by host: state, last status, rc, message.

    Example: ctl show j445703768934.50473
    """
    from ..jid import check_jid
    from ..render import host_table

    check_jid(jid)
    registry = open_registry(scale_layer(None, registry_url)["registry"][0])
    job, hosts = registry.job(jid), registry.hosts(jid)
    if as_json:
        print(json.dumps({"jid": jid, "command": job.command, "created": job.created,
                          "timeout": job.timeout, "state": job.state,
                          "hosts": [{"host": h.host, "state": h.state, **h.last}
                                    for h in hosts]}))
        return
    print(f"job {jid}: {command_text(job.command)}\ncreated {when(job.created)}, -B "
          f"{job.timeout}, -P {job.poll}, {job.state}, {len(hosts)} host(s)")
    print(host_table([(h.host, h.state, str(h.last.get("status", "-")),
                       str(h.last.get("rc", "-")), str(h.last.get("msg", "")))
                      for h in hosts]))


def when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def command_text(command: list[str] | str) -> str:
    return command if isinstance(command, str) else shlex.join(command)


@app.command()
@options(conn=Connection)
def config(
    show_all: bool = typer.Option(False, "--all", help="Every setting, defaults included."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object: name -> value, "
                                 "origin."),
    *, conn: Connection,
) -> None:
    """The effective settings and where each came from: an option, an ANSIBLE_* variable,
    ansible.cfg (file and line), or ctl's default; like ansible-config dump --only-changed.

    Example: ctl config
    """
    from ..settings import Settings

    settings = loaded(Settings.load(conn.layer()))  # options too: ctl config -u bob
    rows = settings.rows(changed_only=not show_all)
    if as_json:
        print(json.dumps({"config_file": settings.ansible.path if settings.ansible else None,
                          "settings": {name: {"value": value, "from": origin}
                                       for name, value, origin in rows}}, default=str))
        return
    path = settings.ansible.path if settings.ansible else None
    print(f"config file = {path or 'None (no ansible.cfg found)'}")
    for name, value, origin in rows:
        print(f"{name} = {shown(value)}  ({origin})")


def shown(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "[]"
    return str(value)
