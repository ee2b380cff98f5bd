"""ctl resume over FakeHosts (the real wrapper and shell launcher on this machine): an
interrupted launch is finished on exactly the hosts that never got the job, with the same
job; a host that has the job's file is recorded started and never launched twice, even by
two resumes at once; a registry of an older ctl still resumes; and the CLI's lines and
exit codes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from controller.api import Controller, Job, Targets
from controller.hosts import HostSpec
from controller.registry import Registry
from controller.results import Status, exit_code
from controller.transport.fake import FakeHosts
from tests.support.fast import (
    Cli,
    Heard,
    by_host,
    fake_controller,
    fake_specs,
    finished_record,
    op_of,
    reap_jobs,
    wait_for,
    with_env,
)


@pytest.fixture(autouse=True)
def reaper(tmp_path: Path) -> Iterator[None]:
    yield
    reap_jobs(tmp_path)


def states(registry: Registry, jid: str) -> dict[str, str]:
    return {row.host: row.state for row in registry.hosts(jid)}


class Fleet:
    """FakeHosts that count each host's launches, can be unreachable, and can hang a
    host's launch before (``stuck_before``) or after (``stuck_after``) it reaches the
    host: a controller killed mid-launch, as seen from the registry."""

    def __init__(self) -> None:
        self.launches: dict[str, int] = {}
        self.stuck_before: set[str] = set()
        self.stuck_after: set[str] = set()
        self.never = asyncio.Event()
        self.hosts = FakeHosts(self.handle)

    async def handle(self, spec: HostSpec, command: str, stdin: bytes) -> Any:
        launch = op_of(command, stdin) == "launch"
        if launch and spec.name in self.stuck_before:
            await self.never.wait()
        result = await with_env(spec, command, stdin)
        if launch and b"started" in result.stdout + result.stderr:
            self.launches[spec.name] = self.launches.get(spec.name, 0) + 1
        if launch and spec.name in self.stuck_after:
            await self.never.wait()
        return result


def ran(marks: Path) -> dict[str, int]:
    """How many times the job ran, by host (each run appends its host's name)."""
    lines = marks.read_text().split() if marks.exists() else []
    return {name: lines.count(name) for name in set(lines)}


async def interrupted_run(tmp_path: Path, fleet: Fleet, specs: list[HostSpec], job: Job,
                          settled: int) -> str:
    """A run cancelled once ``settled`` hosts have answered (the others hang)."""
    heard = Heard()
    ctl = fake_controller(tmp_path, fleet.hosts, heard)
    launch = asyncio.ensure_future(ctl.run(Targets(specs), job))
    await asyncio.to_thread(wait_for, lambda: len(heard.results) >= settled)
    assert ctl.jid is not None
    await asyncio.to_thread(wait_for, lambda: all(
        fleet.launches.get(n) for n in fleet.stuck_after))
    launch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await launch
    return ctl.jid


async def test_resume_launches_where_the_job_never_got_and_only_there(tmp_path: Path) -> None:
    marks = tmp_path / "ran"
    fleet = Fleet()
    specs = fake_specs(tmp_path, 5)
    fleet.hosts.unreachable.add("h1")
    fleet.stuck_before.add("h2")  # never reached: launching
    fleet.stuck_after.add("h3")  # reached, but the controller died before recording it
    job = Job(["sh", "-c", f'echo "$FAKE_HOST" >> {marks}'], timeout=30)
    jid = await interrupted_run(tmp_path, fleet, specs, job, settled=3)  # h0, h1, h4
    registry = Registry(str(tmp_path / "registry"))
    assert states(registry, jid) == {"h0": "started", "h1": "unreachable", "h2": "launching",
                                     "h3": "launching", "h4": "started"}
    fleet.hosts.unreachable.clear()
    fleet.stuck_before.clear()
    fleet.stuck_after.clear()
    heard = Heard()
    results = by_host(await fake_controller(tmp_path, fleet.hosts, heard).resume(jid))
    assert sorted(results) == ["h1", "h2", "h3"]  # the hosts that never got it, as recorded
    assert results["h1"].status is Status.CHANGED and results["h2"].status is Status.CHANGED
    assert results["h3"].status is Status.OK and results["h3"].data["started"] == 1
    assert "already started on this host" in results["h3"].msg
    assert [e for e in heard.events if e[0] == "begin"] == [("begin", "launch", jid, 3)]
    assert set(states(registry, jid).values()) == {"started"}
    assert exit_code(list(results.values())) == 0
    for spec in specs:
        wait_for(lambda s=spec: finished_record(s.async_dir, jid))
    assert ran(marks) == dict.fromkeys(["h0", "h1", "h2", "h3", "h4"], 1)
    assert fleet.launches == dict.fromkeys(["h0", "h1", "h2", "h3", "h4"], 1)
    again = await fake_controller(tmp_path, fleet.hosts).resume(jid)
    assert again == []  # nothing left to resume


async def test_a_poll_that_finds_the_job_where_the_registry_says_launching_records_it_started(
        tmp_path: Path) -> None:
    """Else a job file erased later (by hand, by --cleanup-after) would make the poll say
    the job never started there, which is false."""
    fleet = Fleet()
    specs = fake_specs(tmp_path, 2)
    fleet.stuck_after.add("h1")
    jid = await interrupted_run(tmp_path, fleet, specs, Job(["true"], timeout=30), settled=1)
    registry = Registry(str(tmp_path / "registry"))
    assert states(registry, jid)["h1"] == "launching"
    fleet.stuck_after.clear()
    polled = by_host(await fake_controller(tmp_path, fleet.hosts).poll(jid))
    assert polled["h1"].status in (Status.RUNNING, Status.CHANGED)
    assert states(registry, jid) == {"h0": "started", "h1": "started"}
    wait_for(lambda: finished_record(specs[1].async_dir, jid))
    for path in Path(specs[1].async_dir).glob(jid + "*"):
        path.unlink()
    gone = by_host(await fake_controller(tmp_path, fleet.hosts).poll(jid))["h1"]
    assert gone.status is Status.FAILED and gone.msg == "could not find job"


async def test_two_resumes_at_once_start_each_host_once(tmp_path: Path) -> None:
    marks = tmp_path / "ran"
    fleet = Fleet()
    specs = fake_specs(tmp_path, 6)
    fleet.hosts.unreachable.update(s.name for s in specs)
    ctl = fake_controller(tmp_path, fleet.hosts)
    jid, first = await ctl.run(Targets(specs), Job(["sh", "-c", f'echo "$FAKE_HOST" >> {marks}'],
                                                   timeout=30))
    assert {r.status for r in first} == {Status.UNREACHABLE}
    fleet.hosts.unreachable.clear()
    one, two = await asyncio.gather(fake_controller(tmp_path, fleet.hosts).resume(jid),
                                    fake_controller(tmp_path, fleet.hosts).resume(jid))
    for spec in specs:
        wait_for(lambda s=spec: finished_record(s.async_dir, jid))
    assert ran(marks) == {s.name: 1 for s in specs}
    answers = {r.host: {r.status} for r in one}
    for r in two:
        answers[r.host].add(r.status)
    for host, seen in answers.items():  # whichever came second found it there
        assert Status.CHANGED in seen and seen <= {Status.CHANGED, Status.OK}, (host, seen)
    assert set(states(Registry(str(tmp_path / "registry")), jid).values()) == {"started"}


async def test_resume_runs_the_same_job_with_its_options(tmp_path: Path) -> None:
    fleet = Fleet()
    specs = fake_specs(tmp_path, 2)
    fleet.hosts.unreachable.add("h1")
    script = b'#!/bin/sh\nhead -c 5000 /dev/zero | tr "\\0" y; echo; echo "$1" "$FAKE_HOST"\n'
    job = Job(["run.sh", "$FAKE_HOST"], timeout=30, output_cap=1024, expand=True,
              script=script, cleanup_after=3600)
    jid, _ = await fake_controller(tmp_path, fleet.hosts).run(Targets(specs), job)
    recorded = Job.recorded(Registry(str(tmp_path / "registry")).job(jid))
    assert recorded == job  # poll 0 both: the registry keeps the whole job
    fleet.hosts.unreachable.clear()
    [resumed] = await fake_controller(tmp_path, fleet.hosts).resume(jid)
    assert resumed.host == "h1" and resumed.status is Status.CHANGED
    records = {s.name: wait_for(lambda s=s: finished_record(s.async_dir, jid)) for s in specs}
    assert records["h1"]["stdout"].endswith("h1 h1")  # the script, its $VAR expanded
    for record in records.values():
        assert record["stdout_truncated"] is True and len(record["stdout"]) <= 1024
        assert record["ctl"]["cleanup_at"] > time.time() + 3000  # --cleanup-after 3600
    assert records["h0"]["cmd"] == records["h1"]["cmd"] == ["run.sh", "$FAKE_HOST"]


async def test_a_templated_command_is_resumed_with_each_hosts_own_words(tmp_path: Path) -> None:
    fleet = Fleet()
    specs = fake_specs(tmp_path, 2)
    fleet.hosts.unreachable.add("h1")
    job = Job("echo for-h?", timeout=30, shell=True,
              per_host={"h0": "echo for-h0", "h1": "echo for-h1"})
    jid, _ = await fake_controller(tmp_path, fleet.hosts).run(Targets(specs), job)
    fleet.hosts.unreachable.clear()
    await fake_controller(tmp_path, fleet.hosts).resume(jid)
    record = wait_for(lambda: finished_record(specs[1].async_dir, jid))
    assert record["stdout"] == "for-h1"


OLD_SCHEMA = """
CREATE TABLE jobs (
    jid TEXT PRIMARY KEY, command TEXT NOT NULL, shell INTEGER NOT NULL, created REAL NOT NULL,
    timeout INTEGER NOT NULL, poll INTEGER NOT NULL, inventory TEXT NOT NULL,
    state TEXT NOT NULL, controller_pid INTEGER NOT NULL);
CREATE TABLE hosts (
    jid TEXT NOT NULL REFERENCES jobs(jid), host TEXT NOT NULL, position INTEGER NOT NULL,
    spec TEXT NOT NULL, groups TEXT NOT NULL, state TEXT NOT NULL, last TEXT NOT NULL,
    updated REAL NOT NULL, PRIMARY KEY (jid, host));
"""


async def test_a_registry_written_by_an_older_ctl_resumes_with_the_defaults(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Its job rows have no launch options (and its file no table for them): it opens,
    an older ctl can still write it, and the job resumes with the defaults, saying so."""
    home = tmp_path / "registry"
    home.mkdir(mode=0o700)
    [spec] = fake_specs(tmp_path, 1)
    old = sqlite3.connect(home / "registry.db")
    old.executescript(OLD_SCHEMA)
    old.execute("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?)",
                ("j1234.5", json.dumps(["echo", "old"]), 0, 1.0, 30, 0, "[]", "active", 1))
    old.execute("INSERT INTO hosts VALUES (?,?,?,?,?,?,?,?)",
                ("j1234.5", "h0", 0, json.dumps(spec.to_dict()), "[]", "launching", "{}", 1.0))
    old.commit()
    ctl = Controller(Registry(str(home)), connect=FakeHosts())
    [result] = await ctl.resume("j1234.5")
    assert result.status is Status.CHANGED
    assert "recorded by an older ctl" in caplog.text
    assert wait_for(lambda: finished_record(spec.async_dir, "j1234.5"))["stdout"] == "old"
    old.execute("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?)",  # the older ctl, still at work
                ("j1234.6", "[\"true\"]", 0, 2.0, 30, 0, "[]", "active", 1))
    old.commit()
    assert Registry(str(home)).job("j1234.6").options == {}


# --- the CLI -----------------------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path, monkeypatch)


def test_resume_lists_the_hosts_still_unreachable_with_the_next_step(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"), down=("down",))
    run = cli.launch(inv, "true", code=4)
    jid = run.jid
    out = cli("resume", jid, "-T", "2", code=4)
    assert "down | UNREACHABLE!" in out.out and "l0 |" not in out.out
    assert f"ctl: job {jid}: still unreachable, so without the job: down; once they are " \
           f"back: ctl resume {jid}" in out.err
    done = cli("resume", jid, "-T", "2", "-l", "l*", code=0)
    assert done.out == "" and f"ctl: job {jid}: every host already got the job" in done.err
    refused = cli("resume", jid, "-i", inv, code=5)
    assert "narrow them with -l PATTERN, not -i" in refused.error_line()
    unknown = cli("resume", "j999.1", code=5)
    assert "unknown jid j999.1" in unknown.error_line()


def test_resume_prints_the_usual_launch_lines_and_exits_0_when_every_host_has_the_job(
        cli: Cli, tmp_path: Path) -> None:
    inv = cli.inventory(local=("l0",), down=("l1",))
    jid = cli.launch(inv, "true", code=4).jid
    inv = cli.inventory(local=("l0", "l1"))  # l1 is back (the registry keeps its settings)
    with sqlite3.connect(cli.registry.path) as db:  # ... as recorded at launch: now local
        spec = json.loads(db.execute("SELECT spec FROM hosts WHERE host='l1'").fetchone()[0])
        spec.update(connection="local", async_dir=str(cli.async_dir("l1")))
        db.execute("UPDATE hosts SET spec=? WHERE host='l1'", (json.dumps(spec),))
    out = cli("resume", jid, "--json", code=0)
    [line] = out.json_lines()
    assert (line["event"], line["op"], line["host"], line["status"]) == \
        ("result", "launch", "l1", "changed")
    assert line["data"]["ansible_job_id"] == jid and line["data"]["started"] == 1
    assert f"ctl: job {jid}: every host now has the job; next: ctl poll {jid} --all-hosts" \
        in out.err
    cli.finish(jid, "l0", "l1")
    polled = cli("poll", jid, "--json", code=0).json_lines()
    assert sorted(p["host"] for p in polled) == ["l0", "l1"]

