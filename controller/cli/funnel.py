"""The one funnel from every error to one line on stderr and an exit code (5 for bad input,
as the ansible CLI), and the choice of which command modules a command line needs."""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import typer

try:  # newer typer vendors click (a click installed beside it, e.g. by Dask, is not its own)
    from typer._click.exceptions import UsageError

    ClickAbort, ClickExit = typer.Abort, typer.Exit
except ImportError:  # pragma: no cover  (older typer is built on click)
    from click.exceptions import Abort as ClickAbort  # type: ignore[assignment]
    from click.exceptions import Exit as ClickExit  # type: ignore[assignment]
    from click.exceptions import UsageError  # type: ignore[assignment]

from ..errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, CtlError
from .app import APP_SETTINGS, CtlTyper, app, warn

# where each command is declared: a command line imports only its command's module
COMMAND_MODULES = {
    "run": "commands", "poll": "commands", "cleanup": "commands", "kill": "commands",
    "logs": "commands", "resume": "commands", "adhoc": "adhoc", "watch": "watch",
    "inventory": "views", "jobs": "views", "show": "views", "config": "views",
    "keeper": "keeper",
}


def load_commands(name: str | None = None) -> None:
    """Import (and so register) the module declaring command ``name``; every one for None
    or an unknown name."""
    package = __name__.rpartition(".")[0]
    known = COMMAND_MODULES.get(name or "")
    for module in [known] if known else sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"{package}.{module}")


def main(args: list[str]) -> None:
    """One funnel from every error to one line and an exit code."""
    if args and args[0] == "run":
        from .adhoc import is_adhoc
        if is_adhoc(args):  # ctl run [PATTERN] ... -a ARGS: options anywhere, as ansible
            args[0] = "adhoc"
    try:
        code = app_for(args)(args=args, prog_name="ctl", standalone_mode=False)
    except (ClickExit, typer.Exit) as exc:
        code = exc.exit_code
    except UsageError as exc:
        code = usage_error(exc)
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
        code = crash(exc)
    sys.exit(code if isinstance(code, int) else 0)


def app_for(args: list[str]) -> typer.Typer:
    """The application with only the command asked for, its module alone imported: typer
    builds every command it holds (reading each one's type hints) before it parses a word.
    ``--help``, root options and unknown names get the whole application."""
    name = args[0] if args else ""
    load_commands(name)
    chosen = [info for info in app.registered_commands if command_name(info) == name]
    if not chosen:
        return app
    one = CtlTyper(**APP_SETTINGS)
    one.registered_callback = app.registered_callback
    one.registered_commands = chosen
    return one


def command_name(info: typer.models.CommandInfo) -> str:
    callback = info.callback
    return info.name or (callback.__name__.replace("_", "-") if callback else "")


def usage_error(exc: UsageError) -> int:
    if type(exc).__name__ == "NoArgsIsHelpError":  # bare `ctl`: help was shown
        return 0
    name = exc.ctx.info_name if exc.ctx else None
    hint = f" (see: ctl {name} --help)" if name and name != "ctl" else ""
    warn(f"ctl: error: {exc.format_message()}{hint}")
    return EXIT_BAD_INPUT


def crash(exc: Exception) -> int:
    """A bug: the traceback goes to crash.log, one line to the user."""
    from ..registry import default_home

    path = os.path.join(default_home(), "crash.log")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(traceback.format_exc())
    except OSError:
        path = "(could not write crash.log)"
    warn(f"ctl: internal error: {type(exc).__name__}: {exc}; details in {path}; "
         "please report this")
    return 1
