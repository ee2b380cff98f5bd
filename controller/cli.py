"""The ``ctl`` command line: a thin typer shell over ``controller.api``.

It parses, calls one async entry point, and renders typed results; every known error
becomes one line on stderr and its exit code (5 for bad input, as the ansible CLI).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import sys
import time
import traceback
from typing import Any, List

import typer

try:  # older typer is built on click; newer typer vendors it behind typer's own classes
    from click.exceptions import Abort as ClickAbort
    from click.exceptions import Exit as ClickExit
    from click.exceptions import UsageError
except ImportError:
    ClickAbort, ClickExit, UsageError = typer.Abort, typer.Exit, typer.TyperException  # type: ignore

from . import __version__
from .api import Controller, Job, Targets
from .errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, CtlError, OptionError
from .jid import check_jid
from .registry import Registry
from .render import TextEvents, job_table
from .results import exit_code
from .transport import ConnectOptions

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ctl: start long jobs on many hosts over SSH, detached, and follow "
                       "them; on-disk compatible with Ansible's async jobs.")

INVENTORY = typer.Option(None, "-i", "--inventory", help="Inventory file or host list "
                         "(web1,web2,); repeatable.", metavar="INVENTORY")
LIMIT = typer.Option(None, "-l", "--limit", help="Host pattern: group, host, glob, ~regex, "
                     "a:b, a:&b, a:!b.", metavar="PATTERN")
FORKS = typer.Option(50, "-f", "--forks", min=1, help="Hosts worked on at once.")
TIMEOUT = typer.Option(10.0, "-T", "--timeout", help="SSH connect timeout, seconds.")
USER = typer.Option(None, "-u", "--user", help="Remote user (overrides the inventory).")
KEY = typer.Option(None, "--private-key", help="Private key file (overrides the inventory).")
NO_HOST_KEY_CHECKING = typer.Option(
    False, "--no-host-key-checking",
    help="Do not check host keys against known_hosts (labs only; says so loudly).")
VERBOSE = typer.Option(0, "-v", "--verbose", count=True, help="More detail on stderr "
                       "(-vvv: the SSH conversation).")


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=version_callback,
                                      is_eager=True, help="Show the version and exit.")
         ) -> None:
    """ctl: start long jobs on many hosts over SSH, detached, and follow them."""


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("ctl: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("ctl").setLevel(level)
    logging.getLogger("asyncssh").setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)


def make_controller(forks: int, timeout: float, no_host_key_checking: bool,
                    verbose: int, events: Any = None) -> Controller:
    setup_logging(verbose)
    checking = not no_host_key_checking
    if not checking:
        warn("WARNING: host key checking is OFF (--no-host-key-checking): a man in the "
             "middle would not be noticed. Use this only in a lab.")
    if timeout <= 0:
        raise OptionError(f"-T/--timeout must be more than 0 seconds, got {timeout:g}")
    return Controller(Registry(), ConnectOptions(timeout, checking), forks, events)


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def overrides(user: str | None, key: str | None) -> dict[str, Any]:
    if key is not None and not os.path.isfile(os.path.expanduser(key)):
        raise OptionError(f"--private-key {key}: no such file")
    return {"user": user, "private_key": os.path.expanduser(key) if key else None}


def pick_targets(controller: Controller, jid: str, inventory: list[str] | None,
                 limit: str | None, all_hosts: bool, user: str | None, key: str | None
                 ) -> Targets:
    check_jid(jid)
    if inventory and all_hosts:
        raise OptionError("use either --all-hosts (the job's hosts, from the registry) or "
                          "-i INVENTORY, not both")
    if inventory:
        return Targets.from_inventory(inventory, limit, overrides(user, key))
    targets = controller.job_targets(jid, limit)
    extra = overrides(user, key)
    return Targets([s.with_overrides(**extra) for s in targets.specs], targets.groups)


def finish(results: list[Any], jid: str, next_hint: str | None) -> None:
    if next_hint:
        warn(next_hint)
    raise typer.Exit(exit_code(results))


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    command: List[str] | None = typer.Argument(None, help="The command, after --."),
    inventory: List[str] = INVENTORY,
    limit: str | None = LIMIT,
    background: int = typer.Option(3600, "-B", "--background", help="Time limit of the job "
                                   "on each host, seconds (enforced on the host)."),
    poll: int = typer.Option(15, "-P", "--poll", help="Poll every N seconds until done; "
                             "0 = start and detach."),
    shell: bool = typer.Option(False, "--shell", help="Run the command under /bin/sh -c "
                               "(Ansible's shell) instead of as an argv (Ansible's command)."),
    forks: int = FORKS, timeout: float = TIMEOUT, user: str | None = USER,
    private_key: str | None = KEY, no_host_key_checking: bool = NO_HOST_KEY_CHECKING,
    verbose: int = VERBOSE,
) -> None:
    """Start COMMAND on every selected host, detached; print the jid.

    Example: ctl run -i hosts.yml -B 1000 -P 0 -- yum install docker-io
    """
    if not inventory:
        raise OptionError("no inventory: give one with -i FILE (or -i host1,host2,)")
    argv = list(command or [])
    cmd: list[str] | str = " ".join(argv) if shell else argv
    job = Job(cmd, timeout=background, poll=poll, shell=shell)
    controller = make_controller(forks, timeout, no_host_key_checking, verbose,
                                 TextEvents(quiet_launch=poll > 0))
    targets = Targets.from_inventory(inventory, limit, overrides(user, private_key))
    jid, results = asyncio.run(controller.run(targets, job))
    hint = f"ctl: job {jid} on {len(results)} host(s)"
    if poll == 0:
        hint += f"; follow it with: ctl poll {jid} --all-hosts"
    finish(results, jid, hint)


@app.command()
def poll(
    jid: str = typer.Argument(..., help="The job id, e.g. j445703768934.50473."),
    all_hosts: bool = typer.Option(False, "--all-hosts", help="Every host the job was "
                                   "started on, from the registry (the default without -i)."),
    inventory: List[str] | None = INVENTORY, limit: str | None = LIMIT,
    wait: bool = typer.Option(False, "--wait", help="Poll until every host is finished."),
    retries: int = typer.Option(30, "--retries", help="With --wait: rounds before giving up."),
    delay: float = typer.Option(10, "--delay", help="With --wait: seconds between rounds."),
    forks: int = FORKS, timeout: float = TIMEOUT, user: str | None = USER,
    private_key: str | None = KEY, no_host_key_checking: bool = NO_HOST_KEY_CHECKING,
    verbose: int = VERBOSE,
) -> None:
    """Show a job's status on each host, as Ansible's async_status does.

    Example: ctl poll j445703768934.50473 --all-hosts
    """
    controller = make_controller(forks, timeout, no_host_key_checking, verbose, TextEvents())
    targets = pick_targets(controller, jid, inventory, limit, all_hosts, user, private_key)
    results = asyncio.run(controller.poll(jid, targets, wait=wait, retries=retries,
                                          delay=delay))
    finish(results, jid, None)


@app.command()
def cleanup(
    jid: str = typer.Argument(..., help="The job id to erase."),
    all_hosts: bool = typer.Option(False, "--all-hosts", help="Every host the job was "
                                   "started on, from the registry (the default without -i)."),
    inventory: List[str] | None = INVENTORY, limit: str | None = LIMIT,
    forks: int = FORKS, timeout: float = TIMEOUT, user: str | None = USER,
    private_key: str | None = KEY, no_host_key_checking: bool = NO_HOST_KEY_CHECKING,
    verbose: int = VERBOSE,
) -> None:
    """Erase a finished job's files on every host (a running job is left alone).

    Example: ctl cleanup j445703768934.50473
    """
    controller = make_controller(forks, timeout, no_host_key_checking, verbose, TextEvents())
    targets = pick_targets(controller, jid, inventory, limit, all_hosts, user, private_key)
    results = asyncio.run(controller.cleanup(jid, targets))
    finish(results, jid, None)


@app.command()
def jobs(as_json: bool = typer.Option(False, "--json", help="JSON Lines, one job a line."),
         limit: int = typer.Option(50, "-n", help="Show at most N jobs (0: all).")) -> None:
    """List the jobs in the registry, newest first.

    Example: ctl jobs --json
    """
    registry = Registry()
    rows = registry.jobs(limit or None)
    if as_json:
        for job in rows:
            print(json.dumps({"jid": job.jid, "command": job.command, "created": job.created,
                              "timeout": job.timeout, "state": job.state,
                              "hosts": registry.host_counts(job.jid)}))
        return
    table = []
    for job in rows:
        cmd = job.command if isinstance(job.command, str) else shlex.join(job.command)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created))
        table.append((job.jid, when, job.state, sum(registry.host_counts(job.jid).values()),
                      cmd))
    print(job_table(table))


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
    except CtlError as exc:
        warn(f"ctl: error: {exc.message}")
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
