"""The ``ctl`` commands: each parses, calls one library entry point, and renders results.
Option groups come from ``options``; what every command shares from ``app``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, List

import typer

from ..defaults import DEFAULTS
from ..errors import OptionError
from ..hostlist import fold
from ..results import HostResult, Status, exit_code
from ..units import parse_duration, parse_signal
from .app import Invocation, app, next_step, warn
from .options import ALL_HOSTS, GRACE, Connection, Hosts, Show, Timing, options
from .watch import open_view, watch_wanted

if TYPE_CHECKING:
    from ..api import Targets


@app.command(context_settings={"allow_interspersed_args": False})
@options(hosts=Hosts, conn=Connection, show=Show, timing=Timing)
def run(
    command: List[str] | None = typer.Argument(None, help="The command, after --."),
    shell: bool = typer.Option(False, "--shell", help="Run the command under /bin/sh -c "
                               "(Ansible's shell) instead of as an argv (Ansible's command)."),
    *, hosts: Hosts, conn: Connection, show: Show, timing: Timing,
) -> None:
    """Start COMMAND on every selected host, detached; print the jid. Ansible's ad-hoc
    form works too: ctl run [PATTERN] [options] -a "ARGS" [-m command|shell|script].

    \b
    Examples:
      ctl run -i hosts.yml -B 1000 -P 0 -- yum install docker-io
      ctl run web -B 3600 -P 0 -a "yum -y update"
    """
    argv = list(command or [])
    launch(" ".join(argv) if shell else argv, timing, hosts, conn, show)


def launch(command: list[str] | str, timing: Timing, hosts: Hosts, conn: Connection,
           show: Show, pattern: str | None = None, expand: bool = False,
           script: bytes | None = None, render: Callable[[Targets], Any] | None = None
           ) -> None:
    """Start one job on the selected hosts (and, with -P N, follow it); ``render`` gives
    each host its own command (a templated -a) before any host is contacted."""
    from ..api import Job

    watching = watch_wanted(timing.watch)  # launch detached, then the view
    it = Invocation.start(conn, show, quiet_launch=timing.poll != 0 or watching)
    interval = timing.poll if timing.poll is not None else it.settings["poll_interval"]
    interval = 0 if watching else interval
    targets = it.targets(hosts, pattern)
    job = Job(command, timeout=timing.background, poll=interval,
              shell=isinstance(command, str), output_cap=timing.cap(),
              cleanup_after=timing.cleanup_seconds(), expand=expand, script=script,
              per_host=render(targets) if render else None)
    jid, results = it.execute(it.controller.run(targets, job))
    if watching:
        it.output.end("run", results)
        raise typer.Exit(open_view(it, jid, targets))
    hint = launched_step(jid, results) if interval == 0 else next_step(jid, results)
    it.finish("run", results, hint)


def launched_step(jid: str, results: list[HostResult]) -> str:
    """After a detached launch: poll next; hosts that did not get the job, resume later."""
    hint = f"ctl: job {jid} on {len(results)} host(s); next: ctl poll {jid} --all-hosts"
    missed = sum(r.status in (Status.UNREACHABLE, Status.FAILED) for r in results)
    return hint + (f" ({missed} host(s) without the job: ctl resume {jid} once they can "
                   "take it)" if missed else "")


@app.command()
@options(hosts=Hosts, conn=Connection, show=Show)
def resume(
    jid: str = typer.Argument(..., help="The job id of an interrupted launch."),
    *, hosts: Hosts, conn: Connection, show: Show,
) -> None:
    """Finish an interrupted launch: start the job (same command, -B, jid and options) on
    each of its hosts that never got it, after checking there that no job file of it
    exists (a host that has one is recorded as started, never launched twice).

    Example: ctl resume j445703768934.50473 (-l PATTERN: only those of its hosts)
    """
    if hosts.inventory:
        raise OptionError("ctl resume takes the job's hosts from the registry: narrow them "
                          "with -l PATTERN, not -i")
    it = Invocation.start(conn, show)
    targets = it.job_targets(jid, hosts, True)
    results = it.execute(it.controller.resume(jid, targets))
    it.finish("resume", results, resume_step(jid, results))


def resume_step(jid: str, results: list[HostResult]) -> str:
    """Where a resume leaves the job: every host has it, or which hosts still need what."""
    if not results:
        return f"ctl: job {jid}: every host already got the job; nothing to resume; next: " \
               f"ctl poll {jid} --all-hosts"
    down = [r.host for r in results if r.status is Status.UNREACHABLE]
    failed = [r.host for r in results if r.status is Status.FAILED]
    if not down and not failed:
        return f"ctl: job {jid}: every host now has the job; next: ctl poll {jid} --all-hosts"
    lines = [f"ctl: job {jid}: still unreachable, so without the job: {fold(down)}; once "
             f"they are back: ctl resume {jid}"] if down else []
    if failed:
        lines.append(f"ctl: job {jid}: the launch failed on {fold(failed)} (see above); once "
                     f"fixed: ctl resume {jid}")
    return "\n".join(lines)


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
    watch: bool = typer.Option(False, "--watch", help="With --wait: watch the job live, "
                               "full screen, instead (ctl watch); on a terminal only."),
    *, hosts: Hosts, conn: Connection, show: Show,
) -> None:
    """Show a job's status on each host, as Ansible's async_status does.

    Example: ctl poll j445703768934.50473 --all-hosts
    """
    it = Invocation.start(conn, show)
    targets = it.job_targets(jid, hosts, all_hosts)
    if watch_wanted(watch):
        raise typer.Exit(open_view(it, jid, targets))
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

    \b
    Examples:
      ctl cleanup j445703768934.50473
      ctl cleanup --older-than 7d -i hosts.yml
    """
    if older_than is not None:
        return sweep(jid, older_than, hosts, conn, show)
    if jid is None:
        raise OptionError("missing jid: ctl cleanup <jid> (or --older-than AGE)")
    it = Invocation.start(conn, show)
    targets = it.job_targets(jid, hosts, all_hosts)
    results = it.execute(it.controller.cleanup(jid, targets, kill=kill, grace=grace))
    it.finish("cleanup", results, cleanup_step(it, jid, results))


def cleanup_step(it: Invocation, jid: str, results: list[HostResult]) -> str:
    """What a cleanup achieved: the whole job, these hosts only, or not everywhere."""
    if not all(r.status in (Status.OK, Status.CHANGED) for r in results):
        return f"ctl: job {jid}: not cleaned up everywhere; see the hosts above"
    job = it.controller.registry.find_job(jid)
    if job is None or job.state == "cleaned":
        return f"ctl: job {jid}: cleaned up"
    return f"ctl: job {jid}: cleaned up on these {len(results)} host(s); the job's other " \
           f"hosts still hold its files: ctl cleanup {jid} --all-hosts"


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
