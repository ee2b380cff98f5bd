"""Several operators (or cron jobs) at once on the same hosts and registry, through real
sshd: 8 ``ctl run`` started at the same moment on 40 fresh hosts (each pushes the wrapper
there) all succeed, and 4 simultaneous ``ctl poll`` of one job each answer every host."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from typing import Iterator

import pytest

from tests.support.ctl import Ctl, blocks, jid_of
from tests.support.sshd_lab import SshdLab, running_lab

HOSTS, RUNS, POLLS = 40, 8, 4


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdLab]:
    """40 hosts of this module's own (users ctlcN); the ``ctl`` fixture takes this lab."""
    with running_lab(tmp_path_factory.mktemp("crowd"), count=HOSTS, subnet="127.0.64",
                     user_prefix="ctlc") as lab:
        yield lab


def all_at_once(ctl: Ctl, argvs: list[list[str]], timeout: float = 300
                ) -> list[subprocess.CompletedProcess[str]]:
    procs = [ctl.popen(*argv) for argv in argvs]  # started together, before any is read
    done = []
    for argv, proc in zip(argvs, procs):
        out, err = proc.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(argv, proc.returncode, out, err))
    return done


def test_eight_runs_at_once_on_forty_hosts_and_four_polls_of_one_job(ctl: Ctl,
                                                                     lab: SshdLab) -> None:
    start = time.monotonic()
    runs = all_at_once(ctl, [["run", "-i", str(ctl.inventory), "-B", "60", "-P", "0",
                              "--", "sleep", "30"] for _ in range(RUNS)])
    took = time.monotonic() - start
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
        assert "database is locked" not in run.stderr
        assert len(blocks(run.stdout)) == HOSTS
        assert {label for label, _ in blocks(run.stdout).values()} == {"CHANGED"}
    jids = {jid_of(run.stdout) for run in runs}
    assert len(jids) == RUNS
    for host in lab.hosts:
        listing = lab.sh(host, f"ls {host.real_async_dir}").stdout.split()
        assert sorted(name for name in listing if name in jids) == sorted(jids), host.name
    db = sqlite3.connect(ctl.home / "ctl-state" / "registry.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM jobs").fetchone() == (RUNS,)
    assert db.execute("SELECT jid, state, count(*) FROM hosts GROUP BY jid, state"
                      ).fetchall() == sorted((jid, "started", HOSTS) for jid in jids)
    print(f"{RUNS} runs x {HOSTS} hosts at once: {took:.1f}s")
    one = sorted(jids)[0]
    polls = all_at_once(ctl, [["poll", one, "--all-hosts"] for _ in range(POLLS)])
    for poll in polls:
        assert poll.returncode == 0, poll.stderr[-3000:]
        assert "database is locked" not in poll.stderr
        answers = blocks(poll.stdout)
        assert sorted(answers) == sorted(h.name for h in lab.hosts)
        assert all(data["finished"] == 0 for _, data in answers.values())
    # the jobs end by themselves (sleep 30): 8 x 40 kills at once are not this test's subject
