"""The ``ctl`` command line: a thin typer shell over the library (``controller.api``).

``app`` declares the application and what commands share, ``options`` the option groups
(declared once), ``commands``, ``views``, ``adhoc`` and ``watch`` the commands, ``funnel``
the one path from every error to a line and an exit code. This module stays small:
``ctl --version`` is answered here, before typer or any command is imported. The typer
application with every command is ``funnel.app`` after ``funnel.load_commands()``.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """The ``ctl`` entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from .. import __version__
        print(f"ctl {__version__}")
        sys.exit(0)
    from .funnel import main as funnel
    funnel(args)

