"""A real terminal for the tests: tmux runs a shell, ``type`` and ``keys`` send input, and
``screen`` reads back what a person would see (``capture-pane``)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.support.ctl import ROOT, Ctl

TMUX = shutil.which("tmux")


class Terminal:
    def __init__(self, env: dict[str, str], width: int = 160, height: int = 50) -> None:
        if TMUX is None:
            pytest.fail("tmux is needed for the terminal tests (scripts/setup.sh installs it)")
        self.name = f"ctl-{uuid.uuid4().hex[:8]}"
        self.env = dict(env, TERM="xterm-256color")
        self.env.pop("NO_COLOR", None)
        # a tmux server of its own (-L): a shared one would give the shell its environment
        self.tmux = [TMUX, "-L", self.name]
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", str(width),
                        "-y", str(height), "sh"], env=self.env, check=True)

    def type(self, line: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, line, "Enter"], check=True)

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def screen(self, colors: bool = False, history: bool = True) -> str:
        """The screen (with ``history``: and 500 lines of scrollback above it)."""
        args = [*self.tmux, "capture-pane", "-p", "-t", self.name] + \
            (["-S", "-500"] if history else []) + (["-e"] if colors else [])
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout

    def wait_for(self, text: str, within: float = 60, colors: bool = False,
                 history: bool = True) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            screen = self.screen(colors, history)
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


def ctl_line(ctl: Ctl, *args: str) -> str:
    return (f"cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m controller.cli "
            + " ".join(shlex.quote(a) for a in args) + "; echo EXIT=$?")
