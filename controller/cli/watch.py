"""``ctl watch``, and ``--watch`` for ``run`` and ``poll --wait``: the live full-screen view
of a job (``controller.watch``). Textual is imported only when a view opens, so no other
command pays for it. On a terminal only: ``ctl watch`` without one is an error (exit 5);
``--watch`` without one says so in one line and goes on as without it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from ..errors import OptionError
from ..results import exit_code
from .app import Invocation, app, warn
from .options import ALL_HOSTS, Connection, Hosts, options

if TYPE_CHECKING:
    from ..api import Targets


def on_terminal() -> bool:
    """Keys come from stdin, the screen goes to stderr (Textual's), and stdout must not be
    a file or a pipe either: all three on a terminal."""
    return all(stream is not None and stream.isatty()
               for stream in (sys.stdin, sys.stdout, sys.stderr))


def watch_wanted(asked: bool) -> bool:
    """``--watch`` given: open the view on a terminal; elsewhere say why not, once."""
    if asked and not on_terminal():
        warn("ctl: --watch needs a terminal (stdin, stdout and stderr); going on without it")
        return False
    return asked


@app.command()
@options(hosts=Hosts, conn=Connection)
def watch(
    jid: str = typer.Argument(..., help="The job id, e.g. j445703768934.50473."),
    all_hosts: bool = ALL_HOSTS,
    *, hosts: Hosts, conn: Connection,
) -> None:
    """Watch a job live on every host, full screen: states at a glance, what failed and
    why, who is slow; keys to open a host's output or kill the job. Quitting leaves the
    job running. Needs a terminal.

    Example: ctl watch j445703768934.50473
    """
    if not on_terminal():
        raise OptionError(f"ctl watch needs a terminal (stdin, stdout and stderr); without one: "
                          f"ctl poll {jid} --wait")
    it = Invocation.start(conn, quiet=True)
    raise typer.Exit(open_view(it, jid, it.job_targets(jid, hosts, all_hosts)))


def open_view(it: Invocation, jid: str, targets: Targets) -> int:
    """Run the view until the user leaves it; say how to pick the job up; the exit code of
    the last poll round (as ``ctl poll``'s: a running host is not a failure)."""
    from ..watch.view import WatchApp
    from ..watch.watcher import Watcher

    watcher = Watcher(it.controller, jid, targets)
    results = WatchApp(watcher).run() or watcher.results
    warn(watcher.pickup_line())
    return exit_code(results)
