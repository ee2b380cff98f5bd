"""Hostile and odd input, secrets and credentials: through the real CLI and real sshd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.support.ctl import ROOT, Ctl, argv_holding, blocks, jid_of
from tests.support.sshd_lab import SshdLab


def test_injection_through_inventory_values_and_host_names(ctl: Ctl, lab: SshdLab,
                                                           tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    host = lab.hosts[0]
    hv = host.inventory_vars(lab.key)
    evil_dir = f"/tmp/ctl-evil-{uuid.uuid4().hex[:6]} $(touch {marker}) `touch {marker}`;x"
    hv["ansible_async_dir"] = evil_dir
    name = "h1;touch " + str(marker) + " && ünï\u2603"
    inv = tmp_path / "evil.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {name: hv}}}, allow_unicode=True))
    run = ctl("run", "-i", str(inv), "-B", "30", "-P", "1", "--", "echo", "$(touch x)",
              check_code=0)
    label, data = blocks(run.stdout)[name]
    assert data["stdout"] == "$(touch x)"
    assert data["results_file"].startswith(evil_dir + "/")
    assert not marker.exists()
    assert lab.sh(host, f"test -d '{evil_dir}'").returncode == 0
    lab.sh(host, f"rm -rf '{evil_dir}'")


def test_every_byte_value_in_arguments_arrives_intact(ctl: Ctl, lab: SshdLab) -> None:
    raw = [bytes([b]) * 3 for b in range(1, 256)]
    args = [os.fsdecode(b) for b in raw]
    script = ("import sys, os; sys.stdout.write(repr([os.fsencode(a) for a in sys.argv[1:]]))")
    run = ctl("run", "-i", str(ctl.inventory), "-l", "h2", "-B", "30", "-P", "1", "--",
              "/usr/bin/python3", "-c", script, *args, check_code=0)
    assert blocks(run.stdout)["h2"][1]["stdout"] == repr(raw)


def test_output_edge_cases(ctl: Ctl, lab: SshdLab) -> None:
    cases = {"empty": "true", "no-newline": "printf 'abc'", "nul": "printf 'a\\000b\\n'",
             "cr": "printf 'one\\r\\ntwo\\r\\n'"}
    for label, script in cases.items():
        run = ctl("run", "-i", str(ctl.inventory), "-l", "h3", "-B", "30", "-P", "1",
                  "--shell", "--", script, check_code=0)
        data = blocks(run.stdout)["h3"][1]
        expected = {"empty": "", "no-newline": "abc", "nul": "a\x00b", "cr": "one\r\ntwo"}
        assert data["stdout"] == expected[label], label


HIGH_WATER = ("import atexit, sys\n"
              "def high_water():\n"
              "    for line in open('/proc/self/status'):\n"
              "        if line.startswith('VmHWM:'):\n"
              "            sys.stderr.write('CTL-HWM ' + line.split()[1] + '\\n')\n"
              "atexit.register(high_water)\n"
              "from controller.cli import main\n"
              "main(sys.argv[1:])\n")


def test_200_mib_of_output_keeps_controller_memory_bounded(ctl: Ctl, lab: SshdLab,
                                                           tmp_path: Path) -> None:
    job = ctl("run", "-i", str(ctl.inventory), "-l", "h4", "-B", "120", "-P", "0", "--shell",
              "--", "yes 0123456789abcdef | head -c 209715200; printf tail", check_code=0)
    jid = jid_of(job.stdout)
    data: dict = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and data.get("finished") != 1:
        data = blocks(ctl("poll", jid).stdout)["h4"][1]
        time.sleep(0.5)
    assert data["stdout_truncated"] is True and len(data["stdout"]) <= 4 * 1024 * 1024
    assert data["stdout"].endswith("0123tail")  # the record keeps the end of the output
    out_path = tmp_path / "logs.out"
    with open(out_path, "w") as out:
        # the peak of ctl's own memory (VmHWM at exit): wait4's ru_maxrss would also count
        # the pytest process it was forked from, as Linux records the old image's peak at exec
        proc = subprocess.run([sys.executable, "-c", HIGH_WATER, "logs", jid], cwd=ROOT,
                              env=ctl.env, stdout=out, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, proc.stderr
    [peak_kib] = [int(line.split()[1]) for line in proc.stderr.splitlines()
                  if line.startswith("CTL-HWM ")]
    full, rest = divmod(209715200, 17)  # 17-byte lines, then "0123" and "tail"
    assert rest == 4
    assert out_path.stat().st_size == full * len("h4 | 0123456789abcdef\n") + \
        len("h4 | 0123tail\n")
    peak_mib = peak_kib / 1024
    print(f"peak RSS of ctl logs over 200 MiB: {peak_mib:.0f} MiB")
    assert peak_mib < 150


@pytest.fixture
def password_lab(tmp_path_factory: pytest.TempPathFactory):
    if os.geteuid() != 0:
        pytest.skip("sets a Unix password: needs root (CI runs as root)")
    lab = SshdLab(tmp_path_factory.mktemp("pw"), count=1, subnet="127.0.80",
                  user_prefix="ctlpw", extra_config="PasswordAuthentication yes").start()
    yield lab
    lab.stop()


def test_password_never_appears_in_argv_files_registry_or_logs(password_lab: SshdLab, ctl: Ctl,
                                                                tmp_path: Path) -> None:
    host = password_lab.hosts[0]
    secret = f"pw-{uuid.uuid4().hex}"
    subprocess.run(["chpasswd"], input=f"{host.user}:{secret}\n", text=True, check=True)
    inv = tmp_path / "pw.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"pwhost": {
        "ansible_host": host.address, "ansible_port": host.port, "ansible_user": host.user,
        "ansible_password": secret}}}}))
    (ctl.home / ".ssh" / "known_hosts").write_text(password_lab.known_hosts.read_text())
    proc = ctl.popen("run", "-i", str(inv), "-B", "30", "-P", "1", "-vvv", "--", "sleep", "3")
    seen_in_argv = argv_holding(secret, 2.5)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert blocks(out)["pwhost"][0] == "CHANGED"
    assert not seen_in_argv
    assert secret not in out and secret not in err
    assert "plain text" in err  # the warning that the password sits in a file
    db = (ctl.home / "ctl-state" / "registry.db").read_bytes()
    assert secret.encode() not in db
    jid = jid_of(out)
    listing = subprocess.run(["sh", "-c", f"cat {host.home}/.ansible_async/* 2>/dev/null"],
                             capture_output=True)
    assert secret.encode() not in listing.stdout
    again = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "--", "true", check_code=0)
    poll = ctl("poll", jid_of(again.stdout), "--all-hosts", check_code=0)  # from the registry
    assert blocks(poll.stdout)["pwhost"][0] in ("CHANGED", "SUCCESS")
    assert jid


def test_wrong_key_unknown_user_and_changed_host_key(ctl: Ctl, lab: SshdLab,
                                                     tmp_path: Path) -> None:
    other_key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)],
                   check=True)
    h1, h2 = lab.hosts[0], lab.hosts[1]
    inv = lab.write_inventory(tmp_path / "bad.yml", [h1, h2], extra={
        "h1": {"ansible_ssh_private_key_file": str(other_key)},
        "h2": {"ansible_user": "nosuchuser"}})
    run = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "--", "true", check_code=4)
    out = blocks(run.stdout)
    assert "permission denied" in out["h1"][1]["msg"] and str(other_key) in out["h1"][1]["msg"]
    assert "permission denied for nosuchuser@" in out["h2"][1]["msg"]
    # a host key that changed: the message carries the ssh-keygen -R line that fixes it
    fake = tmp_path / "fake_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fake)], check=True)
    pub = fake.with_suffix(".pub").read_text().split()
    (ctl.home / ".ssh" / "known_hosts").write_text(
        f"[{h1.address}]:{h1.port} {pub[0]} {pub[1]}\n")
    changed = ctl("run", "-i", str(ctl.inventory), "-l", "h1", "-B", "30", "-P", "0", "--",
                  "true", check_code=4)
    msg = blocks(changed.stdout)["h1"][1]["msg"]
    assert f"ssh-keygen -R '[{h1.address}]:{h1.port}'" in msg


def test_full_disk_is_a_clear_failure_and_leaves_no_half_written_file(ctl: Ctl, lab: SshdLab,
                                                                       tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    host = lab.hosts[4]
    mount = Path(f"/tmp/ctl-full-{uuid.uuid4().hex[:6]}")
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0777", "tmpfs", str(mount)],
                   check=True)
    try:
        adir = mount / "jobs"
        inv = lab.write_inventory(tmp_path / "full.yml", [host],
                                  extra={host.name: {"ansible_async_dir": str(adir)}})
        ok = ctl("run", "-i", str(inv), "-B", "30", "-P", "1", "--", "true", check_code=0)
        assert blocks(ok.stdout)[host.name][0] == "CHANGED"  # the wrapper fits; now fill it
        subprocess.run(["sh", "-c", f"cat /dev/zero > {mount}/filler"], capture_output=True)
        full = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "--", "true", check_code=2)
        label, data = blocks(full.stdout)[host.name]
        assert label == "FAILED!" and "No space left on device" in data["msg"]
        leftovers = [p.name for p in adir.iterdir() if p.name.endswith(".tmp")]
        assert leftovers == []
        jid = json.loads(ctl("jobs", "--json").stdout.splitlines()[0])["jid"]
        poll = ctl("poll", jid, check_code=2)  # truthful afterwards, from the registry
        assert blocks(poll.stdout)[host.name][1]["msg"] == \
            "the job was never started on this host: the launch failed"
    finally:
        subprocess.run(["umount", str(mount)])
        mount.rmdir()


def test_host_key_checking_can_be_turned_off_per_host_only(ctl: Ctl, lab: SshdLab,
                                                           tmp_path: Path) -> None:
    (ctl.home / ".ssh" / "known_hosts").write_text("")  # no host is known
    inv = lab.write_inventory(tmp_path / "hk.yml", lab.hosts[:2],
                              extra={"h1": {"ansible_host_key_checking": False}})
    run = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "--", "true", check_code=4)
    out = blocks(run.stdout)
    assert out["h1"][0] == "CHANGED"  # turned off for h1 alone, in its inventory entry
    assert out["h2"][0] == "UNREACHABLE!" and "host key" in out["h2"][1]["msg"]
