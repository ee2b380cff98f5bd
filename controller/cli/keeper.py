"""``ctl keeper status|stop``: the per-user process that keeps SSH connections warm
between commands (``controller.keeper``; README "Warm connections")."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import typer

from ..errors import CtlError
from .app import CtlTyper, app

keeper_app = CtlTyper(no_args_is_help=True, help="The connection keeper: status, stop.")
app.add_typer(keeper_app, name="keeper")


def request(op: str) -> dict[str, object] | None:
    """The keeper's answer; None when none runs. ``stop`` kills one that does not answer
    (SIGSTOPped, stuck)."""
    import asyncio

    from ..keeper.client import Unusable, Wedged, ask
    from ..keeper.wire import socket_path
    from ..registry import default_home

    try:
        return asyncio.run(ask(default_home(), op))
    except Wedged as exc:
        if op != "stop":
            raise CtlError(f"the keeper: {exc}; stop it with: ctl keeper stop") from exc
        os.kill(exc.pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path(default_home()))
        return {"pid": exc.pid}
    except (Unusable, OSError) as exc:
        raise CtlError(f"the keeper: {exc}") from exc


@keeper_app.command()
def status(as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Is a keeper running for this user and $CTL_HOME, and what does it hold?

    Example: ctl keeper status
    """
    found = request("stats")
    if as_json:
        typer.echo(json.dumps(found))
    elif found is None:
        typer.echo("no keeper running")
    else:
        typer.echo(f"keeper pid {found['pid']}: {found['open']} connections open, "
                   f"{found['connects']} opened, {found['runs']} commands run, "
                   f"idle exit after {found['idle']}s; ctl {found['version']}")


@keeper_app.command()
def stop() -> None:
    """Stop the keeper now: its connections close, its socket goes.

    Example: ctl keeper stop
    """
    found = request("stop")
    if found is None:
        typer.echo("no keeper running")
        return
    pid = int(str(found["pid"]))
    if not gone(pid, 10.0):
        os.kill(pid, signal.SIGKILL)
    typer.echo(f"stopped the keeper (pid {pid})")


def gone(pid: int, seconds: float) -> bool:
    """Wait (a bounded time) for a process that is not our child to end."""
    deadline = time.monotonic() + seconds
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return not os.path.exists(f"/proc/{pid}")
