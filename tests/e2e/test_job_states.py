"""States Ansible gets wrong: lost jobs, unreadable job files, a wrong async dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.ctl import Ctl, blocks, jid_of
from tests.support.sshd_lab import SshdLab


def test_a_job_whose_processes_died_is_lost_not_running(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[0]
    run = ctl("run", "-i", str(ctl.inventory), "-l", host.name, "-B", "120", "-P", "0", "--",
              "sleep", "100", check_code=0)
    jid = jid_of(run.stdout)
    record = json.loads(lab.sh(host, f"cat {host.real_async_dir}/{jid}").stdout)
    pids = record["ctl"]["wrapper_pid"], record["ctl"]["job_pid"]
    assert lab.sh(host, f"kill -9 {pids[0]} {pids[1]}").returncode == 0  # as OOM would
    poll = ctl("poll", jid, check_code=2)
    label, data = blocks(poll.stdout)[host.name]
    assert label == "FAILED!" and data["lost"] is True and data["finished"] == 1
    assert f"wrapper (pid {pids[0]}) is gone" in data["msg"]
    ctl("cleanup", jid, check_code=0)  # a lost job may be cleaned up


@pytest.mark.parametrize("content", ["", '{"started": 1, "fini', "[1, 2]", "\x00\xff"])
def test_an_unreadable_job_file_is_reported_with_its_path(ctl: Ctl, lab: SshdLab,
                                                          content: str) -> None:
    host = lab.hosts[1]
    jid = "j999000111.42"
    path = f"{host.real_async_dir}/{jid}"
    lab.sh(host, f"mkdir -p {host.real_async_dir} && printf '%s' {json.dumps(content)} > {path}")
    before = lab.sh(host, f"md5sum {path}").stdout
    assert before
    poll = ctl("poll", jid, "-i", str(ctl.inventory), "-l", host.name, check_code=2)
    label, data = blocks(poll.stdout)[host.name]
    assert label == "FAILED!" and data["unreadable"] is True
    assert path in data["msg"] and data["finished"] == 1
    assert lab.sh(host, f"md5sum {path}").stdout == before  # poll never rewrites the file
    lab.sh(host, f"rm -f {path}")


def test_a_wrong_async_dir_gives_ansibles_could_not_find_job(ctl: Ctl, lab: SshdLab,
                                                             tmp_path: Path) -> None:
    run = ctl("run", "-i", str(ctl.inventory), "-l", "h3", "-B", "30", "-P", "0", "--", "true",
              check_code=0)
    jid = jid_of(run.stdout)
    wrong = lab.write_inventory(tmp_path / "wrong.yml", lab.hosts[2:3],
                                extra={"h3": {"ansible_async_dir": "/tmp/ctl-no-such-dir"}})
    poll = ctl("poll", jid, "-i", str(wrong), check_code=2)
    label, data = blocks(poll.stdout)["h3"]
    assert label == "FAILED!"
    assert data["msg"] == "could not find job" and data["started"] == 1 and \
        data["finished"] == 1 and data["ansible_job_id"] == jid
