"""Faults injected through fake hosts: garbage replies, exit 255, transport errors, bugs,
slow hosts, damaged job files and wrappers. Each costs the host it happens on, never another
host's result."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from controller import payload
from controller.api import Job, Targets
from controller.errors import HostFailed, HostUnreachable
from controller.results import Status, exit_code
from controller.transport.base import ExecResult
from controller.transport.fake import FakeHosts, run_here
from tests.support.fast import (
    Heard,
    by_host,
    fake_controller,
    fake_specs,
    op_of,
    statuses,
    with_env,
)


def garbage(spec, command, stdin):  # type: ignore[no-untyped-def]
    return ExecResult(0, b"<html>502 Bad Gateway</html>\n", b"")


def exit_255(spec, command, stdin):  # type: ignore[no-untyped-def]
    return ExecResult(255, b"", b"")


def host_failed(spec, command, stdin):  # type: ignore[no-untyped-def]
    raise HostFailed("sudo: a password is required")


def dropped(spec, command, stdin):  # type: ignore[no-untyped-def]
    raise HostUnreachable("Failed to connect to the host via ssh: Connection reset by peer")


def a_bug(spec, command, stdin):  # type: ignore[no-untyped-def]
    raise RuntimeError("boom")


def faulty(faults: dict, ops: tuple[str, ...] = ("launch", "status", "cleanup", "unknown"),  # type: ignore[type-arg]
           base=run_here) -> FakeHosts:  # type: ignore[no-untyped-def]
    """Hosts named in ``faults`` answer ``ops`` with their fault; the others run for real."""
    def handler(spec, command, stdin):  # type: ignore[no-untyped-def]
        fault = faults.get(spec.name)
        if fault is not None and op_of(command, stdin) in ops:
            return fault(spec, command, stdin)
        return base(spec, command, stdin)
    return FakeHosts(handler)


@pytest.mark.parametrize("fault, status, msg", [
    (garbage, Status.FAILED, "remote wrapper failed: "),
    (exit_255, Status.FAILED, "remote wrapper failed: exit status 255, no output"),
    (host_failed, Status.FAILED, "sudo: a password is required"),
    (dropped, Status.UNREACHABLE, "Failed to connect to the host via ssh: Connection reset"),
    (a_bug, Status.FAILED, "internal error in ctl: RuntimeError: boom (please report this)"),
])
async def test_a_fault_at_launch_costs_only_that_host(tmp_path: Path, fault, status: Status,  # type: ignore[no-untyped-def]
                                                      msg: str) -> None:
    ctl = fake_controller(tmp_path, faulty({"h1": fault}))
    jid, results = await ctl.run(Targets(fake_specs(tmp_path, 3)), Job(["true"], timeout=10))
    assert statuses(results) == {"h0": Status.CHANGED, "h1": status, "h2": Status.CHANGED}
    assert by_host(results)["h1"].msg.startswith(msg)
    states = {row.host: row.state for row in ctl.registry.hosts(jid)}
    assert states == {"h0": "started", "h1": "unreachable" if status is Status.UNREACHABLE
                      else "failed", "h2": "started"}


async def test_one_hosts_failure_never_loses_anothers_result(tmp_path: Path) -> None:
    faults = {"h3": garbage, "h9": exit_255, "h15": host_failed}
    hosts = faulty(faults, base=with_env)
    ctl = fake_controller(tmp_path, hosts, forks=8)
    specs = fake_specs(tmp_path, 20)
    jid, launched = await ctl.run(Targets(specs), Job(["sh", "-c", "echo $FAKE_HOST"],
                                                      timeout=10))
    assert len(launched) == 20
    assert {h for h, s in statuses(launched).items() if s is not Status.CHANGED} == set(faults)
    results = by_host(await ctl.poll(jid, wait=True, retries=200, delay=0.02))
    for spec in specs:
        result = results[spec.name]
        if spec.name in faults:
            assert result.status is Status.FAILED
        else:  # each host's own answer, from its own async dir
            assert result.status is Status.CHANGED and result.data["stdout"] == spec.name
            assert result.data["results_file"] == f"{spec.async_dir}/{jid}"
    assert exit_code(results.values()) == 2
    counts = ctl.registry.host_counts(jid)
    assert counts["ok"] == 17 and counts["failed"] == 3


async def test_a_fault_while_polling_is_final_for_that_host_only(tmp_path: Path) -> None:
    hosts = faulty({"h0": host_failed}, ops=("status",))
    ctl = fake_controller(tmp_path, hosts)
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 2)), Job(["true"], timeout=10))
    before = hosts.calls["h0"]
    results = by_host(await ctl.poll(jid, wait=True, retries=50, delay=0.02))
    assert results["h0"].status is Status.FAILED and results["h1"].status is Status.CHANGED
    assert results["h0"].msg == "sudo: a password is required"
    assert hosts.calls["h0"] - before == 1  # a failure is an answer: not retried


async def test_the_forks_limit_bounds_how_many_hosts_are_worked_on_at_once(
        tmp_path: Path) -> None:
    busy = {"now": 0, "most": 0}

    async def handler(spec, command, stdin):  # type: ignore[no-untyped-def]
        busy["now"] += 1
        busy["most"] = max(busy["most"], busy["now"])
        try:
            await asyncio.sleep(0.02)  # a host that answers slowly
            return await run_here(spec, command, stdin)
        finally:
            busy["now"] -= 1

    ctl = fake_controller(tmp_path, FakeHosts(handler), forks=3)
    _, results = await ctl.run(Targets(fake_specs(tmp_path, 9)), Job(["true"], timeout=10))
    assert set(statuses(results).values()) == {Status.CHANGED}
    assert busy["most"] == 3


async def test_a_slow_host_does_not_hold_back_the_others_results(tmp_path: Path) -> None:
    others_heard = asyncio.Event()

    async def handler(spec, command, stdin):  # type: ignore[no-untyped-def]
        if spec.name == "h0":
            await asyncio.wait_for(others_heard.wait(), 10)
        return await run_here(spec, command, stdin)

    heard = Heard(on_result=lambda op, result: others_heard.set()
                  if len(heard.results) == 3 else None)
    ctl = fake_controller(tmp_path, FakeHosts(handler), heard)
    _, results = await ctl.run(Targets(fake_specs(tmp_path, 4)), Job(["true"], timeout=10))
    assert [r.host for _, r in heard.results][-1] == "h0"  # the others were printed first
    assert set(statuses(results).values()) == {Status.CHANGED}


async def test_the_wrapper_is_pushed_once_then_a_launch_is_one_exec(tmp_path: Path) -> None:
    hosts = FakeHosts()
    ctl = fake_controller(tmp_path, hosts)
    [spec] = fake_specs(tmp_path, 1, seeded=False)
    await ctl.run(Targets([spec]), Job(["true"], timeout=10))
    first = hosts.calls["h0"]
    stored = Path(spec.async_dir) / ".ctl" / f"wrapper-{payload.wrapper_sha256()}.py"
    assert stored.read_bytes() == payload.wrapper_source()
    _, [result] = await ctl.run(Targets([spec]), Job(["true"], timeout=10))
    assert result.status is Status.CHANGED
    assert first == 3 and hosts.calls["h0"] == first + 1  # shell try, ask, push; then one
    assert hosts.connects["h0"] == 2  # one connection per launch


async def test_a_tampered_wrapper_is_replaced_and_never_run(tmp_path: Path) -> None:
    [spec] = fake_specs(tmp_path, 1)
    stored = Path(spec.async_dir) / ".ctl" / f"wrapper-{payload.wrapper_sha256()}.py"
    marker = tmp_path / "tampered-ran"
    stored.write_text(f"open({str(marker)!r}, 'w').close()\n")
    ctl = fake_controller(tmp_path, FakeHosts())
    _, [result] = await ctl.run(Targets([spec]), Job(["true"], timeout=10))
    assert result.status is Status.CHANGED
    assert stored.read_bytes() == payload.wrapper_source()
    assert not marker.exists()


async def test_a_host_without_the_named_python_fails_saying_so(tmp_path: Path) -> None:
    specs = fake_specs(tmp_path, 2)
    specs[1] = replace(specs[1], python="/no/such/python3")
    ctl = fake_controller(tmp_path, FakeHosts())
    _, results = await ctl.run(Targets(specs), Job(["true"], timeout=10))
    assert statuses(results) == {"h0": Status.CHANGED, "h1": Status.FAILED}
    assert by_host(results)["h1"].msg == ("no Python on the host: '/no/such/python3' was not "
                                          "found (set ansible_python_interpreter)")


@pytest.mark.parametrize("content", [b"", b'{"started": 1, "fini', b"[1, 2]", b"\x00\xff"])
async def test_an_unreadable_job_file_is_reported_with_its_path_and_left_alone(
        tmp_path: Path, content: bytes) -> None:
    [spec] = fake_specs(tmp_path, 1)
    jid = "j999000111.42"
    path = Path(spec.async_dir) / jid
    path.write_bytes(content)
    ctl = fake_controller(tmp_path, FakeHosts())
    [result] = await ctl.poll(jid, Targets([spec]))
    assert result.status is Status.FAILED and result.data["unreadable"] is True
    assert str(path) in result.msg and result.data["finished"] == 1
    assert path.read_bytes() == content  # a poll never rewrites a job file


async def test_polling_a_job_ctl_never_registered_reads_the_hosts_named(tmp_path: Path) -> None:
    specs = fake_specs(tmp_path, 2)
    ctl = fake_controller(tmp_path, FakeHosts())
    jid, _ = await ctl.run(Targets(specs[:1]), Job(["true"], timeout=10))
    results = by_host(await ctl.poll(jid, Targets(specs), wait=True, retries=100, delay=0.02))
    assert results["h0"].status is Status.CHANGED
    assert results["h1"].msg == "could not find job"  # Ansible's own words for a host without it
