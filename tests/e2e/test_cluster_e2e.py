"""ctl over a real Dask cluster (``dask scheduler`` + ``dask worker --nworkers 2``) against
real sshd hosts: one launch sharded over both worker processes, with the same results as
in one process; a worker SIGKILL'd mid-launch of 100 hosts loses none and doubles none
(each host: exactly one job process and one job file, checked on the hosts)."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.ctl import ROOT, Ctl, blocks, jid_of
from tests.support.dask_lab import DaskLab, make_tls
from tests.support.sshd_lab import SshdLab, running


def CLUSTER(dask_lab: DaskLab) -> list[str]:  # noqa: N802
    """The lab's private key goes to the workers with each shard: on 127.0.0.1, allowed."""
    return ["--cluster", dask_lab.address, "--allow-insecure-cluster"]


@pytest.fixture(scope="module")
def dask_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskLab]:
    lab = DaskLab(tmp_path_factory.mktemp("dask")).start()
    try:
        yield lab
    finally:
        lab.stop()


def test_one_launch_is_sharded_over_both_workers_with_the_same_results(
        ctl: Ctl, lab: SshdLab, dask_lab: DaskLab) -> None:
    inv = ["-i", str(ctl.inventory)]
    run = ctl("run", *inv, *CLUSTER(dask_lab), "-vv", "-B", "60", "-P", "0", "--",
              "echo", "sharded", check_code=0)
    assert f"sharding {len(lab.hosts)} hosts over 2 worker(s) of {dask_lab.address}" in run.stderr
    pids = set(re.findall(r"done by worker process (\d+)", run.stderr))
    assert pids == {str(p) for p in dask_lab.worker_pids()}  # both workers took shards
    jid = jid_of(run.stdout)
    assert set(blocks(run.stdout)) == {h.name for h in lab.hosts}
    ctl("poll", jid, "--wait", "--delay", "0.2", check_code=0)
    here = blocks(ctl("poll", jid, check_code=0).stdout)
    env = dict(ctl.env, CTL_CLUSTER=dask_lab.address)
    there = blocks(Ctl(env, ctl.home, ctl.inventory)("poll", jid, "--allow-insecure-cluster",
                                                     check_code=0).stdout)
    assert {h: (label, d["rc"], d["stdout"]) for h, (label, d) in there.items()} == \
        {h: (label, d["rc"], d["stdout"]) for h, (label, d) in here.items()}
    cleaned = ctl("cleanup", jid, *CLUSTER(dask_lab), check_code=0)
    assert all(d.get("erased") for _, d in blocks(cleaned.stdout).values())


@pytest.fixture(scope="module")
def hundred(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdLab]:
    if os.geteuid() != 0:
        pytest.skip("one Unix user per host (to count each host's processes): needs root")
    with running(tmp_path_factory.mktemp("lab100"), count=100, subnet="127.0.40",
                 user_prefix="ctlk") as lab:
        yield lab


def naps(lab: SshdLab) -> dict[str, str]:
    """Each host's own job: sleep 60.<n>, so every process on this machine names its host."""
    return {h.name: f"60.{i:03d}" for i, h in enumerate(lab.hosts, 1)}


def sleeping(lab: SshdLab) -> dict[str, list[str]]:
    """Each host's user's ``sleep`` processes (the hosts are this machine's sshds)."""
    out = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True).stdout
    users = {pwd.getpwnam(h.user).pw_uid: h.name for h in lab.hosts}
    found: dict[str, list[str]] = {h.name: [] for h in lab.hosts}
    for line in out.splitlines():
        uid, _, args = line.strip().partition(" ")
        if int(uid) in users and args.startswith("sleep "):
            found[users[int(uid)]].append(args)
    return found


def sleeper_pids(lab: SshdLab) -> list[int]:
    """The pids of the ``sleep`` processes of this lab's users."""
    uids = {pwd.getpwnam(h.user).pw_uid for h in lab.hosts}
    out = subprocess.run(["ps", "-eo", "pid=,uid=,args="], capture_output=True, text=True).stdout
    return [int(pid) for pid, uid, args in (line.split(None, 2) for line in out.splitlines())
            if int(uid) in uids and args.startswith("sleep ")]


def job_files(lab: SshdLab, jid: str) -> dict[str, list[str]]:
    return {h.name: [n for n in os.listdir(h.real_async_dir) if n == jid]
            if os.path.isdir(h.real_async_dir) else [] for h in lab.hosts}


def test_a_worker_killed_mid_launch_of_100_hosts_loses_none_and_doubles_none(
        hundred: SshdLab, dask_lab: DaskLab, tmp_path: Path) -> None:
    inv = hundred.write_inventory(tmp_path / "hosts.yml",
                                  extra={n: {"nap": v} for n, v in naps(hundred).items()})
    ctl = Ctl(dict(hundred.controller_env(tmp_path / "home"), PYTHONPATH=str(ROOT)),
              tmp_path / "home", inv)
    victim = dask_lab.worker_pids()[0]
    proc = ctl.popen("run", "all", "-i", str(inv), *CLUSTER(dask_lab), "-f", "3",
                     "-B", "120", "-P", "0", "-vv", "-a", "sleep {{ nap }}")
    deadline = time.monotonic() + 60
    while sum(bool(v) for v in sleeping(hundred).values()) < 15:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    try:
        assert proc.returncode == 0, err[-3000:]
        assert "(a re-run)" in err  # the dead worker's shard ran again elsewhere
        jid = jid_of(out)
        assert set(blocks(out)) == {h.name for h in hundred.hosts}
        assert job_files(hundred, jid) == {h.name: [jid] for h in hundred.hosts}
        assert sleeping(hundred) == {n: [f"sleep {v}"] for n, v in naps(hundred).items()}
    finally:
        for pid in sleeper_pids(hundred):  # the jobs this test started, by pid
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        dask_lab.wait_for_workers(2)


def test_a_become_password_goes_to_a_tls_cluster_and_not_to_a_tcp_one(
        ctl: Ctl, lab: SshdLab, dask_lab: DaskLab, tmp_path: Path) -> None:
    """Over tls:// the password and the key travel (the job runs, sudo refuses the wrong
    password: it arrived); over tcp:// ctl refuses before recording anything."""
    (tmp_path / "pw").write_text("not-the-password\n")
    become = ["-b", "--become-password-file", str(tmp_path / "pw")]
    inv = ["-i", str(ctl.inventory), "-l", "h1", "-B", "30", "-P", "0"]
    refused = ctl("run", *inv, "--cluster", dask_lab.address, *become, "--", "true",
                  check_code=5)
    assert "plain tcp://" in refused.stderr and "--allow-insecure-cluster" in refused.stderr
    assert "jid" not in ctl("jobs", "--json", check_code=0).stdout
    (tmp_path / "tls").mkdir()
    secure = DaskLab(tmp_path / "tls", workers=1, tls=make_tls(tmp_path / "tls")).start()
    try:
        env = {**ctl.env, **(secure.tls or {})}
        run = Ctl(env, ctl.home, ctl.inventory)("run", *inv, "--cluster", secure.address,
                                                 *become, "--", "true")
    finally:
        secure.stop()
    label, data = blocks(run.stdout)["h1"]
    assert label == "FAILED!" and data["msg"].startswith("become failed: sudo:"), run.stdout
