"""The registry's host states through a job's life (launching, started, failed, unreachable,
erased; the job cleaned), what ``ctl jobs`` and ``ctl show`` say about them, and what a poll
says for a host where the job never started or was erased."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from controller.api import Job, Targets
from controller.errors import HostFailed
from controller.registries import open_registry
from controller.registry import Registry
from controller.results import Status
from controller.transport.fake import FakeHosts, run_here
from tests.support.fast import (
    Cli,
    Heard,
    blocks,
    by_host,
    fake_controller,
    fake_specs,
    job_files,
    op_of,
    statuses,
    wait_for,
    waiting_job,
)
from tests.support.pg import dump_tables


@pytest.fixture(params=["sqlite", "postgresql"])
def cli(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI on each registry backend: SQLite in CTL_HOME, or PostgreSQL (CTL_REGISTRY)."""
    cli = Cli(tmp_path, monkeypatch)
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_registry")
        monkeypatch.setenv("CTL_REGISTRY", url)
        cli.registry = open_registry(url)  # type: ignore[assignment]
    return cli


def states(registry: Registry, jid: str) -> dict[str, str]:
    return {row.host: row.state for row in registry.hosts(jid)}


def failing_launch_on(*names: str) -> FakeHosts:
    async def handler(spec, command, stdin):  # type: ignore[no-untyped-def]
        if spec.name in names and op_of(command, stdin) == "launch":
            raise HostFailed("remote wrapper failed: Permission denied")
        return await run_here(spec, command, stdin)
    return FakeHosts(handler)


def stored_registry(cli: Cli) -> bytes:
    """Everything the registry holds: the SQLite files, or every PostgreSQL table's rows."""
    if os.environ.get("CTL_REGISTRY"):
        return dump_tables(os.environ["CTL_REGISTRY"])
    return b"".join(p.read_bytes() for p in (cli.home / "ctl").iterdir() if p.is_file())


def jobs_json(cli: Cli, *args: str) -> list[dict]:  # type: ignore[type-arg]
    return cli("jobs", "--json", *args, code=0).json_lines()


# --- launch ------------------------------------------------------------------------------------

async def test_every_host_is_recorded_launching_before_any_host_is_contacted(
        tmp_path: Path) -> None:
    seen: list[dict[str, str]] = []
    registry = Registry(str(tmp_path / "registry"))

    async def handler(spec, command, stdin):  # type: ignore[no-untyped-def]
        if not seen:
            [job] = registry.jobs()
            seen.append(states(registry, job.jid))
        return await run_here(spec, command, stdin)

    ctl = fake_controller(tmp_path, FakeHosts(handler))
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 4)), Job(["true"], timeout=10))
    assert seen == [dict.fromkeys(["h0", "h1", "h2", "h3"], "launching")]
    assert set(states(registry, jid).values()) == {"started"}


async def test_launch_outcomes_are_recorded_as_started_unreachable_and_failed(
        tmp_path: Path) -> None:
    hosts = failing_launch_on("h2")
    hosts.unreachable.add("h1")
    ctl = fake_controller(tmp_path, hosts)
    jid, results = await ctl.run(Targets(fake_specs(tmp_path, 3)), Job(["true"], timeout=10))
    assert statuses(results) == {"h0": Status.CHANGED, "h1": Status.UNREACHABLE,
                                 "h2": Status.FAILED}
    assert states(ctl.registry, jid) == {"h0": "started", "h1": "unreachable", "h2": "failed"}
    last = {row.host: row.last for row in ctl.registry.hosts(jid)}
    assert last["h2"] == {"status": "failed", "msg": "remote wrapper failed: Permission denied"}
    assert last["h0"] == {"status": "changed", "finished": 0}
    assert ctl.registry.host_counts(jid) == {"running": 1, "ok": 0, "failed": 1,
                                             "unreachable": 1, "lost": 0}


async def test_an_interrupted_launch_leaves_unreached_hosts_launching_and_poll_says_so(
        tmp_path: Path) -> None:
    reached_h0 = asyncio.Event()
    stuck = asyncio.Event()

    async def handler(spec, command, stdin):  # type: ignore[no-untyped-def]
        if spec.name == "h1":
            await stuck.wait()  # never set: the launch hangs here until cancelled
        return await run_here(spec, command, stdin)

    heard = Heard(on_result=lambda op, result: reached_h0.set())
    ctl = fake_controller(tmp_path, FakeHosts(handler), heard)
    launch = asyncio.ensure_future(ctl.run(Targets(fake_specs(tmp_path, 2)),
                                           Job(["true"], timeout=10)))
    await asyncio.wait_for(reached_h0.wait(), 10)
    launch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await launch
    [job] = ctl.registry.jobs()
    assert states(ctl.registry, job.jid) == {"h0": "started", "h1": "launching"}
    assert ctl.registry.host_counts(job.jid)["launching"] == 1
    ctl.connect = FakeHosts()
    results = by_host(await ctl.poll(job.jid))
    assert results["h1"].status is Status.FAILED
    assert results["h1"].msg == ("the job was never started on this host: the launch was "
                                 "interrupted before it reached the host")
    assert results["h0"].status in (Status.CHANGED, Status.RUNNING)


async def test_poll_says_a_host_unreachable_or_failed_at_launch_never_started_the_job(
        tmp_path: Path) -> None:
    hosts = failing_launch_on("h2")
    hosts.unreachable.add("h1")
    ctl = fake_controller(tmp_path, hosts)
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 3)), Job(["true"], timeout=10))
    ctl.connect = FakeHosts()  # every host answers now
    results = by_host(await ctl.poll(jid))
    assert results["h1"].msg == \
        "the job was never started on this host: it was unreachable at launch"
    assert results["h2"].msg == "the job was never started on this host: the launch failed"
    assert results["h1"].status is Status.FAILED and results["h2"].data["finished"] == 1


# --- cleanup -----------------------------------------------------------------------------------

def test_cleanup_erases_every_file_and_marks_the_job_cleaned(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"))
    jid = cli.launch(inv, "echo", "hi").jid
    cli.finish(jid, "l0", "l1")
    out = cli("cleanup", jid, code=0)
    for host in ("l0", "l1"):
        label, data = blocks(out.out)[host]
        assert label == "SUCCESS" and data["erased"] == str(cli.async_dir(host) / jid)
        assert job_files(cli.async_dir(host), jid) == []
    assert f"ctl: job {jid}: cleaned up" in out.err
    assert states(cli.registry, jid) == {"l0": "erased", "l1": "erased"}
    assert cli.registry.job(jid).state == "cleaned"
    assert jobs_json(cli) == []  # cleaned jobs only with --all
    [job] = jobs_json(cli, "--all")
    assert job["state"] == "cleaned" and job["hosts"]["erased"] == 2


def test_poll_after_cleanup_says_the_files_were_erased(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "true").jid
    cli.finish(jid, "l0")
    cli("cleanup", jid, code=0)
    label, data = blocks(cli("poll", jid, code=2).out)["l0"]
    assert label == "FAILED!" and data["msg"] == "the job's files were erased by ctl cleanup"
    again = blocks(cli("cleanup", jid, code=0).out)["l0"][1]
    assert again["msg"].startswith("could not find job; nothing to erase at ")


def test_cleanup_of_a_running_job_leaves_it_running_and_the_job_active(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sleep", "10").jid
    out = cli("cleanup", jid, code=2)
    label, data = blocks(out.out)["l0"]
    assert label == "FAILED!" and data["running"] is True and "still running" in data["msg"]
    assert f"ctl: job {jid}: not cleaned up everywhere" in out.err
    assert jid in job_files(cli.async_dir("l0"), jid)
    assert states(cli.registry, jid) == {"l0": "started"}
    assert cli.registry.job(jid).state == "active"


async def test_the_job_is_cleaned_only_once_every_host_is_erased(tmp_path: Path) -> None:
    hosts = FakeHosts()
    ctl = fake_controller(tmp_path, hosts)
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 2)), Job(["true"], timeout=10))
    await ctl.poll(jid, wait=True, retries=100, delay=0.02)
    hosts.unreachable.add("h1")
    results = statuses(await ctl.cleanup(jid))
    assert results == {"h0": Status.OK, "h1": Status.UNREACHABLE}
    assert states(ctl.registry, jid) == {"h0": "erased", "h1": "started"}
    assert ctl.registry.job(jid).state == "active"
    hosts.unreachable.clear()
    await ctl.cleanup(jid)
    assert states(ctl.registry, jid) == {"h0": "erased", "h1": "erased"}
    assert ctl.registry.job(jid).state == "cleaned"


def test_cleaning_a_job_host_by_host_marks_it_cleaned_at_the_last_host(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"))
    jid = cli.launch(inv, "true").jid
    cli.finish(jid, "l0", "l1")
    cli("cleanup", jid, "-l", "l0", code=0)
    assert cli.registry.job(jid).state == "active"  # l1 still has its files
    cli("cleanup", jid, "-l", "l1", code=0)
    assert states(cli.registry, jid) == {"l0": "erased", "l1": "erased"}
    assert cli.registry.job(jid).state == "cleaned"  # every host is erased now


def test_cleanup_through_another_inventory_leaves_the_registered_job_active(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"))
    jid = cli.launch(inv, "true").jid
    cli.finish(jid, "l0", "l1")
    other = cli.inventory("other.yml", local=("x0", "x1"))
    cli("cleanup", jid, "-i", other, code=0)  # hosts that never had the job: nothing to erase
    assert job_files(cli.async_dir("l0"), jid) != []  # the job's own files are all still there
    assert cli.registry.job(jid).state == "active"
    assert [job["jid"] for job in jobs_json(cli)] == [jid]


# --- ctl jobs / ctl show ------------------------------------------------------------------------

L1_FAILS = 'case $(readlink /proc/$$/fd/1) in */l1/*) echo no >&2; exit 3;; esac; echo yes'


def test_jobs_counts_each_outcome_at_the_last_look(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"), down=("down",))
    jid = cli.launch(inv, "sh", "-c", L1_FAILS, code=4).jid
    listing = cli("jobs", code=0).out.splitlines()
    assert listing[0].split() == ["JID", "CREATED", "STATE", "HOSTS", "COMMAND"]
    assert listing[1].startswith(jid) and " active " in listing[1]
    assert "running=2 unreachable=1" in listing[1] and listing[1].endswith(f"sh -c '{L1_FAILS}'")
    cli.finish(jid, "l0", "l1")
    cli("poll", jid, "-l", "l*", code=2)
    assert "ok=1 failed=1 unreachable=1" in cli("jobs", code=0).out


def test_jobs_lists_newest_first_as_json_lines_and_honours_n(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    first = cli.launch(inv, "true").jid
    second = cli.launch(inv, "echo", "two").jid
    listed = jobs_json(cli)
    assert [job["jid"] for job in listed] == [second, first]
    assert set(listed[0]) == {"jid", "command", "created", "timeout", "state", "hosts"}
    assert listed[0]["command"] == ["echo", "two"] and listed[0]["timeout"] == 20
    assert listed[0]["hosts"] == {"running": 1, "ok": 0, "failed": 0, "unreachable": 0,
                                  "lost": 0}
    assert [job["jid"] for job in jobs_json(cli, "-n", "1")] == [second]


def test_jobs_refresh_polls_before_counting(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"))
    jid = cli.launch(inv, "true").jid
    cli.finish(jid, "l0", "l1")
    assert jobs_json(cli)[0]["hosts"]["running"] == 2  # the last look was the launch
    refreshed = cli("jobs", "--json", "--refresh", code=0)
    [job] = refreshed.json_lines()  # the refresh polls quietly: only the listing on stdout
    assert job["hosts"]["ok"] == 2 and job["hosts"]["running"] == 0


def test_show_lists_each_hosts_state_status_rc_and_message(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"), down=("down",))
    jid = cli.launch(inv, "sh", "-c", L1_FAILS, code=4).jid
    cli.finish(jid, "l0", "l1")
    cli("poll", jid, "-l", "l*", code=2)
    lines = cli("show", jid, code=0).out.splitlines()
    assert lines[0] == f"job {jid}: sh -c '{L1_FAILS}'"
    assert lines[1].endswith(", -B 20, -P 0, active, 3 host(s)")
    rows = {line.split()[0]: line.split(None, 4) for line in lines[3:]}
    assert rows["l0"][1:4] == ["started", "changed", "0"]
    assert rows["l1"][1:4] == ["started", "failed", "3"] and rows["l1"][4] == \
        "non-zero return code"
    assert rows["down"][1:4] == ["unreachable", "unreachable", "-"]
    assert "Failed to connect to the host via ssh" in rows["down"][4]


def test_show_json_has_every_host_with_its_state_and_last_status(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",), down=("down",))
    jid = cli.launch(inv, "true", code=4).jid
    [shown] = cli("show", jid, "--json", code=0).json_lines()
    assert shown["jid"] == jid and shown["command"] == ["true"] and shown["state"] == "active"
    hosts = {h["host"]: h for h in shown["hosts"]}
    assert hosts["l0"] == {"host": "l0", "state": "started", "status": "changed", "finished": 0}
    assert hosts["down"]["state"] == "unreachable" and hosts["down"]["status"] == "unreachable"


def test_a_job_whose_processes_died_is_lost_not_running(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sleep", "10").jid
    record = json.loads((cli.async_dir("l0") / jid).read_text())["ctl"]
    os.kill(record["wrapper_pid"], signal.SIGKILL)  # as the OOM killer would
    os.killpg(record["job_pgid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{record['wrapper_pid']}/stat")
             or open(f"/proc/{record['wrapper_pid']}/stat").read().split(") ")[1][0] == "Z")
    label, data = blocks(cli("poll", jid, code=2).out)["l0"]
    assert label == "FAILED!" and data["lost"] is True and data["finished"] == 1
    assert f"wrapper (pid {record['wrapper_pid']}) is gone" in data["msg"]
    assert jobs_json(cli)[0]["hosts"]["lost"] == 1
    assert blocks(cli("cleanup", jid, code=0).out)["l0"][1]["erased"]  # a lost job may go


def test_the_registry_never_holds_a_jobs_output(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sh", "-c", "echo out-$((6 * 7))-x; echo err-$((6 * 7))-y >&2").jid
    cli.finish(jid, "l0")
    polled = cli("poll", jid, code=0).out
    assert "out-42-x" in polled and "err-42-y" in polled
    stored = stored_registry(cli)
    assert jid.encode() in stored and b"$((6 * 7))" in stored  # the command is kept
    assert b"out-42-x" not in stored and b"err-42-y" not in stored  # the output never


def test_a_wait_that_gives_up_leaves_the_host_counted_running(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sleep", "10").jid
    out = cli("poll", jid, "--wait", "--retries", "1", "--delay", "0.05", code=2)
    assert "job still running after 1 retries" in out.out
    assert jobs_json(cli)[0]["hosts"]["running"] == 1  # the job is still running there


def test_a_wait_that_gives_up_does_not_say_every_host_finished(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sleep", "10").jid
    out = cli("poll", jid, "--wait", "--retries", "0", "--delay", "0.05", code=2)
    assert "job still running after 0 retries" in out.out
    assert "every host finished" not in out.err  # it has not, and cleanup would refuse it
    assert blocks(cli("cleanup", jid, code=2).out)["l0"][1]["running"] is True


def test_a_killed_job_is_not_counted_ok(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sleep", "10").jid
    assert blocks(cli("kill", jid, code=0).out)["l0"][1]["killed"] is True
    counts = jobs_json(cli)[0]["hosts"]
    assert counts["ok"] == 0 and counts["running"] == 0  # killed: the job did not succeed


async def test_a_failed_erase_after_run_poll_is_not_recorded_as_erased(tmp_path: Path) -> None:
    async def handler(spec, command, stdin):  # type: ignore[no-untyped-def]
        if op_of(command, stdin) == "cleanup":
            raise HostFailed("rm: cannot remove: Read-only file system")
        return await run_here(spec, command, stdin)

    go = tmp_path / "go"
    ctl = fake_controller(tmp_path, FakeHosts(handler), Heard(on_tick=lambda r: go.touch()))
    [spec] = fake_specs(tmp_path, 1)
    jid, [result] = await ctl.run(Targets([spec]), Job(waiting_job(go), timeout=10, poll=0.05))
    assert result.status is Status.CHANGED
    assert jid in job_files(spec.async_dir, jid)  # the erase failed: the file is still there
    assert states(ctl.registry, jid) != {"h0": "erased"}
