"""The ``ctl`` command line: a thin typer shell over ``controller.api``.

It parses, calls one async entry point, and renders typed results; every known error
becomes one line on stderr and its exit code (5 for bad input, as the ansible CLI).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import shlex
import sys
import time
import traceback
from typing import Any, Awaitable, List, TypeVar

import typer

try:  # older typer is built on click; newer typer vendors it behind typer's own classes
    from click.exceptions import Abort as ClickAbort
    from click.exceptions import Exit as ClickExit
    from click.exceptions import UsageError
except ImportError:
    ClickAbort, ClickExit, UsageError = typer.Abort, typer.Exit, typer.TyperException  # type: ignore

from . import __version__
from .api import Controller, Job, Targets
from .errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, CtlError, OptionError, PatternError
from .inventory import load_inventory
from .inventory_view import as_list, graph, host_view
from .jid import check_jid
from .patterns import select_hosts
from .progress import ProgressOutput, wanted
from .registry import Registry
from .render import (
    GroupedOutput,
    JsonOutput,
    OneLineOutput,
    Output,
    TextOutput,
    TreeOutput,
    host_table,
    job_table,
)
from .results import HostResult, Status, exit_code
from .runner import LOG_CONTEXT
from .transport import ConnectOptions
from .units import parse_duration, parse_extra_vars, parse_signal, parse_size

T = TypeVar("T")

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ctl: start long jobs on many hosts over SSH, detached, and follow "
                       "them; on-disk compatible with Ansible's async jobs.")

HOSTS, CONN, OUT = "Hosts", "Connection", "Output"
INVENTORY = typer.Option(None, "-i", "--inventory", help="Inventory file or host list "
                         "(web1,web2,); repeatable.", metavar="INVENTORY",
                         rich_help_panel=HOSTS)
EXTRA_VARS = typer.Option(None, "-e", "--extra-vars", metavar="VARS", help="key=value, "
                          "@file.yml or JSON; wins over the inventory; repeatable.",
                          rich_help_panel=HOSTS)
LIMIT = typer.Option(None, "-l", "--limit", help="Host pattern: group, host, glob, ~regex, "
                     "a:b, a:&b, a:!b, @file.", metavar="PATTERN", rich_help_panel=HOSTS)
ALL_HOSTS = typer.Option(False, "--all-hosts", help="Every host the job was started on, from "
                         "the registry (the default without -i).", rich_help_panel=HOSTS)
FORKS = typer.Option(50, "-f", "--forks", min=1, help="Hosts worked on at once.",
                     rich_help_panel=CONN)
WORKERS = typer.Option(None, "--workers", min=1, help="Processes a launch, poll, cleanup or "
                       "kill is sharded over (default 1: see Benchmarks in the README).",
                       rich_help_panel=CONN)
TIMEOUT = typer.Option(None, "-T", "--timeout", help="SSH connect timeout, seconds "
                       "(overrides ansible_ssh_timeout; default 10).",
                       rich_help_panel=CONN)
USER = typer.Option(None, "-u", "--user", help="Remote user (overrides the inventory).",
                    rich_help_panel=CONN)
KEY = typer.Option(None, "--private-key", help="Private key file (overrides the inventory).",
                   rich_help_panel=CONN)
BECOME = typer.Option(False, "-b", "--become", help="Run the job as another user (sudo).",
                      rich_help_panel=CONN)
BECOME_METHOD = typer.Option("sudo", "--become-method", metavar="METHOD",
                             help="How to become (sudo).", rich_help_panel=CONN)
BECOME_USER = typer.Option(None, "--become-user", metavar="USER", help="The user to become "
                           "(default root).", rich_help_panel=CONN)
ASK_BECOME_PASS = typer.Option(False, "-K", "--ask-become-pass", help="Prompt for the sudo "
                               "password (never echoed, never stored).", rich_help_panel=CONN)
BECOME_PASSWORD_FILE = typer.Option(None, "--become-password-file", metavar="FILE",
                                    help="Read the sudo password from FILE.",
                                    rich_help_panel=CONN)
NO_HOST_KEY_CHECKING = typer.Option(
    False, "--no-host-key-checking", rich_help_panel=CONN,
    help="Do not check host keys against known_hosts (labs only; says so loudly).")
VERBOSE = typer.Option(0, "-v", "--verbose", count=True, rich_help_panel=OUT,
                       help="More detail on stderr: -v connections, -vv remote calls, -vvv "
                            "the SSH conversation; each line names its host and jid.")
ONE_LINE = typer.Option(False, "-o", "--one-line", help="One line per host (ansible -o).",
                        rich_help_panel=OUT)
AS_JSON = typer.Option(False, "--json", help="JSON Lines on stdout, one object per host "
                       "per event; nothing else on stdout.", rich_help_panel=OUT)
TREE = typer.Option(None, "-t", "--tree", metavar="DIR", help="Also write each host's final "
                    "result to DIR/<host> (ansible -t).", rich_help_panel=OUT)
GROUP = typer.Option(False, "-g", "--group-identical", help="Print identical outputs once, "
                     "under the folded list of their hosts (clush -b).", rich_help_panel=OUT)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=version_callback,
                                      is_eager=True, help="Show the version and exit.")
         ) -> None:
    """ctl: start long jobs on many hosts over SSH, detached, and follow them."""


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


def make_output(one_line: bool = False, as_json: bool = False, tree: str | None = None,
                group: bool = False, quiet_launch: bool = False) -> Output:
    if sum((one_line, as_json, group)) > 1:
        raise OptionError("choose one of -o/--one-line, --json, -g/--group-identical")
    output: Output = JsonOutput() if as_json else OneLineOutput() if one_line else \
        GroupedOutput() if group else TextOutput()
    output.quiet_launch = quiet_launch
    if tree:
        output = TreeOutput(tree, output)
    if wanted(as_json):
        output = ProgressOutput(output)
    return output


def make_controller(forks: int, workers: int | None, timeout: float | None,
                    no_host_key_checking: bool, verbose: int, events: Any = None) -> Controller:
    setup_logging(verbose)
    checking = not no_host_key_checking
    if not checking:
        warn("WARNING: host key checking is OFF (--no-host-key-checking): a man in the "
             "middle would not be noticed. Use this only in a lab.")
    if timeout is not None and timeout <= 0:
        raise OptionError(f"-T/--timeout must be more than 0 seconds, got {timeout:g}")
    return Controller(Registry(), ConnectOptions(timeout, checking), forks, events, workers)


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def overrides(user: str | None, key: str | None, become: bool = False,
              become_user: str | None = None, ask_pass: bool = False,
              password_file: str | None = None, method: str = "sudo") -> dict[str, Any]:
    """Command-line connection settings, which win over the inventory's."""
    if method != "sudo":
        raise OptionError(f"--become-method {method!r} is not supported (use sudo)")
    if key is not None and not os.path.isfile(os.path.expanduser(key)):
        raise OptionError(f"--private-key {key}: no such file")
    password = None
    if password_file is not None:
        try:
            with open(password_file, encoding="utf-8") as f:
                password = f.readline().rstrip("\r\n")
        except OSError as exc:
            raise OptionError(f"--become-password-file {password_file}: {exc.strerror}") from exc
    elif ask_pass:
        password = getpass.getpass("BECOME password: ")
    return {"user": user, "private_key": os.path.expanduser(key) if key else None,
            "become": True if become or become_user else None, "become_user": become_user,
            "become_password": password}


def pick_targets(controller: Controller, jid: str, inventory: list[str] | None,
                 limit: str | None, all_hosts: bool, extra: dict[str, Any],
                 extra_vars: list[str] | None = None) -> Targets:
    check_jid(jid)
    if inventory and all_hosts:
        raise OptionError("use either --all-hosts (the job's hosts, from the registry) or "
                          "-i INVENTORY, not both")
    if inventory:
        return Targets.from_inventory(inventory, limit, extra,
                                      parse_extra_vars(extra_vars or []))
    targets = controller.job_targets(jid, limit)
    return Targets([s.with_overrides(**extra) for s in targets.specs], targets.groups)


class Interrupted(CtlError):
    exit_code = EXIT_INTERRUPTED


def execute(output: Output, work: Awaitable[T]) -> T:
    """Run one async entry point; Ctrl-C stops cleanly and says how to pick the job up."""
    try:
        return asyncio.run(work)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        if isinstance(output, ProgressOutput):
            output.close()
        jid = getattr(output, "jid", None)
        hint = f"; what was launched is recorded: ctl poll {jid} --all-hosts" if jid else ""
        raise Interrupted(f"interrupted{hint}") from None


def finish(output: Output, op: str, results: list[HostResult], next_hint: str | None) -> None:
    output.end(op, results)
    if next_hint:
        warn(next_hint)
    raise typer.Exit(exit_code(results))


def next_step(jid: str, results: list[HostResult]) -> str:
    statuses = {r.status for r in results}
    if Status.RUNNING in statuses:
        return f"ctl: job {jid}: still running; next: ctl poll {jid} --wait"
    if Status.UNREACHABLE in statuses:
        return f"ctl: job {jid}: some hosts were unreachable; once they are back: " \
               f"ctl poll {jid} --all-hosts"
    return f"ctl: job {jid}: every host finished; next: ctl cleanup {jid}"


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    command: List[str] | None = typer.Argument(None, help="The command, after --."),
    inventory: List[str] = INVENTORY,
    limit: str | None = LIMIT, extra_vars: List[str] | None = EXTRA_VARS,
    background: int = typer.Option(3600, "-B", "--background", help="Time limit of the job "
                                   "on each host, seconds (enforced on the host)."),
    poll: int = typer.Option(15, "-P", "--poll", help="Poll every N seconds until done; "
                             "0 = start and detach."),
    shell: bool = typer.Option(False, "--shell", help="Run the command under /bin/sh -c "
                               "(Ansible's shell) instead of as an argv (Ansible's command)."),
    cleanup_after: str | None = typer.Option(
        None, "--cleanup-after", metavar="AGE", help="The host erases the job's files this "
        "long after the job ends (e.g. 1d), with no controller involved."),
    output_cap: str = typer.Option("4M", "--output-cap", metavar="SIZE", help="Most output "
                                   "per stream embedded in the final record; the rest stays "
                                   "in the output files (ctl logs)."),
    forks: int = FORKS, workers: int | None = WORKERS, timeout: float | None = TIMEOUT,
    user: str | None = USER,
    private_key: str | None = KEY, no_host_key_checking: bool = NO_HOST_KEY_CHECKING,
    become: bool = BECOME, become_user: str | None = BECOME_USER,
    become_method: str = BECOME_METHOD,
    ask_become_pass: bool = ASK_BECOME_PASS,
    become_password_file: str | None = BECOME_PASSWORD_FILE,
    one_line: bool = ONE_LINE, as_json: bool = AS_JSON, tree: str | None = TREE,
    group: bool = GROUP, verbose: int = VERBOSE,
) -> None:
    """Start COMMAND on every selected host, detached; print the jid.

    Example: ctl run -i hosts.yml -B 1000 -P 0 -- yum install docker-io
    """
    if not inventory:
        raise OptionError("no inventory: give one with -i FILE (or -i host1,host2,)")
    argv = list(command or [])
    cmd: list[str] | str = " ".join(argv) if shell else argv
    job = Job(cmd, timeout=background, poll=poll, shell=shell,
              output_cap=parse_size(output_cap, "--output-cap"),
              cleanup_after=parse_duration(cleanup_after, "--cleanup-after")
              if cleanup_after is not None else None)
    output = make_output(one_line, as_json, tree, group, quiet_launch=poll > 0)
    controller = make_controller(forks, workers, timeout, no_host_key_checking, verbose, output)
    extra = overrides(user, private_key, become, become_user, ask_become_pass,
                      become_password_file, become_method)
    targets = Targets.from_inventory(inventory, limit, extra,
                                     parse_extra_vars(extra_vars or []))
    jid, results = execute(output, controller.run(targets, job))
    hint = f"ctl: job {jid} on {len(results)} host(s); next: ctl poll {jid} --all-hosts" \
        if poll == 0 else next_step(jid, results)
    finish(output, "run", results, hint)


@app.command()
def poll(
    jid: str = typer.Argument(..., help="The job id, e.g. j445703768934.50473."),
    all_hosts: bool = ALL_HOSTS, inventory: List[str] | None = INVENTORY,
    limit: str | None = LIMIT, extra_vars: List[str] | None = EXTRA_VARS,
    wait: bool = typer.Option(False, "--wait", help="Poll until every host is finished."),
    retries: int = typer.Option(30, "--retries", help="With --wait: rounds before giving up."),
    delay: float = typer.Option(10, "--delay", help="With --wait: seconds between rounds."),
    tail: int = typer.Option(5, "--tail", min=0, help="Last lines of a running job's "
                             "output to show (stdout_tail, stderr_tail)."),
    forks: int = FORKS, workers: int | None = WORKERS, timeout: float | None = TIMEOUT,
    user: str | None = USER,
    private_key: str | None = KEY, no_host_key_checking: bool = NO_HOST_KEY_CHECKING,
    become: bool = BECOME, become_user: str | None = BECOME_USER,
    become_method: str = BECOME_METHOD,
    ask_become_pass: bool = ASK_BECOME_PASS,
    become_password_file: str | None = BECOME_PASSWORD_FILE,
    one_line: bool = ONE_LINE, as_json: bool = AS_JSON, tree: str | None = TREE,
    group: bool = GROUP, verbose: int = VERBOSE,
) -> None:
    """Show a job's status on each host, as Ansible's async_status does.

    Example: ctl poll j445703768934.50473 --all-hosts
    """
    output = make_output(one_line, as_json, tree, group)
    controller = make_controller(forks, workers, timeout, no_host_key_checking, verbose, output)
    extra = overrides(user, private_key, become, become_user, ask_become_pass,
                      become_password_file, become_method)
    targets = pick_targets(controller, jid, inventory, limit, all_hosts, extra,
                           extra_vars)
    results = execute(output, controller.poll(jid, targets, wait=wait, retries=retries,
                                              delay=delay, tail_lines=tail))
    finish(output, "poll", results, next_step(jid, results))


@app.command()
def cleanup(
    jid: str | None = typer.Argument(None, help="The job id to erase (omit with "
                                     "--older-than)."),
    all_hosts: bool = ALL_HOSTS, inventory: List[str] | None = INVENTORY,
    limit: str | None = LIMIT, extra_vars: List[str] | None = EXTRA_VARS,
    kill: bool = typer.Option(False, "--kill", help="Stop a still-running job first "
                              "(TERM, then KILL after --grace), then erase it."),
    grace: float = typer.Option(5, "--grace", help="With --kill: seconds before SIGKILL."),
    older_than: str | None = typer.Option(
        None, "--older-than", metavar="AGE", help="Instead of one job: erase every finished "
        "job file (ctl's and Ansible's) older than AGE (e.g. 7d) on each host."),
    forks: int = FORKS, workers: int | None = WORKERS, timeout: float | None = TIMEOUT,
    user: str | None = USER,
    private_key: str | None = KEY, no_host_key_checking: bool = NO_HOST_KEY_CHECKING,
    become: bool = BECOME, become_user: str | None = BECOME_USER,
    become_method: str = BECOME_METHOD,
    ask_become_pass: bool = ASK_BECOME_PASS,
    become_password_file: str | None = BECOME_PASSWORD_FILE,
    one_line: bool = ONE_LINE, as_json: bool = AS_JSON, tree: str | None = TREE,
    group: bool = GROUP, verbose: int = VERBOSE,
) -> None:
    """Erase a finished job's files on every host (a running job is left alone).

    Examples: ctl cleanup j445703768934.50473 | ctl cleanup --older-than 7d -i hosts.yml
    """
    output = make_output(one_line, as_json, tree, group)
    controller = make_controller(forks, workers, timeout, no_host_key_checking, verbose, output)
    extra = overrides(user, private_key, become, become_user, ask_become_pass,
                      become_password_file, become_method)
    if older_than is not None:
        if jid is not None:
            raise OptionError("give either a jid or --older-than, not both")
        age = parse_duration(older_than, "--older-than")
        targets = Targets.from_inventory(inventory, limit, extra, parse_extra_vars(
            extra_vars or [])) if inventory else controller.known_hosts()
        finish(output, "gc", execute(output, controller.gc(targets, age)), None)
    if jid is None:
        raise OptionError("missing jid: ctl cleanup <jid> (or --older-than AGE)")
    targets = pick_targets(controller, jid, inventory, limit, all_hosts, extra,
                           extra_vars)
    results = execute(output, controller.cleanup(jid, targets, kill=kill, grace=grace))
    erased = all(r.status in (Status.OK, Status.CHANGED) for r in results)
    finish(output, "cleanup", results, f"ctl: job {jid}: " + (
        "cleaned up" if erased else "not cleaned up everywhere; see the hosts above"))


@app.command()
def kill(
    jid: str = typer.Argument(..., help="The job id to stop."),
    all_hosts: bool = ALL_HOSTS, inventory: List[str] | None = INVENTORY,
    limit: str | None = LIMIT, extra_vars: List[str] | None = EXTRA_VARS,
    signal_name: str = typer.Option("TERM", "--signal", "-s", help="Signal sent first."),
    grace: float = typer.Option(5, "--grace", help="Seconds before SIGKILL for what is left."),
    forks: int = FORKS, workers: int | None = WORKERS, timeout: float | None = TIMEOUT,
    user: str | None = USER,
    private_key: str | None = KEY, no_host_key_checking: bool = NO_HOST_KEY_CHECKING,
    become: bool = BECOME, become_user: str | None = BECOME_USER,
    become_method: str = BECOME_METHOD,
    ask_become_pass: bool = ASK_BECOME_PASS,
    become_password_file: str | None = BECOME_PASSWORD_FILE,
    one_line: bool = ONE_LINE, as_json: bool = AS_JSON, tree: str | None = TREE,
    group: bool = GROUP, verbose: int = VERBOSE,
) -> None:
    """Stop a running job on each host, children included; record it as killed.

    Example: ctl kill j445703768934.50473 --signal INT --grace 10
    """
    output = make_output(one_line, as_json, tree, group)
    controller = make_controller(forks, workers, timeout, no_host_key_checking, verbose, output)
    extra = overrides(user, private_key, become, become_user, ask_become_pass,
                      become_password_file, become_method)
    parse_signal(signal_name)
    targets = pick_targets(controller, jid, inventory, limit, all_hosts, extra,
                           extra_vars)
    results = execute(output, controller.kill(jid, targets, signal_name, grace))
    finish(output, "kill", results, f"ctl: job {jid}: next: ctl cleanup {jid}")


@app.command()
def logs(
    jid: str = typer.Argument(..., help="The job id."),
    host: str | None = typer.Argument(None, help="A host or pattern (default: all)."),
    follow: bool = typer.Option(False, "--follow", "-F", help="Stream until the job ends."),
    inventory: List[str] | None = INVENTORY, extra_vars: List[str] | None = EXTRA_VARS,
    forks: int = FORKS, workers: int | None = WORKERS, timeout: float | None = TIMEOUT,
    user: str | None = USER,
    private_key: str | None = KEY, no_host_key_checking: bool = NO_HOST_KEY_CHECKING,
    become: bool = BECOME, become_user: str | None = BECOME_USER,
    become_method: str = BECOME_METHOD,
    ask_become_pass: bool = ASK_BECOME_PASS,
    become_password_file: str | None = BECOME_PASSWORD_FILE,
    verbose: int = VERBOSE,
) -> None:
    """Show a job's output so far on each host, each line prefixed by its host; stdout
    lines go to stdout, stderr lines to stderr.

    Example: ctl logs j445703768934.50473 web01 --follow
    """
    controller = make_controller(forks, workers, timeout, no_host_key_checking, verbose)
    extra = overrides(user, private_key, become, become_user, ask_become_pass,
                      become_password_file, become_method)
    targets = pick_targets(controller, jid, inventory, host, False, extra,
                           extra_vars)

    def sink(name: str, stream: str, line: str) -> None:
        print(f"{name} | {line}", file=sys.stdout if stream == "stdout" else sys.stderr,
              flush=follow)  # per line only when following: 200 MiB of lines stays fast

    results = execute(Output(), controller.logs(jid, sink, targets, follow=follow))
    for result in results:
        if result.status is not Status.OK or result.msg:
            warn(f"ctl: {result.host}: {result.msg}")
    raise typer.Exit(exit_code(results))


@app.command()
def inventory(
    inventory: List[str] = INVENTORY, limit: str | None = LIMIT,
    extra_vars: List[str] | None = EXTRA_VARS,
    host: str | None = typer.Option(None, "--host", help="One host: its variables and "
                                    "effective connection settings, with where each came from."),
    show_graph: bool = typer.Option(False, "--graph", help="The group tree."),
    as_json: bool = typer.Option(False, "--json", "--list", help="ansible-inventory --list "
                                 "JSON (the default without --graph or --host)."),
) -> None:
    """Show the hosts ctl selects and how it will reach each one (secrets masked).

    Example: ctl inventory -i hosts.ini --host web01
    """
    if not inventory:
        raise OptionError("no inventory: give one with -i FILE (or -i host1,host2,)")
    inv = load_inventory(inventory, extra_vars=parse_extra_vars(extra_vars or []))
    names = select_hosts(inv, limit)
    if host is not None:
        if host not in inv.specs:
            raise PatternError(f"host {host!r} is not in {', '.join(inventory)}")
        print(json.dumps(host_view(inv, host, inv.specs[host]), indent=4, sort_keys=True,
                         default=str))
    elif show_graph and not as_json:
        print("\n".join(graph(inv, names)))
    else:
        print(json.dumps(as_list(inv, names), indent=4, sort_keys=True, default=str))


@app.command()
def jobs(as_json: bool = typer.Option(False, "--json", help="JSON Lines, one job a line."),
         show_all: bool = typer.Option(False, "--all", help="Include cleaned-up jobs."),
         refresh: bool = typer.Option(False, "--refresh", help="Poll the listed jobs first."),
         limit: int = typer.Option(50, "-n", help="Show at most N jobs (0: all)."),
         forks: int = FORKS, workers: int | None = WORKERS, timeout: float | None = TIMEOUT,
         verbose: int = VERBOSE) -> None:
    """List the jobs in the registry, newest first, with host counts at the last poll.

    Example: ctl jobs --refresh
    """
    controller = make_controller(forks, workers, timeout, False, verbose)
    registry = controller.registry
    rows = [j for j in registry.jobs() if show_all or j.state != "cleaned"][:limit or None]
    if refresh:
        for job in rows:
            asyncio.run(controller.poll(job.jid))
    listing = [(job, registry.host_counts(job.jid)) for job in rows]
    if as_json:
        for job, counts in listing:
            print(json.dumps({"jid": job.jid, "command": job.command, "created": job.created,
                              "timeout": job.timeout, "state": job.state, "hosts": counts}))
        return
    print(job_table([(job.jid, when(job.created), job.state, counts, command_text(job.command))
                     for job, counts in listing]))


@app.command()
def show(jid: str = typer.Argument(..., help="The job id."),
         as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """One job from the registry, host by host: state, last status, rc, message.

    Example: ctl show j445703768934.50473
    """
    check_jid(jid)
    registry = Registry()
    job = registry.job(jid)
    hosts = registry.hosts(jid)
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


def main(argv: list[str] | None = None) -> None:
    """Entry point: one funnel from every error to one line and an exit code."""
    try:
        code = app(args=argv, prog_name="ctl", standalone_mode=False)
    except (ClickExit, typer.Exit) as exc:
        code = exc.exit_code
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `ctl`: help was shown
            sys.exit(0)
        hint = f" (see: ctl {exc.ctx.info_name} --help)" if exc.ctx and exc.ctx.info_name \
            and exc.ctx.info_name != "ctl" else ""
        warn(f"ctl: error: {exc.format_message()}{hint}")
        code = EXIT_BAD_INPUT
    except (ClickAbort, typer.Abort):
        warn("ctl: interrupted")
        code = EXIT_INTERRUPTED
    except KeyboardInterrupt:
        warn("ctl: interrupted; what was launched is in the registry: see ctl jobs")
        code = EXIT_INTERRUPTED
    except CtlError as exc:  # one line, whatever the message holds
        warn("ctl: error: " + exc.message.replace("\r", "\\r").replace("\n", "\\n"))
        code = exc.exit_code
    except Exception as exc:
        path = os.path.join(Registry().home, "crash.log")
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(traceback.format_exc())
        except OSError:
            path = "(could not write crash.log)"
        warn(f"ctl: internal error: {type(exc).__name__}: {exc}; details in {path}; "
             "please report this")
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
