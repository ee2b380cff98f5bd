"""ctl resume and the poll's truth after a mix of faults, through the real CLI and real sshd:
a launch killed midway (kill -9, one host at a time) with an sshd down and a black-hole host
in the inventory is finished by ``ctl resume`` on exactly the hosts that never got the job;
two resumes at once start each host once; and ``ctl poll --all-hosts`` then says, once per
host, what is true there (running only where a job process runs)."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from tests.support.ctl import Ctl, blocks, jid_of
from tests.support.sshd_lab import LabHost, SshdLab, module_lab

lab = module_lab(count=5, subnet="127.0.62", user_prefix="ctlr")  # the ctl fixture's hosts


@pytest.fixture
def black_hole() -> Iterator[socket.socket]:
    """A host that accepts TCP and never speaks (a hung machine, a dead jump host)."""
    hole = socket.socket()
    hole.bind(("127.0.61.1", 0))
    hole.listen(50)
    try:
        yield hole
    finally:
        hole.close()


def inventory_with(lab: SshdLab, path: Path, hole: socket.socket, after: int) -> Path:
    """The lab's hosts with the black hole after the first ``after`` of them."""
    lab.write_inventory(path)
    data = yaml.safe_load(path.read_text())
    hosts = list(data["all"]["hosts"].items())
    hosts.insert(after, ("silent", {"ansible_host": "127.0.61.1",
                                    "ansible_port": hole.getsockname()[1]}))
    data["all"]["hosts"] = dict(hosts)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def runs_on(lab: SshdLab, host: LabHost, mark: str) -> int:
    """How many times a job appended to ~/<mark> on the host."""
    out = lab.sh(host, f"cat ~/{mark} 2>/dev/null || true").stdout
    return out.count("ran\n")


def job_files(lab: SshdLab, host: LabHost, jid: str) -> list[str]:
    return lab.sh(host, f"cd {host.real_async_dir} && ls -d {jid}* 2>/dev/null || true"
                  ).stdout.split()


def job_alive(lab: SshdLab, host: LabHost, mark: str) -> bool:
    """A process of the job (its command line holds the mark) runs on the host."""
    pattern = f"{mark[:-1]}[{mark[-1]}]"  # keeps pgrep's own shell out of the answer
    return lab.sh(host, f"pgrep -u {host.user} -f '{pattern}'").returncode == 0


def registry_states(ctl: Ctl, jid: str) -> dict[str, str]:
    db = sqlite3.connect(ctl.home / "ctl-state" / "registry.db")
    return dict(db.execute("SELECT host, state FROM hosts WHERE jid=?", (jid,)).fetchall())


def kill_midway(ctl: Ctl, lab: SshdLab, inv: Path, command: str, reached: LabHost) -> str:
    """ctl run -f 1 (hosts one at a time, in inventory order), kill -9'd once ``reached``
    has the job's file: the hosts after it never get the job."""
    proc = ctl.popen("run", "-i", str(inv), "-f", "1", "-T", "3", "-B", "120", "-P", "0",
                     "--shell", "--", command)
    db = ctl.home / "ctl-state" / "registry.db"
    jid = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if jid is None and db.exists():
            try:
                row = sqlite3.connect(db).execute("SELECT jid FROM jobs").fetchone()
            except sqlite3.OperationalError:
                row = None
            jid = row[0] if row else None
        if jid and job_files(lab, reached, jid):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert jid, "the launch never reached the first hosts"
    return jid


def test_resume_finishes_a_launch_killed_midway_and_never_starts_a_host_twice(
        ctl: Ctl, lab: SshdLab, tmp_path: Path, black_hole: socket.socket) -> None:
    h1, h2, h3, h4, h5 = lab.hosts[:5]
    mark = f"resume-{uuid.uuid4().hex[:10]}"
    inv = inventory_with(lab, tmp_path / "hosts.yml", black_hole, after=2)
    jid = kill_midway(ctl, lab, inv, f"echo ran >> ~/{mark}; sleep 60 # {mark}", reached=h2)
    states = registry_states(ctl, jid)
    assert states["silent"] == states["h3"] == states["h5"] == "launching", states
    lab.stop_host(h4)  # and one sshd is down when we resume
    try:
        first = ctl("resume", jid, "-T", "3", check_code=4)
        out = blocks(first.stdout)
        assert out["h3"][0] == out["h5"][0] == "CHANGED"
        assert out["h4"][0] == out["silent"][0] == "UNREACHABLE!"
        assert all(out[h.name][0] == "SUCCESS" for h in (h1, h2) if h.name in out)
        assert f"ctl: job {jid}: still unreachable, so without the job: h4, silent; once " \
               f"they are back: ctl resume {jid}" in first.stderr
    finally:
        lab.start_host(h4)
    second = ctl("resume", jid, "-T", "3", check_code=4)  # the black hole never comes back
    assert sorted(blocks(second.stdout)) == ["h4", "silent"]
    assert blocks(second.stdout)["h4"][0] == "CHANGED"
    for host in lab.hosts[:5]:
        assert runs_on(lab, host, mark) == 1, host.name
        assert job_files(lab, host, jid) == [jid, f"{jid}.stderr", f"{jid}.stdout"]
    assert registry_states(ctl, jid) == {**{h.name: "started" for h in lab.hosts[:5]},
                                         "silent": "unreachable"}
    polled = ctl("poll", jid, "--all-hosts", "-T", "3", check_code=4)
    answers = blocks(polled.stdout)
    assert sorted(answers) == sorted([h.name for h in lab.hosts[:5]] + ["silent"])
    for host in lab.hosts[:5]:
        label, data = answers[host.name]
        assert data["finished"] == 0 and job_alive(lab, host, mark), (label, data)
    ctl("kill", jid, "-l", "h*", "--grace", "1", check_code=0)
    for host in lab.hosts[:5]:
        lab.sh(host, f"rm -f ~/{mark}")


def test_two_resumes_at_once_start_each_host_once(ctl: Ctl, lab: SshdLab) -> None:
    hosts = lab.hosts[:3]
    mark = f"twice-{uuid.uuid4().hex[:10]}"
    for host in hosts:
        lab.stop_host(host)
    try:
        run = ctl("run", "-i", str(ctl.inventory), "-l", "h1:h2:h3", "-T", "3", "-B", "60",
                  "-P", "0", "--shell", "--", f"echo ran >> ~/{mark}", check_code=4)
    finally:
        for host in hosts:
            lab.start_host(host)
    jid = re.search(r"ctl: job (j\d+\.\d+)", run.stderr).group(1)  # type: ignore[union-attr]
    both = [ctl.popen("resume", jid), ctl.popen("resume", jid)]
    outs = [proc.communicate(timeout=120) for proc in both]
    assert [proc.returncode for proc in both] == [0, 0], outs
    for host in hosts:
        labels = sorted(blocks(out)[host.name][0] for out, _ in outs)
        assert labels == ["CHANGED", "SUCCESS"], labels  # one launched, one found it there
        deadline = time.monotonic() + 20
        while runs_on(lab, host, mark) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert runs_on(lab, host, mark) == 1, host.name
        lab.sh(host, f"rm -f ~/{mark}")
    assert set(registry_states(ctl, jid).values()) == {"started"}


def test_poll_tells_the_truth_once_per_host_after_a_mix_of_faults(
        ctl: Ctl, lab: SshdLab, tmp_path: Path, black_hole: socket.socket) -> None:
    h1, h2, h3, h4, h5 = lab.hosts[:5]
    mark = f"truth-{uuid.uuid4().hex[:10]}"
    inv = inventory_with(lab, tmp_path / "hosts.yml", black_hole, after=5)
    lab.stop_host(h3)  # h3: unreachable at launch, then back: never started there
    try:
        run = ctl("run", "-i", str(inv), "-T", "3", "-B", "120", "-P", "0", "--shell", "--",
                  f"sleep 60 # {mark}", check_code=4)
    finally:
        lab.start_host(h3)
    jid = jid_of(run.stdout)
    ctl_info = json.loads(lab.sh(h2, f"cat {h2.real_async_dir}/{jid}").stdout)["ctl"]
    lab.sh(h2, f"kill -9 {ctl_info['wrapper_pid']}; pkill -9 -f '{mark[:-1]}[{mark[-1]}]'")
    ctl("kill", jid, "-l", "h4", "--grace", "1", check_code=0)  # h4: stopped, then cleaned
    ctl("cleanup", jid, "-l", "h4", check_code=0)
    lab.stop_host(h5)  # h5: its sshd down while we poll (the job runs on)
    try:
        polled = ctl("poll", jid, "--all-hosts", "-T", "3", check_code=4)
    finally:
        lab.start_host(h5)
    answers = blocks(polled.stdout)
    assert sorted(answers) == sorted([h.name for h in lab.hosts[:5]] + ["silent"])
    assert polled.stdout.count(" => {") == 6  # exactly one answer per host
    assert answers["h1"][0] == "SUCCESS" and answers["h1"][1]["finished"] == 0
    assert answers["h2"][1]["lost"] is True and "is gone" in answers["h2"][1]["msg"]
    assert answers["h3"][1]["msg"] == \
        "the job was never started on this host: it was unreachable at launch"
    assert answers["h4"][1]["msg"] == "the job's files were erased by ctl cleanup"
    assert answers["h5"][0] == answers["silent"][0] == "UNREACHABLE!"
    for host in (h1, h2, h3, h4):  # running is said exactly where a job process runs
        said_running = answers[host.name][1].get("finished") == 0
        assert said_running == job_alive(lab, host, mark), host.name
    assert job_alive(lab, h5, mark)  # unreachable is not "gone": it ran on
    ctl("kill", jid, "-l", "h1:h5", "--grace", "1", check_code=0)
