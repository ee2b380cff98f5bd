"""What a person sees in a real terminal: ctl driven through tmux, the screen read back."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.support.ctl import ROOT, Ctl
from tests.support.sshd_lab import SshdLab

TMUX = shutil.which("tmux")


class Terminal:
    def __init__(self, env: dict[str, str]) -> None:
        if TMUX is None:
            pytest.fail("tmux is needed for the terminal tests (scripts/setup.sh installs it)")
        self.name = f"ctl-{uuid.uuid4().hex[:8]}"
        self.env = dict(env, TERM="xterm-256color")
        self.env.pop("NO_COLOR", None)
        # a tmux server of its own (-L): a server already running elsewhere would give the
        # session ITS environment (another HOME and CTL_HOME), not this one
        self.tmux = [TMUX, "-L", self.name]
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", "160", "-y",
                        "50", "sh"], env=self.env, check=True)

    def type(self, line: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, line, "Enter"], check=True)

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def screen(self, colors: bool = False) -> str:
        args = [*self.tmux, "capture-pane", "-p", "-S", "-500", "-t", self.name] + \
            (["-e"] if colors else [])
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout

    def wait_for(self, text: str, within: float = 60, colors: bool = False) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            screen = self.screen(colors)
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def term(ctl: Ctl):
    terminal = Terminal(ctl.env)
    yield terminal
    terminal.close()


def ctl_line(ctl: Ctl, *args: str) -> str:
    return (f"cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m controller.cli "
            + " ".join(shlex.quote(a) for a in args) + "; echo EXIT=$?")


def test_progress_shows_while_polling_then_gives_way_to_results(ctl: Ctl, lab: SshdLab,
                                                                term: Terminal) -> None:
    term.type(ctl_line(ctl, "run", "-i", str(ctl.inventory), "-B", "60", "-P", "1", "--",
                       "sleep", "4"))
    live = term.wait_for(f"0/{len(lab.hosts)}")  # the progress line: hosts done of total
    assert "poll" in live and "eta" in live
    done = term.wait_for("EXIT=0")
    assert "RECAP" in done and "ASYNC OK on h1" in done
    assert f"0/{len(lab.hosts)}" not in done.split("RECAP")[1]  # the display is gone
    colored = term.screen(colors=True)
    assert "\x1b[33m" in colored  # CHANGED in yellow, as Ansible


def test_ctrl_c_stops_cleanly_and_says_how_to_poll(ctl: Ctl, lab: SshdLab,
                                                   term: Terminal) -> None:
    term.type(ctl_line(ctl, "run", "-i", str(ctl.inventory), "-B", "60", "-P", "2", "--",
                       "sleep", "30"))
    term.wait_for("ASYNC POLL on")
    term.keys("C-c")
    screen = term.wait_for("EXIT=99")
    assert "interrupted; what was launched is recorded: ctl poll j" in screen
    assert "Traceback" not in screen
    jid = screen.split("ctl poll ")[1].split()[0]
    poll = ctl("poll", jid, "--all-hosts", check_code=0)
    assert poll.stdout.count('"finished": 0') == len(lab.hosts)  # still running, recorded
    ctl("kill", jid, check_code=0)
