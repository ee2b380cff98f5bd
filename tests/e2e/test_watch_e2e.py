"""``ctl watch`` in a real terminal (tmux) against real sshd hosts: a 60-host job with every
outcome, the counts on screen against ``ctl poll --json``'s, what quitting, Ctrl-C, a dropped
terminal and the kill keys do on the hosts, and 150 hosts folding on an 80x24 terminal."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.ctl import Ctl
from tests.support.sshd_lab import LabHost, SshdLab, module_lab
from tests.support.terminal import Terminal, ctl_line

MARK = f"watchmark{uuid.uuid4().hex[:6]}"  # in each job's command line, for pgrep
# by host number n: n % 5 == 0 fails with a line on stderr, 1 or 2 keeps running, else done
MIXED = ('n={{ inventory_hostname }}; n=${n#h}; case $((n % 5)) in '
         '0) echo "warming up" >&2; echo "disk full on h$n" >&2; exit 3;; '
         f'1|2) echo "copying on h$n"; sleep 600; true {MARK}-{{{{ inventory_hostname }}}};; '
         '*) echo "done on h$n";; esac')
NEVER, LOST, DROPPED = 58, 57, 59  # down at launch; wrapper killed; down after launch


lab150 = module_lab(count=150, subnet="127.0.30", user_prefix="ctlw")


@pytest.fixture(scope="module")
def wctl(lab150: SshdLab, tmp_path_factory: pytest.TempPathFactory) -> Ctl:
    home = tmp_path_factory.mktemp("watch-home")
    env = lab150.controller_env(home)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return Ctl(env, home, lab150.inventory)


def running_marks(lab: SshdLab, host: LabHost) -> bool:
    """Whether the job's command still runs on the host (its own eyes: ssh + pgrep)."""
    pattern = f"[{MARK[0]}]{MARK[1:]}-{host.name};"  # [w]atch...: not this shell's own line
    found = lab.sh(host, f"pgrep -f '{pattern}' >/dev/null && echo yes || echo no")
    return found.stdout.strip() == "yes"


def kill_wrapper(lab: SshdLab, host: LabHost, jid: str) -> None:
    """Make the job lost on the host: its wrapper and its job die, its record says running."""
    script = ("import json,os,signal,sys; c=json.load(open(sys.argv[1]))['ctl']; "
              "os.kill(c['wrapper_pid'], signal.SIGKILL); os.killpg(c['job_pgid'], 9)")
    done = lab.sh(host, f"python3 -c \"{script}\" {host.real_async_dir}/{jid}")
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def mixed(lab150: SshdLab, wctl: Ctl, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[str, Path]]:
    """A 60-host job: failed, running, ok, unreachable, lost and never-started hosts."""
    inventory = lab150.write_inventory(tmp_path_factory.mktemp("inv") / "sixty.yml",
                                       lab150.hosts[:60])
    hosts = {h.name: h for h in lab150.hosts}
    lab150.stop_host(hosts[f"h{NEVER}"])
    out = wctl("run", "-i", str(inventory), "-T", "3", "-B", "900", "-P", "0", "--json",
               "-m", "shell", "-a", MIXED, check_code=4)
    jid = json.loads(out.stdout.splitlines()[0])["data"]["ansible_job_id"]
    lab150.start_host(hosts[f"h{NEVER}"])
    kill_wrapper(lab150, hosts[f"h{LOST}"], jid)
    lab150.stop_host(hosts[f"h{DROPPED}"])
    try:
        yield jid, inventory
    finally:
        lab150.start_host(hosts[f"h{DROPPED}"])
        wctl("kill", jid, "--all-hosts", "--grace", "1")


def poll_counts(wctl: Ctl, jid: str) -> dict[str, int]:
    """``ctl poll --json``'s statuses, with lost and never-started told apart from failed."""
    out = wctl("poll", jid, "--all-hosts", "--json")
    counts = dict.fromkeys(("running", "ok", "failed", "unreachable", "lost",
                            "never started"), 0)
    for line in out.stdout.splitlines():
        event = json.loads(line)
        status, data = event["status"], event["data"]
        if data.get("lost"):
            status = "lost"
        elif str(data.get("msg", "")).startswith("the job was never started"):
            status = "never started"
        counts["ok" if status == "changed" else status] += 1
    return counts


def screen_counts(screen: str) -> dict[str, int]:
    found = re.findall(r"[>+x?!-] (running|ok|failed|unreachable|lost|never started) (\d+)",
                       screen)
    return {name: int(n) for name, n in found}


def watching(term: Terminal, wctl: Ctl, jid: str) -> str:
    term.type(ctl_line(wctl, "watch", jid))
    return term.wait_for("round 1 took", history=False)  # the first round is done


@pytest.fixture
def term(wctl: Ctl) -> Iterator[Terminal]:
    terminal = Terminal(wctl.env, 160, 50)
    yield terminal
    terminal.close()


def test_150_hosts_on_an_80x24_terminal_fold_instead_of_overflowing(
        wctl: Ctl, lab150: SshdLab) -> None:
    # first in the module: the mixed job below takes a host down until the module ends
    out = wctl("run", "-i", str(lab150.inventory), "-B", "300", "-P", "0", "--json", "--",
               "sleep", "120", check_code=0)
    jid = json.loads(out.stdout.splitlines()[0])["data"]["ansible_job_id"]
    term = Terminal(wctl.env, 80, 24)
    try:
        term.type(ctl_line(wctl, "watch", jid))
        screen = term.wait_for("running 150 ", within=90, history=False)
        lines = screen.rstrip("\n").split("\n")
        assert len(lines) == 24 and lines[0].startswith(f"ctl watch {jid}")
        assert "150 of 150, folded ranges" in screen and "h[1-" in screen
        assert lines[-1].startswith("q quit")  # the help line is still on screen
        assert "h150" in screen or "-150]" in screen  # the last host is in a range
        term.keys("q")
        term.wait_for("EXIT=0")
    finally:
        term.close()
        wctl("kill", jid, "--all-hosts", "--grace", "1")


def test_run_watch_and_poll_wait_watch_open_the_view_on_a_terminal(
        wctl: Ctl, lab150: SshdLab, tmp_path: Path) -> None:
    inventory = lab150.write_inventory(tmp_path / "ten.yml", lab150.hosts[:10])
    term = Terminal(wctl.env, 100, 30)
    try:
        term.type(ctl_line(wctl, "run", "-i", str(inventory), "-B", "120", "--watch", "--",
                           "sleep", "60"))
        screen = term.wait_for("round 1 took", history=False)
        assert screen.startswith("ctl watch j") and "running 10 " in screen
        jid = screen.split()[2]
        term.keys("q")
        left = "".join(term.wait_for("\nEXIT=0").split())  # the line may wrap
        assert f"pickitup:ctlpoll{jid}--all-hosts" in left
        term.type("clear")
        term.type(ctl_line(wctl, "poll", jid, "--wait", "--watch"))
        assert "running 10 " in term.wait_for("round 1 took", history=False)
        term.keys("q")
        assert "\nEXIT=0" in term.wait_for("\nEXIT=")
    finally:
        term.close()
    wctl("kill", jid, "--all-hosts", "--grace", "1", check_code=0)


def test_a_60_host_job_shows_the_counts_poll_json_gives_and_the_failed_hosts_line(
        wctl: Ctl, lab150: SshdLab, mixed: tuple[str, Path], term: Terminal) -> None:
    jid, _ = mixed
    expected = poll_counts(wctl, jid)
    assert expected == {"running": 23, "ok": 22, "failed": 12, "unreachable": 1, "lost": 1,
                        "never started": 1}  # the job's mix, as ctl poll --json gives it
    screen = watching(term, wctl, jid)
    assert screen_counts(screen) == expected
    assert " 37/60 " in screen  # finished: all but the running ones
    lists = screen.split("What went wrong")[1]
    assert "disk full on h5" in lists and "warming up" not in lists  # the last line
    assert "copying on h1" in lists  # who is slow, with its last line
    assert f"xh{5}" in screen and f"!h{LOST}" in screen and f"-h{NEVER}" in screen \
        and f"?h{DROPPED}" in screen and ">h1" in screen and "+h3" in screen
    term.keys("q")
    left = term.wait_for("\nEXIT=")
    assert f"left running (the view changes nothing on the hosts); pick it up: " \
           f"ctl poll {jid} --all-hosts" in left
    assert "EXIT=4" in left  # as ctl poll: a host unreachable
    assert running_marks(lab150, lab150.hosts[0])  # h1: the job goes on


def test_ctrl_c_and_a_dropped_terminal_leave_the_job_and_restore_the_terminal(
        wctl: Ctl, lab150: SshdLab, mixed: tuple[str, Path], term: Terminal) -> None:
    jid, _ = mixed
    watching(term, wctl, jid)
    term.keys("C-c")
    back = term.wait_for("\nEXIT=", history=False)
    assert "Who is slow" not in back and "ctl poll " + jid in back  # the shell's screen
    term.type("stty -a | grep -o ' -\\?icanon' ; echo STTY-DONE")
    assert "\n icanon" in term.wait_for("\nSTTY-DONE", history=False)  # cooked mode again
    term.type("clear")
    term.type(ctl_line(wctl, "watch", jid))
    term.wait_for("round 1 took", history=False)
    viewer = pids_of(f"watch {jid}")
    assert viewer
    term.close()  # the terminal goes away: SIGHUP
    deadline = time.monotonic() + 10
    while pids_of(f"watch {jid}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pids_of(f"watch {jid}")  # gone, within the 5 s it may take
    assert running_marks(lab150, lab150.hosts[0]) and running_marks(lab150, lab150.hosts[1])
    assert poll_counts(wctl, jid)["running"] == 23


def pids_of(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return found.stdout.split()


def test_kill_from_the_view_stops_the_job_on_the_selected_host_then_on_all(
        wctl: Ctl, lab150: SshdLab, mixed: tuple[str, Path], term: Terminal) -> None:
    jid, _ = mixed
    watching(term, wctl, jid)
    term.wait_for("» What went wrong", history=False)  # the keys act on that list first
    term.keys("Tab")
    term.wait_for("» Who is slow", history=False)
    term.keys("k")
    asked = term.wait_for("Kill job", history=False)
    host = re.search(r"Kill job \S+ on (h\d+)\?", asked).group(1)
    term.keys("y")
    term.wait_for(f"killed on {host}: 1 stopped", history=False)
    victim = next(h for h in lab150.hosts if h.name == host)
    assert not running_marks(lab150, victim)
    others = [h for h in lab150.hosts[:60] if int(h.name[1:]) % 5 in (1, 2)
              and h.name not in (host, f"h{LOST}")]
    assert running_marks(lab150, others[0])
    term.wait_for("running 22 ", history=False)
    term.keys("K")
    term.wait_for("on every host (60)?", history=False)
    term.keys("y")
    term.wait_for("running 0 ", within=90, history=False)
    assert not any(running_marks(lab150, h) for h in others)
    term.keys("q")
    term.wait_for("\nEXIT=")
