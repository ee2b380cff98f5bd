"""Full disks through real sshd: a host's async dir on a 1 MiB tmpfs, a job that prints 2 MB.
The job ends failed with the system's words in its record (or, when not even a record can
be written, in the poll's answer); nothing of it lingers; the other host does not notice; a
launch on the full filesystem fails at once, saying why."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.ctl import Ctl, blocks, jid_of
from tests.support.sshd_lab import LabHost, SshdLab, module_lab

PRINT_2MB = "/usr/bin/python3 -c 'import sys; sys.stdout.write(\"x\" * 2000000)'"


lab = module_lab(count=2, subnet="127.0.63", user_prefix="ctld")  # the ctl fixture's hosts


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 1 MiB tmpfs (root: the suite runs as root, as CI does); unmounted at the end."""
    assert os.geteuid() == 0, "mounting a tmpfs needs root (scripts/test.sh runs as root)"
    mount = Path(f"/tmp/ctl-small-{uuid.uuid4().hex[:8]}")
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", str(mount)],
                   check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)
        mount.rmdir()


def on_small_disk(lab: SshdLab, tmp_path: Path, disk: Path, *hosts: LabHost) -> Path:
    """An inventory of ``hosts``, the first with its async dir on ``disk``."""
    return lab.write_inventory(tmp_path / "disk.yml", list(hosts), extra={
        hosts[0].name: {"ansible_async_dir": str(disk / "jobs")}})


def final(ctl: Ctl, jid: str, within: float = 60) -> dict[str, tuple[str, dict]]:
    """Poll until every host is finished (bounded); each host's label and data."""
    deadline = time.monotonic() + within
    while True:
        out = blocks(ctl("poll", jid).stdout)
        if all(data.get("finished") == 1 for _, data in out.values()):
            return out
        assert time.monotonic() < deadline, out
        time.sleep(0.5)


def sleepers(lab: SshdLab, host: LabHost) -> str:
    """The pids of ``sleep 3011`` on the host (the [1] keeps pgrep's own shell out)."""
    return lab.sh(host, f"pgrep -u {host.user} -f 'sleep 301[1]' || true").stdout.strip()


def test_a_job_that_fills_the_disk_fails_with_the_systems_words_and_leaves_nothing(
        ctl: Ctl, lab: SshdLab, tmp_path: Path, small_disk: Path) -> None:
    full_host, other = lab.hosts
    inv = on_small_disk(lab, tmp_path, small_disk, full_host, other)
    # a child that would outlive the job (sleep 3011 &) must not linger once it ends
    job = f"sleep 3011 & sleep 1; {PRINT_2MB}"
    run = ctl("run", "-i", str(inv), "-B", "60", "-P", "0", "--shell", "--", job, check_code=0)
    jid = jid_of(run.stdout)
    started = time.monotonic()
    out = final(ctl, jid)
    label, data = out[full_host.name]
    assert label == "FAILED!" and data["finished"] == 1 and data["rc"] != 0
    assert "No space left on device" in data["msg"], data
    assert not data.get("lost")  # the record says why: not a bare "lost"
    assert time.monotonic() - started < 30  # no hang
    assert sleepers(lab, full_host) == ""  # nothing of the job lingers
    assert lab.sh(full_host, f"ls {small_disk}/jobs | grep -c tmp || true").stdout.strip() == "0"
    other_label, other_data = out[other.name]  # the other host did not notice
    assert other_label == "CHANGED" and other_data["rc"] == 0
    assert len(other_data["stdout"]) == 2000000
    assert sleepers(lab, other) != ""  # (a job that ends well may leave children, as before)
    lab.sh(other, "pkill -u $(id -u) -f 'sleep 301[1]'; true")
    # the filesystem is full now: a launch there fails at once, with the system's words
    again = ctl("run", "-i", str(inv), "-l", full_host.name, "-B", "30", "-P", "0", "--",
                "true", check_code=2)
    label, data = blocks(again.stdout)[full_host.name]
    assert label == "FAILED!" and "No space left on device" in data["msg"]
    assert "Traceback" not in again.stdout


def test_a_record_that_cannot_be_written_at_all_is_explained_by_the_poll(
        ctl: Ctl, lab: SshdLab, tmp_path: Path, small_disk: Path) -> None:
    """The filesystem turns read-only under a running job: its supervisor can write no
    record at all and ends; the poll finds the record saying running, its wrapper gone and
    the filesystem read-only, and says so instead of a bare "lost"."""
    host = lab.hosts[0]
    inv = on_small_disk(lab, tmp_path, small_disk, host)
    job = "exec >/dev/null 2>&1; sleep 3; echo never-seen"  # no output file held open
    run = ctl("run", "-i", str(inv), "-B", "60", "-P", "0", "--shell", "--", job, check_code=0)
    jid = jid_of(run.stdout)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        out = final(ctl, jid)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    label, data = out[host.name]
    assert label == "FAILED!" and data["lost"] is True
    assert data["msg"].endswith("the async dir's filesystem says: Read-only file system (the "
                                "job's record could not be written there)"), data["msg"]
    record = json.loads((small_disk / "jobs" / jid).read_text())
    assert record["started"] == 1  # the running record, as the supervisor left it


def test_a_first_contact_on_a_full_filesystem_says_the_wrapper_could_not_be_stored(
        ctl: Ctl, lab: SshdLab, tmp_path: Path, small_disk: Path) -> None:
    host = lab.hosts[0]
    inv = on_small_disk(lab, tmp_path, small_disk, host)
    subprocess.run(["sh", "-c", f"cat /dev/zero > {small_disk}/filler"], capture_output=True)
    run = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "--", "true", check_code=2)
    label, data = blocks(run.stdout)[host.name]
    assert label == "FAILED!"
    assert data["msg"] == (f"could not store ctl's wrapper in {small_disk}/jobs/.ctl: "
                           "[Errno 28] No space left on device"), data["msg"]
    assert [p.name for p in (small_disk / "jobs" / ".ctl").iterdir()] == []  # no half file
