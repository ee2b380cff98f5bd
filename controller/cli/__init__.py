"""The ``ctl`` command line: a thin typer shell over the library (``controller.api``).

``app`` declares the application and what commands share, ``options`` the option groups
(declared once), ``commands`` the commands; ``main`` is the one funnel from every error to
one line on stderr and an exit code (5 for bad input, as the ansible CLI).
"""

from __future__ import annotations

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
from . import adhoc, commands, keeper, views, watch  # noqa: F401  (registers the commands)
from .app import app, warn

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point: one funnel from every error to one line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if adhoc.is_adhoc(args):  # ctl run [PATTERN] ... -a ARGS: options anywhere, as ansible
        args[0] = "adhoc"
    try:
        code = app(args=args, prog_name="ctl", standalone_mode=False)
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
