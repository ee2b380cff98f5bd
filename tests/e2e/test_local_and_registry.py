"""The local connection, the async dir lookup, and the registry under concurrent use."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.support.ctl import Ctl, blocks, jid_of
from tests.support.sshd_lab import SshdLab


def test_local_connection_runs_without_any_server(ctl: Ctl, tmp_path: Path) -> None:
    async_dir = tmp_path / "jobs"
    inv = tmp_path / "local.yml"
    inv.write_text(f"all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                   f"      ansible_async_dir: {async_dir}\n")
    run = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "--", "echo", "local ok",
              check_code=0)
    jid = jid_of(run.stdout)
    assert (async_dir / jid).exists()
    assert oct(async_dir.stat().st_mode & 0o777) == "0o700"
    poll = ctl("poll", jid, "--wait", "--delay", "0.2", check_code=0)
    assert blocks(poll.stdout)["localhost"][1]["stdout"] == "local ok"
    ctl("cleanup", jid, check_code=0)
    assert not (async_dir / jid).exists()


def test_async_dir_from_the_environment_is_used_for_start_status_and_cleanup(
        ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[0]
    if host.async_dir:  # not root: the lab pins a per-host async dir in the inventory
        return
    env_dir = "~/ctl-env-jobs"
    ctl.env["ANSIBLE_ASYNC_DIR"] = env_dir
    run = ctl("run", "-i", str(ctl.inventory), "-l", host.name, "-B", "30", "-P", "0", "--",
              "true", check_code=0)
    jid = jid_of(run.stdout)
    expected = f"{host.home}/ctl-env-jobs/{jid}"
    assert blocks(run.stdout)[host.name][1]["results_file"] == expected
    assert lab.sh(host, f"test -f {expected}").returncode == 0
    del ctl.env["ANSIBLE_ASYNC_DIR"]  # the registry remembers where the job lives
    poll = ctl("poll", jid, "--wait", "--delay", "0.2", check_code=0)
    assert blocks(poll.stdout)[host.name][1]["results_file"] == expected
    clean = ctl("cleanup", jid, check_code=0)
    assert blocks(clean.stdout)[host.name][1]["erased"] == expected


def test_two_controllers_at_once_keep_every_registry_row(ctl: Ctl, lab: SshdLab) -> None:
    procs = [ctl.popen("run", "-i", str(ctl.inventory), "-B", "30", "-P", "0", "--", "true")
             for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    jids = {jid_of(out) for out, _ in outs}
    assert len(jids) == 4
    listing = [json.loads(line) for line in ctl("jobs", "--json").stdout.splitlines()]
    assert {j["jid"] for j in listing} == jids
    db = sqlite3.connect(ctl.home / "ctl-state" / "registry.db")
    states = db.execute("SELECT state, count(*) FROM hosts GROUP BY state").fetchall()
    assert states == [("started", 4 * len(lab.hosts))]
    for jid in jids:
        ctl("cleanup", jid, check_code=0)
    cleaned = [json.loads(line)["state"]
               for line in ctl("jobs", "--json", "--all").stdout.splitlines()]
    assert cleaned == ["cleaned"] * 4


def test_registry_is_private(ctl: Ctl, lab: SshdLab) -> None:
    ctl("run", "-i", str(ctl.inventory), "-l", "h1", "-B", "30", "-P", "0", "--", "true",
        check_code=0)
    state = ctl.home / "ctl-state"
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    assert oct((state / "registry.db").stat().st_mode & 0o777) == "0o600"
