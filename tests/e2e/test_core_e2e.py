"""ctl run / poll / cleanup end to end: the real CLI against real sshd hosts."""

from __future__ import annotations

import json
import signal
import sqlite3
import time

from controller import payload
from tests.support.ctl import Ctl, blocks, jid_of
from tests.support.sshd_lab import SshdLab

INV = "-i"


def test_run_detached_poll_and_cleanup_on_every_host(ctl: Ctl, lab: SshdLab) -> None:
    run = ctl("run", INV, str(ctl.inventory), "-B", "60", "-P", "0", "--",
              "sh", "-c", "sleep 1; echo done on $(id -un)", check_code=0)
    out = blocks(run.stdout)
    jid = jid_of(run.stdout)
    assert sorted(out) == sorted(h.name for h in lab.hosts)
    for host in lab.hosts:
        label, data = out[host.name]
        assert label == "CHANGED"
        assert data == {"ansible_job_id": jid, "changed": True, "finished": 0, "started": 1,
                        "results_file": f"{host.real_async_dir}/{jid}"}
    assert f"ctl poll {jid} --all-hosts" in run.stderr

    poll = ctl("poll", jid, "--all-hosts", "--wait", "--delay", "0.5", check_code=0)
    for host in lab.hosts:
        label, data = blocks(poll.stdout)[host.name]
        assert label == "CHANGED"
        assert data["finished"] == 1 and data["rc"] == 0
        assert data["stdout"] == f"done on {host.user}"
        assert data["stdout_lines"] == [f"done on {host.user}"]
        assert data["cmd"] == ["sh", "-c", "sleep 1; echo done on $(id -un)"]
        assert {"start", "end", "delta", "stderr", "stderr_lines", "msg"} <= set(data)

    clean = ctl("cleanup", jid, check_code=0)
    for host in lab.hosts:
        assert blocks(clean.stdout)[host.name][1]["erased"] == f"{host.real_async_dir}/{jid}"
        assert lab.sh(host, f"ls {host.real_async_dir}/{jid}*").returncode != 0
    after = ctl("poll", jid, "--all-hosts", check_code=2)
    assert all("erased by ctl cleanup" in d["msg"] for _, d in blocks(after.stdout).values())


def test_job_files_are_private_and_follow_ansible_contract(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[0]
    run = ctl("run", INV, str(ctl.inventory), "-l", host.name, "-B", "60", "-P", "0", "--",
              "sleep", "30", check_code=0)
    jid = jid_of(run.stdout)
    path = f"{host.real_async_dir}/{jid}"
    modes = lab.sh(host, f"stat -c '%a %n' {host.real_async_dir} {path} {path}.stdout")
    assert modes.stdout.split() == ["700", host.real_async_dir, "600", path, "600",
                                    f"{path}.stdout"]
    record = json.loads(lab.sh(host, f"cat {path}").stdout)
    assert record["started"] == 1 and record["finished"] == 0
    assert record["ansible_job_id"] == jid
    poll = ctl("poll", jid, check_code=0)
    label, data = blocks(poll.stdout)[host.name]
    assert label == "SUCCESS" and data["started"] == 1 and data["finished"] == 0
    refused = ctl("cleanup", jid, check_code=2)
    assert "still running" in blocks(refused.stdout)[host.name][1]["msg"]
    assert lab.sh(host, f"test -f {path}").returncode == 0
    lab.sh(host, "pkill -u $(id -u) -x sleep; true")


def test_poll_interval_prints_async_lines_and_erases_finished_jobs(ctl: Ctl, lab: SshdLab
                                                                   ) -> None:
    hosts = lab.hosts[:2]
    run = ctl("run", INV, str(ctl.inventory), "-l", "h1:h2", "-B", "30", "-P", "1", "--",
              "sh", "-c", "sleep 2.5; echo finished", check_code=0)
    final = blocks(run.stdout)
    jid = final[hosts[0].name][1]["ansible_job_id"]
    for host in hosts:
        assert f"ASYNC POLL on {host.name}: jid={jid} started=1 finished=0" in run.stdout
        assert f"ASYNC OK on {host.name}: jid={jid}" in run.stdout
        label, data = final[host.name]
        assert label == "CHANGED" and data["rc"] == 0 and data["stdout"] == "finished"
        assert lab.sh(host, f"test -e {host.real_async_dir}/{jid}").returncode == 1


def test_timeout_under_poll_fails_with_ansibles_message_and_kills_the_job(ctl: Ctl,
                                                                          lab: SshdLab) -> None:
    host = lab.hosts[1]
    marker = f"ctl-timeout-{time.time_ns()}"
    run = ctl("run", INV, str(ctl.inventory), "-l", host.name, "-B", "2", "-P", "1",
              "--shell", "--", f"trap '' TERM; sleep 60 # {marker}", check_code=2)
    label, data = blocks(run.stdout)[host.name]
    assert label == "FAILED!"
    assert data["msg"] == "async task did not complete within the requested time - 2s"
    assert "ASYNC FAILED on" in run.stdout
    assert gone(lab, host, marker)  # it ignored SIGTERM, and died all the same


def gone(lab: SshdLab, host, marker: str, within: float = 15) -> bool:
    """True once no process on the host has ``marker`` in its command line."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if lab.sh(host, f"pgrep -f '[{marker[0]}]{marker[1:]}'").returncode == 1:
            return True
        time.sleep(0.2)
    return False


def test_timeout_record_is_read_by_poll_after_detached_run(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[2]
    run = ctl("run", INV, str(ctl.inventory), "-l", host.name, "-B", "1", "-P", "0", "--",
              "sleep", "30", check_code=0)
    jid = jid_of(run.stdout)
    poll = ctl("poll", jid, "--wait", "--delay", "0.5", "--retries", "20", check_code=2)
    label, data = blocks(poll.stdout)[host.name]
    assert label == "FAILED!" and data["msg"] == "Timeout exceeded" and data["finished"] == 1
    assert data["child_pid"] > 0


def test_arguments_arrive_intact_without_a_shell(ctl: Ctl, lab: SshdLab) -> None:
    args = ["a b", "'single'", '"double"', "$HOME", "`id`", "ünïcødé ✓", "x;y|z&", "*", ""]
    run = ctl("run", INV, str(ctl.inventory), "-l", "h1", "-B", "30", "-P", "1", "--",
              "/usr/bin/python3", "-c", "import sys, json; print(json.dumps(sys.argv[1:]))",
              *args, check_code=0)
    data = blocks(run.stdout)["h1"][1]
    assert json.loads(data["stdout"]) == args


def test_shell_mode_runs_under_sh(ctl: Ctl, lab: SshdLab) -> None:
    run = ctl("run", INV, str(ctl.inventory), "-l", "h2", "-B", "30", "-P", "1", "--shell",
              "--", "echo $((40 + 2)) | tr 4 X; exit 3", check_code=2)
    label, data = blocks(run.stdout)["h2"]
    assert label == "FAILED!" and data["rc"] == 3 and data["stdout"] == "X2"
    assert data["msg"] == "non-zero return code" and data["cmd"] == \
        "echo $((40 + 2)) | tr 4 X; exit 3"


def test_binary_and_unicode_output_is_decoded_with_replacement(ctl: Ctl, lab: SshdLab) -> None:
    script = "import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe \\xc3\\xa9'); " \
             "sys.stderr.write('\\u2713 err\\n')"
    run = ctl("run", INV, str(ctl.inventory), "-l", "h3", "-B", "30", "-P", "1", "--",
              "/usr/bin/python3", "-c", script, check_code=0)
    data = blocks(run.stdout)["h3"][1]
    assert data["stdout"] == "ok \ufffd\ufffd é"
    assert data["stderr"] == "✓ err"


def test_job_keeps_running_after_the_controller_is_killed(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[3]
    proc = ctl.popen("run", INV, str(ctl.inventory), "-l", host.name, "-B", "60", "-P", "30",
                     "--", "sh", "-c", "sleep 3; echo survived")
    db = ctl.home / "ctl-state" / "registry.db"
    deadline = time.monotonic() + 30
    jid = None
    while jid is None and time.monotonic() < deadline:
        if db.exists():
            try:
                rows = sqlite3.connect(db).execute(
                    "SELECT jid FROM hosts WHERE state='started'").fetchall()
            except sqlite3.OperationalError:  # created, schema not written yet
                rows = []
            jid = rows[0][0] if rows else None
        time.sleep(0.05)
    assert jid is not None, "the launch was never recorded"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    poll = ctl("poll", jid, "--all-hosts", "--wait", "--delay", "1", "--retries", "15",
               check_code=0)
    label, data = blocks(poll.stdout)[host.name]
    assert label == "CHANGED" and data["stdout"] == "survived"


def test_unreachable_host_and_missing_python_cost_only_that_host(ctl: Ctl, lab: SshdLab,
                                                                 tmp_path) -> None:
    inv = lab.write_inventory(tmp_path / "mixed.yml", lab.hosts[:2],
                              extra={"h2": {"ansible_python_interpreter": "/no/such/python3"}})
    text = inv.read_text() + (
        "    dead:\n      ansible_host: 127.0.10.250\n      ansible_port: 1\n")
    inv.write_text(text)
    run = ctl("run", INV, str(inv), "-B", "30", "-P", "0", "-T", "5", "--", "true",
              check_code=4)
    out = blocks(run.stdout)
    assert out["h1"][0] == "CHANGED"
    assert out["h2"][0] == "FAILED!" and "no Python on the host" in out["h2"][1]["msg"]
    assert out["dead"][0] == "UNREACHABLE!" and out["dead"][1]["unreachable"] is True
    assert "Failed to connect to the host via ssh" in out["dead"][1]["msg"]
    jid = out["h1"][1]["ansible_job_id"]
    poll = ctl("poll", jid, "-T", "5")
    assert poll.returncode == 4
    polled = blocks(poll.stdout)
    assert polled["h1"][0] == "CHANGED" and polled["dead"][0] == "UNREACHABLE!"
    # a status read needs no Python (a shell read): the registry says why there is no job
    assert polled["h2"][0] == "FAILED!"
    assert polled["h2"][1]["msg"] == "the job was never started on this host: the launch failed"


def test_host_keys_are_checked_unless_turned_off(ctl: Ctl, lab: SshdLab) -> None:
    (ctl.home / ".ssh" / "known_hosts").write_text("")
    run = ctl("run", INV, str(ctl.inventory), "-l", "h1", "-B", "30", "-P", "0", "--", "true",
              check_code=4)
    assert "host key" in blocks(run.stdout)["h1"][1]["msg"]
    off = ctl("run", INV, str(ctl.inventory), "-l", "h1", "-B", "30", "-P", "0",
              "--no-host-key-checking", "--", "true", check_code=0)
    assert "host key checking is OFF" in off.stderr


def test_wrapper_is_pushed_once_and_a_tampered_copy_is_replaced(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[4]
    ctl("run", INV, str(ctl.inventory), "-l", host.name, "-B", "30", "-P", "1", "--", "true",
        check_code=0)
    store = f"{host.real_async_dir}/.ctl"
    wrapper = f"{store}/wrapper-{payload.wrapper_sha256()}.py"
    assert lab.sh(host, f"sha256sum {wrapper}").stdout.split()[0] == payload.wrapper_sha256()
    marker = f"{host.real_async_dir}/tampered-ran"
    lab.sh(host, f"echo 'open(\"{marker}\", \"w\")' > {wrapper}; "
                 f"echo old > {store}/wrapper-0000.py")
    run = ctl("run", INV, str(ctl.inventory), "-l", host.name, "-B", "30", "-P", "1", "--",
              "echo", "fine", check_code=0)
    assert blocks(run.stdout)[host.name][1]["stdout"] == "fine"
    assert lab.sh(host, f"test -e {marker}").returncode == 1  # the tampered copy never ran
    assert lab.sh(host, f"sha256sum {wrapper}").stdout.split()[0] == payload.wrapper_sha256()
    stored = lab.sh(host, f"ls {store}").stdout.split()  # the wrapper and its compiled code
    assert [n for n in stored if not n.endswith(".code")] == [wrapper.rsplit("/", 1)[1]]
    assert all(n.startswith(wrapper.rsplit("/", 1)[1][:-3]) for n in stored)
