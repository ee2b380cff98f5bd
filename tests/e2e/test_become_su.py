"""become_method su against real sshd hosts: su's password prompt is answered on a terminal,
the job runs as the become user with its files in THAT user's async dir, poll and cleanup
find them there, a wrong password fails the host at once, and the password never leaks."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_ansible_interop import ansible
from tests.support.ctl import Ctl, argv_holding, blocks, jid_of
from tests.support.sshd_lab import SshdLab, ensure_user

TARGET = "ctlsu"


@pytest.fixture(scope="module")
def su_setup(lab: SshdLab, tmp_path_factory: pytest.TempPathFactory):
    """TARGET has a Unix password (su asks for the target's own); h3 logs in as ctlt3."""
    assert os.geteuid() == 0 and not lab.external, "makes a user and sets its password: root"
    home = ensure_user(TARGET)
    secret = f"su-{uuid.uuid4().hex}"
    subprocess.run(["chpasswd"], input=f"{TARGET}:{secret}\n", text=True, check=True)
    pwfile = tmp_path_factory.mktemp("su") / "pw"
    pwfile.write_text(secret + "\n")
    yield secret, home, pwfile
    subprocess.run(["usermod", "-p", "*", TARGET], check=True)


def su(pwfile: Path | None = None) -> list[str]:
    words = ["-b", "--become-method", "su", "--become-user", TARGET]
    return words + (["--become-password-file", str(pwfile)] if pwfile else [])


def test_su_with_the_password_runs_as_the_become_user(ctl: Ctl, su_setup) -> None:
    secret, home, pwfile = su_setup
    proc = ctl.popen("run", "-i", str(ctl.inventory), "-l", "h3", "-B", "30", "-P", "1",
                     *su(pwfile), "--", "sh", "-c", "sleep 2; id -un")
    leaked = argv_holding(secret, 1.8)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert not leaked and secret not in out + err
    label, data = blocks(out)["h3"]
    assert label == "CHANGED" and data["stdout"] == TARGET, out
    assert data["results_file"].startswith(f"{home}/.ansible_async/")


def test_su_detached_job_is_polled_and_cleaned_as_the_become_user(
        ctl: Ctl, lab: SshdLab, su_setup, tmp_path: Path) -> None:
    """ansible_become_method: su in the inventory; poll and cleanup read it back from the
    registry and are given the password again."""
    secret, home, pwfile = su_setup
    inventory = lab.write_inventory(tmp_path / "su.yml", [lab.hosts[2]], extra={"h3": {
        "ansible_become": True, "ansible_become_method": "su", "ansible_become_user": TARGET}})
    start = ctl("run", "-i", str(inventory), "--become-password-file", str(pwfile), "-B", "30",
                "-P", "0", "--", "sh", "-c", "id -un; echo err >&2", check_code=0)
    jid = jid_of(start.stdout)
    job = Path(f"{home}/.ansible_async/{jid}")
    assert job.exists() and job.stat().st_uid == Path(home).stat().st_uid
    poll = ctl("poll", jid, "--wait", "--delay", "0.5", "--become-password-file", str(pwfile),
               check_code=0)
    data = blocks(poll.stdout)["h3"][1]
    assert (data["stdout"], data["stderr"]) == (TARGET, "err"), poll.stdout
    ctl("cleanup", jid, "--become-password-file", str(pwfile), check_code=0)
    assert not job.exists()
    db = (ctl.home / "ctl-state" / "registry.db").read_bytes()
    assert b'"become_method": "su"' in db and secret.encode() not in db


def test_su_with_a_wrong_password_fails_the_host_without_hanging(ctl: Ctl, su_setup,
                                                                  tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    began = time.monotonic()
    run = ctl("run", "-i", str(ctl.inventory), "-l", "h3:h4", "-B", "30", "-P", "1",
              *su(wrong), "--", "id", "-un", check_code=2, timeout=60)
    assert time.monotonic() - began < 30  # su's own failure delay is a few seconds
    seen = blocks(run.stdout)
    for host in ("h3", "h4"):
        label, data = seen[host]
        assert label == "FAILED!" and data["msg"] == "become failed: su: Authentication failure"
    assert "not-the-password" not in run.stdout + run.stderr


def test_su_without_a_password_says_none_was_given(ctl: Ctl, su_setup) -> None:
    run = ctl("run", "-i", str(ctl.inventory), "-l", "h3", "-B", "30", "-P", "0", *su(),
              "--", "true", check_code=2, timeout=60)
    label, data = blocks(run.stdout)["h3"]
    assert label == "FAILED!"
    assert data["msg"].startswith("become failed: su: Authentication failure; no become "
                                  "password was given"), data


def test_su_runs_as_the_user_ansible_su_runs_as(ctl: Ctl, lab: SshdLab, su_setup) -> None:
    """The same host, the same options: ansible's su plugin and ctl run the job as the same
    user, with its files in the same async dir. (ansible needs world-readable temp files to
    become an unprivileged user without ACLs; ctl pushes nothing through temp files.)"""
    secret, home, pwfile = su_setup
    args = ["h3", "-i", str(ctl.inventory), *su(pwfile), "-B", "30", "-P", "1", "-a", "id -un"]
    theirs = ansible(lab, ctl, *args, "-e", "ansible_shell_allow_world_readable_temp=1")
    ours = ctl("run", *args, check_code=0)
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    (_, their), (_, mine) = blocks(theirs.stdout)["h3"], blocks(ours.stdout)["h3"]
    assert their["stdout"] == mine["stdout"] == TARGET
    assert os.path.dirname(their["results_file"]) == os.path.dirname(mine["results_file"]) \
        == f"{home}/.ansible_async"


def test_su_on_the_local_connection(ctl: Ctl, su_setup, tmp_path: Path) -> None:
    """The local connection becomes through su too (on a terminal of the controller): the
    controller runs as root here, so su asks nothing."""
    secret, home, pwfile = su_setup
    inventory = tmp_path / "local.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"here": {
        "ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_become": True, "ansible_become_method": "su", "ansible_become_user": TARGET}}}}))
    run = ctl("run", "-i", str(inventory), "-B", "30", "-P", "1", "--", "id", "-un",
              check_code=0)
    label, data = blocks(run.stdout)["here"]
    assert data["stdout"] == TARGET and data["results_file"].startswith(f"{home}/.ansible_async/")
