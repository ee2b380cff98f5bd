"""Ansible's ad-hoc form of ``ctl run``: ``ctl run [PATTERN] [options] -a "ARGS" [-m MODULE]``.

``main`` sends a ``run`` whose arguments hold ``-a``/``-m`` before any ``--`` here (a hidden
command that, like ``ansible``, takes options anywhere and the host pattern as its one
word); ``run -- COMMAND...`` is unchanged. Modules, as Ansible runs them under ``-B``:

- ``command`` (the default): ARGS split into words as a shell would, run with no shell;
  ``$VAR`` and ``~`` are expanded on the host, as Ansible's command module does;
- ``shell``: ARGS run by ``/bin/sh -c``;
- ``script``: ``-a "./local.sh args"`` copies the local script to the host and runs it;
- ``raw``: refused with Ansible's words, as ``ansible -B`` refuses it;
- any other module: one line saying what ctl runs and what to use instead.
"""

from __future__ import annotations

import os
import shlex
from typing import Any, Callable, List

import typer

from ..errors import OptionError
from ..secret import is_secret
from .app import app
from .commands import launch
from .options import Connection, Hosts, Show, Timing, options

ADHOC_FLAGS = ("-a", "--args", "-m", "--module-name")
COMMAND_MODULES = ("command", "ansible.builtin.command", "ansible.legacy.command")
SHELL_MODULES = ("shell", "ansible.builtin.shell", "ansible.legacy.shell")
SCRIPT_MODULES = ("script", "ansible.builtin.script", "ansible.legacy.script")
RAW_MODULES = ("raw", "ansible.builtin.raw", "ansible.legacy.raw")


def is_adhoc(argv: list[str]) -> bool:
    """``run`` with -a/-m among its arguments before any ``--``."""
    if not argv or argv[0] != "run":
        return False
    for word in argv[1:]:
        if word == "--":
            return False
        if word in ADHOC_FLAGS or word.startswith(("--args=", "--module-name=")) or \
                (word[:2] in ("-a", "-m") and not word.startswith("--")):
            return True
    return False


@app.command(name="adhoc", hidden=True)
@options(hosts=Hosts, conn=Connection, show=Show, timing=Timing)
def adhoc(
    pattern: List[str] | None = typer.Argument(None, help="The host pattern (default all)."),
    args: str | None = typer.Option(None, "-a", "--args", help="The module's arguments."),
    module: str = typer.Option("command", "-m", "--module-name", help="command, shell or "
                               "script."),
    *, hosts: Hosts, conn: Connection, show: Show, timing: Timing,
) -> None:
    """ctl run [PATTERN] -a "ARGS" [-m command|shell|script]: Ansible's ad-hoc form."""
    words = list(pattern or [])
    if len(words) > 1:
        raise OptionError(f"with -a, give one host pattern before the options, got "
                          f"{shlex.join(words)!r} (quote the command in -a \"...\")")
    command, script = module_job(module, args)
    target = words[0] if words else None
    if target and hosts.limit:
        target = f"{target}:&{hosts.limit}"
    from ..templating import has_template

    render = per_host(module, args or "") if has_template(args) else None
    launch(command, timing, hosts, conn, show, target, expand=module in COMMAND_MODULES,
           script=script, render=render)


def per_host(module: str, args: str) -> Callable[[Any], dict[str, list[str] | str]]:
    """A templated -a, as Ansible renders module arguments: with each host's variables,
    before any host is contacted (an undefined variable stops the run with exit 5). A
    value from a vault is refused: ctl never puts a secret on a command line."""
    def render(targets: Any) -> dict[str, list[str] | str]:
        commands: dict[str, list[str] | str] = {}
        for spec in targets.specs:
            text = targets.variables(spec.name).render(args, "-a")
            if is_secret(text):
                raise OptionError(f"host {spec.name}: -a uses a vaulted value; ctl never puts a "
                                  "secret on a command line (read it on the host instead)")
            commands[spec.name] = shaped(module, str(text))
        return commands
    return render


def shaped(module: str, text: str) -> list[str] | str:
    """A rendered -a as the module runs it: one shell line, or words."""
    if module in SHELL_MODULES:
        return text
    words = split(text, module)
    if module in SCRIPT_MODULES and words:
        return [os.path.basename(words[0]), *words[1:]]
    return words


def module_job(module: str, args: str | None) -> tuple[list[str] | str, bytes | None]:
    """(command, script) for a module and its -a; errors name the module. For ``script``
    the command's first word is the script's name, the script's bytes go along."""
    if module in RAW_MODULES:
        raise OptionError(f"-m {module}: This action (raw) does not support async. (ctl "
                          "starts every job detached: use -m command or -m shell)")
    if module not in COMMAND_MODULES + SHELL_MODULES + SCRIPT_MODULES:
        raise OptionError(f"-m {module}: ctl runs commands, not Ansible modules: use -m "
                          "command, shell or script, or ansible itself for other modules")
    if not args or not args.strip():
        raise OptionError(f"-m {module}: no command given: -a \"ARGS\" is required")
    script = read_script(split(args, module)[0]) if module in SCRIPT_MODULES else None
    return shaped(module, args), script


def split(args: str, module: str) -> list[str]:
    try:
        return shlex.split(args)
    except ValueError as exc:
        raise OptionError(f"-m {module}: cannot split -a {args!r}: {exc}") from exc


def read_script(path: str) -> bytes:
    """The local script ``-m script`` copies."""
    from ..datafiles import read_bytes

    return read_bytes(path, lambda why: f"-m script: Could not find or access '{path}' on "
                                        f"the Ansible Controller: {why}")
