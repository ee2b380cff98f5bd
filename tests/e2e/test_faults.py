"""Faults: a bad host or a bad network costs that host alone, and nothing is lost."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.support.ctl import Ctl, blocks, jid_of
from tests.support.sshd_lab import SshdLab


@pytest.fixture
def crowded(tmp_path_factory: pytest.TempPathFactory):
    """One sshd that drops every unauthenticated connection beyond the second (MaxStartups
    2), as a busy server does under a burst."""
    lab = SshdLab(tmp_path_factory.mktemp("crowded"), count=1, subnet="127.0.50",
                  extra_config="MaxStartups 2").start()
    yield lab
    lab.stop()


def test_maxstartups_refusals_are_retried_with_backoff(crowded: SshdLab, ctl: Ctl,
                                                       tmp_path: Path) -> None:
    host = crowded.hosts[0]
    hv = host.inventory_vars(crowded.key)
    if not host.async_dir:
        hv["ansible_async_dir"] = "~/.ansible_async_crowded"
    aliases = {f"alias{i}": dict(hv, ansible_async_dir=f"{hv.get('ansible_async_dir')}/{i}")
               for i in range(24)}
    inv = tmp_path / "crowded.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": aliases}}))
    (ctl.home / ".ssh" / "known_hosts").write_text(crowded.known_hosts.read_text())
    run = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "-v", "--", "true")
    out = blocks(run.stdout)
    assert sorted(out) == sorted(aliases)
    assert all(label == "CHANGED" for label, _ in out.values()), run.stdout
    assert "retry" in run.stderr  # the burst was refused at first, and retried


def test_a_silent_host_costs_its_timeout_once_not_per_host(ctl: Ctl, lab: SshdLab,
                                                           tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.60.1", 0))
    silent.listen(50)  # accepts TCP, never speaks SSH
    try:
        inv = lab.write_inventory(tmp_path / "silent.yml")
        text = inv.read_text()
        for i in range(3):
            text += (f"    silent{i}:\n      ansible_host: 127.0.60.1\n"
                     f"      ansible_port: {silent.getsockname()[1]}\n")
        inv.write_text(text)
        start = time.monotonic()
        run = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "-T", "3", "--", "true",
                  check_code=4)
        wall = time.monotonic() - start
    finally:
        silent.close()
    out = blocks(run.stdout)
    assert all(out[h.name][0] == "CHANGED" for h in lab.hosts)
    assert all(out[f"silent{i}"][0] == "UNREACHABLE!" for i in range(3))
    assert all("timed out" in out[f"silent{i}"][1]["msg"] for i in range(3))
    assert wall < 3 * 3  # the three silent hosts waited in parallel, not one after another


def test_sshd_down_between_launch_and_poll_then_back(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[4]
    run = ctl("run", "-i", str(ctl.inventory), "-l", host.name, "-B", "60", "-P", "0", "--",
              "sh", "-c", "sleep 3; echo still here", check_code=0)
    jid = jid_of(run.stdout)
    lab.stop_host(host)
    try:
        down = ctl("poll", jid, "-T", "3", check_code=4)
        assert blocks(down.stdout)[host.name][0] == "UNREACHABLE!"
    finally:
        lab.start_host(host)
    back = ctl("poll", jid, "--wait", "--delay", "1", "--retries", "15", check_code=0)
    label, data = blocks(back.stdout)[host.name]
    assert label == "CHANGED" and data["stdout"] == "still here"  # the job kept running


def read_until(proc: subprocess.Popen[str], needle: str) -> list[str]:
    """Lines of the process's stdout up to the one holding ``needle`` (the process's own
    bounded retries end it, and then this fails, if it never comes)."""
    lines: list[str] = []
    while True:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, f"{needle!r} never came:\n" + "".join(lines)
        lines.append(line)
        if needle in line:
            return lines


def test_sshd_killed_while_a_poll_waits_then_restarted(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[3]
    run = ctl("run", "-i", str(ctl.inventory), "-l", host.name, "-B", "60", "-P", "0", "--",
              "sh", "-c", "sleep 8; echo outlived sshd", check_code=0)
    jid = jid_of(run.stdout)
    waiting = ctl.popen("poll", jid, "--wait", "--delay", "0.5", "--retries", "60", "-T", "2")
    seen = read_until(waiting, "ASYNC POLL on")  # polling, over an open connection
    lab.stop_host(host, drop_sessions=True)  # its open connection and the next connects fail
    seen += read_until(waiting, "unreachable, will retry")  # the drop was seen...
    lab.start_host(host)
    out, err = waiting.communicate(timeout=120)
    out = "".join(seen) + out
    assert waiting.returncode == 0, out + err  # ...and survived
    label, data = blocks(out)[host.name]
    assert label == "CHANGED" and data["stdout"] == "outlived sshd"


@pytest.fixture
def big_lab(tmp_path_factory: pytest.TempPathFactory):
    lab = SshdLab(tmp_path_factory.mktemp("big"), count=200, subnet="127.0.90",
                  user_prefix="ctlb").start()
    yield lab
    lab.stop()


def test_a_200_host_run_while_others_poll_and_clean(big_lab: SshdLab, ctl: Ctl) -> None:
    """Concurrent ctl processes on one registry: no corruption, no lost rows."""
    (ctl.home / ".ssh" / "known_hosts").write_text(big_lab.known_hosts.read_text())
    first = ctl("run", "-i", str(big_lab.inventory), "-l", "h1:h2:h3", "-B", "60", "-P", "0",
                "--", "true", check_code=0)
    small = jid_of(first.stdout)
    big = ctl.popen("run", "-i", str(big_lab.inventory), "-B", "60", "-P", "0", "--", "true")
    others = [ctl.popen("poll", small), ctl.popen("poll", small), ctl.popen("cleanup", small)]
    for proc in others:
        proc.communicate(timeout=300)
        assert proc.returncode in (0, 2), proc.returncode  # 2: cleaned while polled
    out, err = big.communicate(timeout=600)
    assert big.returncode == 0, err[-2000:]
    jid = jid_of(out)
    assert len(blocks(out)) == 200
    import sqlite3
    db = sqlite3.connect(ctl.home / "ctl-state" / "registry.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = db.execute("SELECT state, count(*) FROM hosts WHERE jid=? GROUP BY state",
                      (jid,)).fetchall()
    assert rows == [("started", 200)]
    assert db.execute("SELECT count(*) FROM hosts WHERE jid=?", (small,)).fetchone() == (3,)
    ctl("cleanup", jid, check_code=0)
