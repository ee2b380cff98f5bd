"""On-disk compatibility with the real ansible-core: each reads the other's job files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ctl import Ctl, blocks, jid_of
from tests.support.sshd_lab import SshdLab

ANSIBLE = shutil.which("ansible", path=os.path.dirname(sys.executable)) or shutil.which("ansible")


def ansible(lab: SshdLab, ctl: Ctl, *args: str) -> subprocess.CompletedProcess[str]:
    if ANSIBLE is None:
        pytest.fail("ansible-core is a test dependency: pip install -e '.[test]'")
    env = dict(ctl.env, ANSIBLE_SSH_COMMON_ARGS=f"-o UserKnownHostsFile={lab.known_hosts}",
               ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="0", ANSIBLE_DEPRECATION_WARNINGS="0",
               LC_ALL="C.UTF-8")  # ansible-core refuses to run without a UTF-8 locale
    return subprocess.run([ANSIBLE, *args], env=env, capture_output=True, text=True,
                          timeout=180, cwd=Path(ctl.home))


def test_ansible_async_status_reads_a_ctl_job(ctl: Ctl, lab: SshdLab) -> None:
    run = ctl("run", "-i", str(ctl.inventory), "-l", "h1:h2", "-B", "60", "-P", "0", "--",
              "sh", "-c", "echo from ctl; echo warn >&2; exit 4", check_code=0)
    jid = jid_of(run.stdout)
    ctl("poll", jid, "--wait", "--delay", "0.5", check_code=2)
    out = ansible(lab, ctl, "h1:h2", "-i", str(ctl.inventory), "-m", "async_status",
                  "-a", f"jid={jid}")
    seen = blocks(out.stdout)
    assert sorted(seen) == ["h1", "h2"], out.stdout + out.stderr
    for _, data in seen.values():
        assert data["finished"] in (1, True)
        assert data["rc"] == 4 and data["stdout"] == "from ctl" and data["stderr"] == "warn"
        assert data["ansible_job_id"] == jid


def test_ansible_async_status_sees_a_running_ctl_job_as_running(ctl: Ctl, lab: SshdLab) -> None:
    run = ctl("run", "-i", str(ctl.inventory), "-l", "h3", "-B", "30", "-P", "0", "--",
              "sleep", "20", check_code=0)
    jid = jid_of(run.stdout)
    out = ansible(lab, ctl, "h3", "-i", str(ctl.inventory), "-m", "async_status",
                  "-a", f"jid={jid}")
    label, data = blocks(out.stdout)["h3"]
    assert data["started"] in (1, True) and data["finished"] in (0, False), out.stdout
    ctl("cleanup", jid)  # refused while running; the job ends by its -B
    lab.sh(lab.hosts[2], "pkill -u $(id -u) -x sleep; true")


def test_ctl_polls_and_cleans_a_job_started_by_ansible(ctl: Ctl, lab: SshdLab) -> None:
    started = ansible(lab, ctl, "h4", "-i", str(ctl.inventory), "-B", "60", "-P", "0",
                      "-a", "echo from ansible")
    label, data = blocks(started.stdout)["h4"]
    assert label == "CHANGED", started.stdout + started.stderr
    jid = data["ansible_job_id"]
    poll = ctl("poll", jid, "-i", str(ctl.inventory), "-l", "h4", "--wait", "--delay", "0.5",
               check_code=0)
    label, result = blocks(poll.stdout)["h4"]
    assert label == "CHANGED"
    assert result["finished"] == 1 and result["rc"] == 0 and result["stdout"] == "from ansible"
    clean = ctl("cleanup", jid, "-i", str(ctl.inventory), "-l", "h4", check_code=0)
    assert blocks(clean.stdout)["h4"][1]["erased"].endswith(f"/.ansible_async/{jid}") or \
        lab.hosts[3].async_dir is not None
