"""What a person sees in a real terminal: ctl driven through tmux, the screen read back."""

from __future__ import annotations

import pytest

from tests.support.ctl import Ctl
from tests.support.sshd_lab import SshdLab
from tests.support.terminal import Terminal, ctl_line


@pytest.fixture
def term(ctl: Ctl):
    terminal = Terminal(ctl.env)
    yield terminal
    terminal.close()


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
