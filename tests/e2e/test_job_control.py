"""Kill, live output, garbage collection, the job list: real CLI, real sshd hosts."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.test_ansible_interop import ansible
from tests.e2e.test_core_e2e import gone
from tests.support.ctl import Ctl, blocks, jid_of
from tests.support.sshd_lab import SshdLab


def start(ctl: Ctl, limit: str, *command: str, shell: bool = False, extra: tuple = ()) -> str:
    args = ["run", "-i", str(ctl.inventory), "-l", limit, "-B", "120", "-P", "0", *extra]
    if shell:
        args.append("--shell")
    run = ctl(*args, "--", *command, check_code=0)
    return jid_of(run.stdout)


def wait_for(predicate, within: float = 20) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_kill_stops_stubborn_jobs_and_their_escaped_children(ctl: Ctl, lab: SshdLab) -> None:
    marker = f"ctlkill{time.time_ns()}"
    script = (f"trap '' TERM; setsid sh -c \"trap '' TERM; sleep 300 # {marker}\" & "
              f"echo started; sleep 300 # {marker}")
    jid = start(ctl, "h1:h2:h3", script, shell=True)
    hosts = lab.hosts[:3]
    assert wait_for(lambda: all(
        lab.sh(h, f"pgrep -u $(id -u) -f '[{marker[0]}]{marker[1:]}' | wc -l").stdout.strip() == "2"
        for h in hosts))
    killed = ctl("kill", jid, "--grace", "1", check_code=0)
    for host in hosts:
        label, data = blocks(killed.stdout)[host.name]
        assert label == "CHANGED" and data["killed"] is True and data["signal"] == "SIGKILL"
        assert data["finished"] == 1 and data["stdout"] == "started" and data["rc"] == -9
        assert gone(lab, host, marker, within=5)
        record = json.loads(lab.sh(host, f"cat {host.real_async_dir}/{jid}").stdout)
        assert "started" not in record and record["killed"] is True
    again = ctl("kill", jid, check_code=0)
    assert all("already finished" in d["msg"] for _, d in blocks(again.stdout).values())
    status = ansible(lab, ctl, "h1", "-i", str(ctl.inventory), "-m", "async_status",
                     "-a", f"jid={jid}")
    assert blocks(status.stdout)["h1"][1]["finished"] in (1, True)
    assert blocks(status.stdout)["h1"][1]["killed"] is True


def test_kill_with_a_catchable_signal_ends_within_the_grace(ctl: Ctl, lab: SshdLab) -> None:
    jid = start(ctl, "h4", "sleep", "300")
    killed = ctl("kill", jid, "--signal", "INT", check_code=0)
    label, data = blocks(killed.stdout)["h4"]
    assert data["signal"] == "SIGINT" and data["rc"] == -2


def test_logs_follow_streams_every_host_until_the_jobs_end(ctl: Ctl, lab: SshdLab) -> None:
    script = "for i in 1 2 3 4 5; do echo out $i; echo err $i >&2; sleep 0.4; done; printf end"
    jid = start(ctl, "h1:h2:h3", script, shell=True)
    follow = ctl("logs", jid, "--follow", check_code=0)
    for host in lab.hosts[:3]:
        out = [line for line in follow.stdout.splitlines() if line.startswith(f"{host.name} | ")]
        err = [line for line in follow.stderr.splitlines() if line.startswith(f"{host.name} | ")]
        assert out == [f"{host.name} | out {i}" for i in range(1, 6)] + [f"{host.name} | end"]
        assert err == [f"{host.name} | err {i}" for i in range(1, 6)]
    one = ctl("logs", jid, "h2", check_code=0)
    assert {line.split(" | ")[0] for line in one.stdout.splitlines()} == {"h2"}


def test_poll_shows_the_last_lines_of_a_running_job(ctl: Ctl, lab: SshdLab) -> None:
    jid = start(ctl, "h5", "for i in 1 2 3 4 5 6 7; do echo n$i; done; sleep 30", shell=True)
    assert wait_for(lambda: "n7" in ctl("poll", jid).stdout)
    label, data = blocks(ctl("poll", jid, "--tail", "3").stdout)["h5"]
    assert label == "SUCCESS" and data["finished"] == 0
    assert data["stdout_tail"] == ["n5", "n6", "n7"]
    ctl("kill", jid, check_code=0)


def test_output_cap_truncates_the_record_but_logs_keep_everything(ctl: Ctl, lab: SshdLab
                                                                  ) -> None:
    run = ctl("run", "-i", str(ctl.inventory), "-l", "h1", "-B", "60", "-P", "1",
              "--output-cap", "1k", "--", "seq", "1", "20000", check_code=0)
    label, data = blocks(run.stdout)["h1"]
    assert data["stdout_truncated"] is True and len(data["stdout"]) <= 1024
    assert data["stdout_lines"][-1] == "20000"
    jid = data["ansible_job_id"]
    jid2 = start(ctl, "h1", "seq", "1", "20000", extra=("--output-cap", "1k"))
    assert wait_for(lambda: blocks(ctl("poll", jid2).stdout)["h1"][1]["finished"] == 1)
    logs = ctl("logs", jid2, check_code=0)
    assert logs.stdout.splitlines() == [f"h1 | {i}" for i in range(1, 20001)]
    assert jid != jid2


def test_cleanup_refuses_a_running_job_unless_kill(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[1]
    jid = start(ctl, host.name, "sleep", "300")
    ctl("cleanup", jid, check_code=2)
    assert lab.sh(host, f"test -f {host.real_async_dir}/{jid}").returncode == 0
    clean = ctl("cleanup", jid, "--kill", "--grace", "1", check_code=0)
    assert blocks(clean.stdout)[host.name][1]["erased"] == f"{host.real_async_dir}/{jid}"
    assert lab.sh(host, f"ls {host.real_async_dir}/{jid}*").returncode != 0


def test_a_job_erased_while_running_does_not_come_back(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[2]
    jid = start(ctl, host.name, "sleep", "1.5")
    lab.sh(host, f"rm {host.real_async_dir}/{jid}")  # what Ansible's cleanup mode does
    time.sleep(2.5)
    assert lab.sh(host, f"ls {host.real_async_dir}/{jid}*").returncode != 0


def test_cleanup_older_than_erases_old_finished_jobs_only(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[3]
    adir = host.real_async_dir
    old = start(ctl, host.name, "true")
    recent = start(ctl, host.name, "true")
    running = start(ctl, host.name, "sleep", "300")
    ansible_job = "j123123123.77"
    lab.sh(host, f"echo '{{\"rc\": 0, \"changed\": true}}' > {adir}/{ansible_job}")
    lab.sh(host, f"sleep 0.5; touch -d '10 days ago' {adir}/{old} {adir}/{ansible_job} "
                 f"{adir}/{running}")
    gc = ctl("cleanup", "--older-than", "7d", "-i", str(ctl.inventory), "-l", host.name,
             check_code=0)
    data = blocks(gc.stdout)[host.name][1]
    assert sorted(data["erased"]) == sorted([f"{adir}/{old}", f"{adir}/{ansible_job}"])
    assert data["kept_running"] >= 1
    remaining = lab.sh(host, f"ls {adir}").stdout.split()
    assert recent in remaining and running in remaining and old not in remaining
    ctl("kill", running, check_code=0)


def test_cleanup_after_lets_the_host_erase_the_job_by_itself(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[4]
    jid = start(ctl, host.name, "echo", "bye", extra=("--cleanup-after", "2s"))
    path = f"{host.real_async_dir}/{jid}"
    assert wait_for(lambda: '"rc": 0' in lab.sh(host, f"cat {path}").stdout, within=10)
    assert wait_for(lambda: lab.sh(host, f"ls {path}*").returncode != 0, within=15)


def test_jobs_and_show_list_the_registry(ctl: Ctl, lab: SshdLab) -> None:
    jid = start(ctl, "h1:h2", "true")
    time.sleep(0.5)
    listing = [json.loads(line) for line in ctl("jobs", "--json", "--refresh").stdout.splitlines()]
    assert listing[0]["jid"] == jid and listing[0]["hosts"]["ok"] == 2
    show = ctl("show", jid, check_code=0)
    assert "h1" in show.stdout and "h2" in show.stdout and jid in show.stdout
    ctl("cleanup", jid, check_code=0)
    assert jid not in ctl("jobs").stdout
    assert jid in ctl("jobs", "--all").stdout
    after = [json.loads(line) for line in ctl("jobs", "--all", "--json").stdout.splitlines()]
    counts = next(j["hosts"] for j in after if j["jid"] == jid)
    assert counts["erased"] == 2 and counts["running"] == 0


def test_bad_input_for_job_control(ctl: Ctl, lab: SshdLab) -> None:
    jid = start(ctl, "h3", "sleep", "300")
    for args in (["kill", "j1.1"], ["kill", "../../x"], ["kill", jid, "-l", "nosuchhost"],
                 ["kill", jid, "--signal", "NOPE"], ["logs", "j1.2"],
                 ["cleanup", "--older-than", "soon", "-i", str(ctl.inventory)], ["show", "j9.9"],
                 ["cleanup"]):
        proc = ctl(*args)
        assert proc.returncode == 5, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "ctl: error:" in proc.stderr
    label, data = blocks(ctl("poll", jid).stdout)["h3"]
    assert data["finished"] == 0  # nothing was touched
    ctl("kill", jid, check_code=0)


def test_registry_accounts_for_every_host_when_ctl_is_killed_mid_launch(ctl: Ctl,
                                                                         lab: SshdLab) -> None:
    """kill -9 of ctl in the middle of a launch (one host at a time, -f 1): afterwards every
    host of the run is in the registry and poll says truthfully where the job runs."""
    import os
    import signal
    import sqlite3
    if lab.external:
        pytest.skip("reads the first host's async dir directly (a local lab host)")
    proc = ctl.popen("run", "-i", str(ctl.inventory), "-f", "1", "-B", "60", "-P", "0", "--",
                     "sleep", "30")
    db = ctl.home / "ctl-state" / "registry.db"
    states: list[str] = []
    jid = None
    first = lab.hosts[0]  # -f 1: hosts are launched one at a time, in inventory order
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if jid is None and db.exists():
            try:
                row = sqlite3.connect(db).execute("SELECT jid FROM jobs").fetchone()
                states = [r[0] for r in sqlite3.connect(db).execute("SELECT state FROM hosts")]
            except sqlite3.OperationalError:
                row = None
            jid = row[0] if row else None
        if jid and os.path.exists(f"{first.real_async_dir}/{jid}"):
            break  # the first host's job exists: kill ctl now, mid-launch
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert jid is not None
    assert len(states) == len(lab.hosts)  # every host recorded before any was contacted
    poll = ctl("poll", jid, "--all-hosts")
    out = blocks(poll.stdout)
    assert sorted(out) == sorted(h.name for h in lab.hosts)
    running = [h for h, (_, d) in out.items() if d.get("finished") == 0]
    never = [h for h, (_, d) in out.items() if "never started" in d.get("msg", "")]
    assert running and never and sorted(running + never) == sorted(out)
    assert poll.returncode == 2
    ctl("kill", jid)
