"""Become (sudo) against real sshd hosts: the job runs as the become user, its files live in
THAT user's async dir, poll and cleanup find them there, and the password never leaks."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.ctl import Ctl, argv_holding, blocks, jid_of
from tests.support.sshd_lab import SshdLab, ensure_user

TARGET = "ctlbecome"


@pytest.fixture(scope="module")
def sudo_setup(lab: SshdLab):
    """h1's user may become TARGET with its password; h2's user without one."""
    if os.geteuid() != 0 or lab.external:
        pytest.skip("configures sudo and Unix passwords: needs root (CI runs as root)")
    home = ensure_user(TARGET)
    secret = f"sudo-{uuid.uuid4().hex}"
    h1, h2 = lab.hosts[0], lab.hosts[1]
    subprocess.run(["chpasswd"], input=f"{h1.user}:{secret}\n", text=True, check=True)
    rules = Path("/etc/sudoers.d/ctl-test")
    rules.write_text(f"{h1.user} ALL=({TARGET}) ALL\n{h2.user} ALL=({TARGET}) NOPASSWD: ALL\n")
    rules.chmod(0o440)
    subprocess.run(["visudo", "-c", "-f", str(rules)], check=True, capture_output=True)
    yield secret, home
    rules.unlink()


def test_become_with_a_password_runs_as_the_become_user(ctl: Ctl, lab: SshdLab, sudo_setup,
                                                        tmp_path: Path) -> None:
    secret, home = sudo_setup
    pwfile = tmp_path / "pw"
    pwfile.write_text(secret + "\n")
    become = ["-b", "--become-user", TARGET, "--become-password-file", str(pwfile)]
    proc = ctl.popen("run", "-i", str(ctl.inventory), "-l", "h1", "-B", "30", "-P", "1",
                     *become, "--", "sh", "-c", "sleep 2; id -un")
    leaked = argv_holding(secret, 1.8)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert not leaked and secret not in out + err
    label, data = blocks(out)["h1"]
    assert data["stdout"] == TARGET
    assert data["results_file"].startswith(f"{home}/.ansible_async/")
    # detached: poll and cleanup find the job in the become user's async dir
    start = ctl("run", "-i", str(ctl.inventory), "-l", "h1", "-B", "30", "-P", "0", *become,
                "--", "id", "-un", check_code=0)
    jid = jid_of(start.stdout)
    assert Path(f"{home}/.ansible_async/{jid}").exists()
    poll = ctl("poll", jid, "--wait", "--delay", "0.5", "--become-password-file", str(pwfile),
               check_code=0)
    assert blocks(poll.stdout)["h1"][1]["stdout"] == TARGET
    ctl("cleanup", jid, "--become-password-file", str(pwfile), check_code=0)
    assert not Path(f"{home}/.ansible_async/{jid}").exists()
    db = (ctl.home / "ctl-state" / "registry.db").read_bytes()
    assert secret.encode() not in db


def test_become_without_the_password_fails_clearly(ctl: Ctl, lab: SshdLab, sudo_setup) -> None:
    run = ctl("run", "-i", str(ctl.inventory), "-l", "h1", "-B", "30", "-P", "0", "-b",
              "--become-user", TARGET, "--", "true", check_code=2)
    label, data = blocks(run.stdout)["h1"]
    assert label == "FAILED!" and data["msg"].startswith("become failed: sudo:")


def test_become_with_nopasswd_sudo(ctl: Ctl, lab: SshdLab, sudo_setup) -> None:
    run = ctl("run", "-i", str(ctl.inventory), "-l", "h2", "-B", "30", "-P", "1", "-b",
              "--become-user", TARGET, "--", "id", "-un", check_code=0)
    assert blocks(run.stdout)["h2"][1]["stdout"] == TARGET
