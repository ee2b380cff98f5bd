"""The ``ctl`` commands: each parses, calls one library entry point, and renders results.
Option groups come from ``options``; what every command shares from ``app``."""

from __future__ import annotations

import json
import shlex
import sys
import time
from typing import List

import typer

from ..errors import OptionError
from ..results import Status, exit_code
from ..settings import DEFAULTS
from ..units import parse_duration, parse_signal, parse_size
from .app import Invocation, app, inventory_sources, next_step, one_host, warn
from .options import ALL_HOSTS, GRACE, Connection, Hosts, Show, options

BACKGROUND = typer.Option(DEFAULTS["background"], "-B", "--background", help="Time limit of "
                          "the job on each host, seconds (enforced on the host).")
POLL = typer.Option(None, "-P", "--poll", help="Poll every N seconds until done; 0 = start "
                    "and detach (default 15, ansible.cfg's poll_interval).")
SHELL = typer.Option(False, "--shell", help="Run the command under /bin/sh -c (Ansible's "
                     "shell) instead of as an argv (Ansible's command).")
CLEANUP_AFTER = typer.Option(None, "--cleanup-after", metavar="AGE", help="The host erases the "
                             "job's files this long after the job ends (e.g. 1d), with no "
                             "controller involved.")
OUTPUT_CAP = typer.Option("4M", "--output-cap", metavar="SIZE", help="Most output per stream "
                          "embedded in the final record; the rest stays in the output files "
                          "(ctl logs).")


@app.command(context_settings={"allow_interspersed_args": False})
@options(hosts=Hosts, conn=Connection, show=Show)
def run(
    command: List[str] | None = typer.Argument(None, help="The command, after --."),
    background: int = BACKGROUND, poll: int | None = POLL, shell: bool = SHELL,
    cleanup_after: str | None = CLEANUP_AFTER, output_cap: str = OUTPUT_CAP,
    *, hosts: Hosts, conn: Connection, show: Show,
) -> None:
    """Start COMMAND on every selected host, detached; print the jid.

    Example: ctl run -i hosts.yml -B 1000 -P 0 -- yum install docker-io
    """
    from ..api import Job

    argv = list(command or [])
    run_it = Invocation.start(conn, show, quiet_launch=poll != 0)
    interval = poll if poll is not None else run_it.settings["poll_interval"]
    job = Job(" ".join(argv) if shell else argv, timeout=background, poll=interval,
              shell=shell, output_cap=parse_size(output_cap, "--output-cap"),
              cleanup_after=None if cleanup_after is None
              else parse_duration(cleanup_after, "--cleanup-after"))
    targets = run_it.targets(hosts)
    jid, results = run_it.execute(run_it.controller.run(targets, job))
    hint = f"ctl: job {jid} on {len(results)} host(s); next: ctl poll {jid} --all-hosts" \
        if interval == 0 else next_step(jid, results)
    run_it.finish("run", results, hint)


@app.command()
@options(hosts=Hosts, conn=Connection, show=Show)
def poll(
    jid: str = typer.Argument(..., help="The job id, e.g. j445703768934.50473."),
    all_hosts: bool = ALL_HOSTS,
    wait: bool = typer.Option(False, "--wait", help="Poll until every host is finished."),
    retries: int = typer.Option(DEFAULTS["retries"], "--retries",
                                help="With --wait: rounds before giving up."),
    delay: float = typer.Option(DEFAULTS["delay"], "--delay",
                                help="With --wait: seconds between rounds."),
    tail: int = typer.Option(DEFAULTS["tail"], "--tail", min=0, help="Last lines of a "
                             "running job's output to show (stdout_tail, stderr_tail)."),
    *, hosts: Hosts, conn: Connection, show: Show,
) -> None:
    """Show a job's status on each host, as Ansible's async_status does.

    Example: ctl poll j445703768934.50473 --all-hosts
    """
    it = Invocation.start(conn, show)
    targets = it.job_targets(jid, hosts, all_hosts)
    results = it.execute(it.controller.poll(jid, targets, wait=wait, retries=retries,
                                            delay=delay, tail_lines=tail))
    it.finish("poll", results, next_step(jid, results))


@app.command()
@options(hosts=Hosts, conn=Connection, show=Show)
def cleanup(
    jid: str | None = typer.Argument(None, help="The job id to erase (omit with "
                                     "--older-than)."),
    all_hosts: bool = ALL_HOSTS,
    kill: bool = typer.Option(False, "--kill", help="Stop a still-running job first "
                              "(TERM, then KILL after --grace), then erase it."),
    grace: float = GRACE,
    older_than: str | None = typer.Option(
        None, "--older-than", metavar="AGE", help="Instead of one job: erase every finished "
        "job file (ctl's and Ansible's) older than AGE (e.g. 7d) on each host."),
    *, hosts: Hosts, conn: Connection, show: Show,
) -> None:
    """Erase a finished job's files on every host (a running job is left alone).

    Examples: ctl cleanup j445703768934.50473 | ctl cleanup --older-than 7d -i hosts.yml
    """
    if older_than is not None:
        return sweep(jid, older_than, hosts, conn, show)
    if jid is None:
        raise OptionError("missing jid: ctl cleanup <jid> (or --older-than AGE)")
    it = Invocation.start(conn, show)
    targets = it.job_targets(jid, hosts, all_hosts)
    results = it.execute(it.controller.cleanup(jid, targets, kill=kill, grace=grace))
    erased = all(r.status in (Status.OK, Status.CHANGED) for r in results)
    it.finish("cleanup", results, f"ctl: job {jid}: " + (
        "cleaned up" if erased else "not cleaned up everywhere; see the hosts above"))


def sweep(jid: str | None, older_than: str, hosts: Hosts, conn: Connection, show: Show
          ) -> None:
    """``ctl cleanup --older-than AGE``: every old finished job file, on every host."""
    if jid is not None:
        raise OptionError("give either a jid or --older-than, not both")
    age = parse_duration(older_than, "--older-than")
    it = Invocation.start(conn, show)
    sources = hosts.inventory or it.settings["inventory"]
    targets = it.targets(hosts) if sources else it.controller.known_hosts()
    it.finish("gc", it.execute(it.controller.gc(targets, age)), None)


@app.command()
@options(hosts=Hosts, conn=Connection, show=Show)
def kill(
    jid: str = typer.Argument(..., help="The job id to stop."),
    all_hosts: bool = ALL_HOSTS,
    signal_name: str = typer.Option("TERM", "--signal", "-s", help="Signal sent first."),
    grace: float = GRACE,
    *, hosts: Hosts, conn: Connection, show: Show,
) -> None:
    """Stop a running job on each host, children included; record it as killed.

    Example: ctl kill j445703768934.50473 --signal INT --grace 10
    """
    parse_signal(signal_name)
    it = Invocation.start(conn, show)
    targets = it.job_targets(jid, hosts, all_hosts)
    results = it.execute(it.controller.kill(jid, targets, signal_name, grace))
    it.finish("kill", results, f"ctl: job {jid}: next: ctl cleanup {jid}")


@app.command()
@options(hosts=Hosts, conn=Connection)
def logs(
    jid: str = typer.Argument(..., help="The job id."),
    host: str | None = typer.Argument(None, help="A host or pattern (default: all)."),
    follow: bool = typer.Option(False, "--follow", "-F", help="Stream until the job ends."),
    *, hosts: Hosts, conn: Connection,
) -> None:
    """Show a job's output so far on each host, each line prefixed by its host; stdout
    lines go to stdout, stderr lines to stderr.

    Example: ctl logs j445703768934.50473 web01 --follow
    """
    it = Invocation.start(conn, quiet=True)
    targets = it.job_targets(jid, hosts, False, host)

    def sink(name: str, stream: str, line: str) -> None:
        print(f"{name} | {line}", file=sys.stdout if stream == "stdout" else sys.stderr,
              flush=follow)  # per line only when following: 200 MiB of lines stays fast

    results = it.execute(it.controller.logs(jid, sink, targets, follow=follow))
    for result in results:
        if result.status is not Status.OK or result.msg:
            warn(f"ctl: {result.host}: {result.msg}")
    raise typer.Exit(exit_code(results))


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

    settings = hosts.unlocked(Settings.load())
    sources = inventory_sources(hosts, settings)
    inv = load_inventory(sources, extra_vars=hosts.extra(settings), settings=settings)
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
    from ..registry import Registry
    from ..render import job_table

    registry = Registry()
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
         as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """One job from the registry, host by host: state, last status, rc, message.

    Example: ctl show j445703768934.50473
    """
    from ..jid import check_jid
    from ..registry import Registry
    from ..render import host_table

    check_jid(jid)
    registry = Registry()
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
