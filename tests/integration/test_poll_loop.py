"""The poll loop without sshd: ``run -P N`` rounds, ``poll --wait`` retries, hosts that drop
out between rounds, ``--tail`` of a running job (fake hosts and the local connection)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.api import Job, Targets
from controller.errors import HostUnreachable, OptionError
from controller.render import TextOutput
from controller.results import Status, exit_code
from controller.transport.fake import FakeHosts, run_here
from tests.support.fast import (
    Cli,
    Heard,
    blocks,
    by_host,
    fake_controller,
    fake_specs,
    finished_record,
    job_files,
    op_of,
    statuses,
    wait_for,
    waiting_job,
)


def flaky(down_for: int, op: str = "status") -> FakeHosts:
    """Fake hosts whose first ``down_for`` calls of ``op`` on h0 fail as a dropped host."""
    left = {"n": down_for}

    async def handler(spec, command, stdin):  # type: ignore[no-untyped-def]
        if spec.name == "h0" and op_of(command, stdin) == op and left["n"] > 0:
            left["n"] -= 1
            raise HostUnreachable("Failed to connect to the host via ssh: Connection reset")
        return await run_here(spec, command, stdin)

    return FakeHosts(handler)


# --- run -P N --------------------------------------------------------------------------------

BY_HOST = ('case $(readlink /proc/$$/fd/1) in */slow/*) sleep 1.8; echo slow;; '
           '*/bad/*) echo bad >&2; exit 3;; *) echo quick;; esac')


def test_run_with_poll_prints_poll_ok_and_failed_lines_and_erases_finished_jobs(
        cli: Cli) -> None:
    inv = cli.inventory(local=("slow", "bad", "quick"))
    out = cli("run", "-i", inv, "-B", "20", "-P", "1", "--shell", "--", BY_HOST, code=2)
    jid = out.jid
    lines = out.out.splitlines()
    assert f"ASYNC POLL on slow: jid={jid} started=1 finished=0" in lines
    assert f"ASYNC OK on slow: jid={jid}" in lines and f"ASYNC OK on quick: jid={jid}" in lines
    assert f"ASYNC FAILED on bad: jid={jid}" in lines
    assert not any(line.startswith(("ASYNC POLL on quick", "ASYNC POLL on bad"))
                   for line in lines)
    found = blocks(out.out)
    assert found["slow"][0] == "CHANGED" and found["slow"][1]["stdout"] == "slow"
    assert found["quick"][1]["stdout_lines"] == ["quick"] and found["quick"][1]["rc"] == 0
    assert found["bad"][0] == "FAILED!" and found["bad"][1]["rc"] == 3
    assert found["bad"][1]["stderr"] == "bad" and found["bad"][1]["finished"] == 1
    assert out.out.count(" => {") == 3  # under -P, no launch block for hosts that started
    for host in ("slow", "bad", "quick"):
        assert job_files(cli.async_dir(host), jid) == []  # erased, as Ansible does
    assert {row.state for row in cli.registry.hosts(jid)} == {"erased"}
    assert f"ctl: job {jid}: every host finished; next: ctl cleanup {jid}" in out.err


def test_background_limit_shorter_than_the_job_fails_with_ansibles_message(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    out = cli("run", "-i", inv, "-B", "1", "-P", "1", "--", "sleep", "8", code=2)
    label, data = blocks(out.out)["l0"]
    assert label == "FAILED!"
    assert data["msg"] == "async task did not complete within the requested time - 1s"
    assert data["timeout"] is True and data["finished"] == 1 and data["failed"] is True
    assert f"ASYNC FAILED on l0: jid={out.jid}" in out.out


async def test_poll_lines_come_before_async_ok_and_the_final_result(tmp_path: Path) -> None:
    go = tmp_path / "go"
    heard = Heard(on_tick=lambda result: go.touch())
    ctl = fake_controller(tmp_path, FakeHosts(), heard)
    specs = fake_specs(tmp_path, 2)
    jid, results = await ctl.run(Targets(specs), Job(waiting_job(go), timeout=10, poll=0.1))
    assert statuses(results) == {"h0": Status.CHANGED, "h1": Status.CHANGED}
    for spec in specs:
        after_launch = heard.kinds(spec.name)[1:]
        assert after_launch[0] == "tick" and after_launch[-2:] == ["done", "result"]
        assert set(after_launch[:-2]) == {"tick"}
    assert by_host(results)["h0"].data["stdout"] == "done"


async def test_text_output_prints_ansibles_poll_lines(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    go = tmp_path / "go"

    class Text(TextOutput):
        def poll_tick(self, jid, result):  # type: ignore[no-untyped-def]
            super().poll_tick(jid, result)
            go.touch()

    ctl = fake_controller(tmp_path, FakeHosts(), Text())
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 1)),
                           Job(waiting_job(go), timeout=10, poll=0.1))
    lines = capsys.readouterr().out.splitlines()
    poll_at = lines.index(f"ASYNC POLL on h0: jid={jid} started=1 finished=0")
    ok_at = lines.index(f"ASYNC OK on h0: jid={jid}")
    assert poll_at < ok_at and lines[ok_at + 1] == "h0 | CHANGED => {"
    assert "\x1b[" not in "\n".join(lines)  # captured stdout is not a terminal


async def test_run_with_poll_keeps_one_connection_per_host_for_every_round(
        tmp_path: Path) -> None:
    go = tmp_path / "go"
    hosts = FakeHosts()
    rounds = {"n": 0}

    def tick(result):  # type: ignore[no-untyped-def]
        rounds["n"] += 1
        if rounds["n"] >= 4:
            go.touch()

    ctl = fake_controller(tmp_path, hosts, Heard(on_tick=tick))
    await ctl.run(Targets(fake_specs(tmp_path, 2)), Job(waiting_job(go), timeout=10, poll=0.05))
    assert hosts.connects == {"h0": 1, "h1": 1}
    assert all(calls >= 3 for calls in hosts.calls.values())  # launch, rounds, the erase


async def test_run_with_poll_records_finished_hosts_as_erased(tmp_path: Path) -> None:
    ctl = fake_controller(tmp_path, FakeHosts())
    specs = fake_specs(tmp_path, 2)
    jid, results = await ctl.run(Targets(specs), Job(["sh", "-c", "exit 4"], timeout=10,
                                                     poll=0.05))
    assert statuses(results) == {"h0": Status.FAILED, "h1": Status.FAILED}
    assert all(r.data["rc"] == 4 and r.data["msg"] == "non-zero return code" for r in results)
    assert [(row.host, row.state) for row in ctl.registry.hosts(jid)] == \
        [("h0", "erased"), ("h1", "erased")]
    assert all(job_files(spec.async_dir, jid) == [] for spec in specs)


async def test_a_timed_out_job_read_later_says_timeout_exceeded(tmp_path: Path) -> None:
    ctl = fake_controller(tmp_path, FakeHosts())
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 1)), Job(["sleep", "8"], timeout=1))
    [result] = await ctl.poll(jid, wait=True, retries=100, delay=0.05)
    assert result.status is Status.FAILED
    assert result.data["msg"] == "Timeout exceeded" and result.data["timeout"] is True
    assert result.data["failed"] is True and result.data["finished"] == 1


async def test_a_host_dropping_out_between_run_rounds_is_reconnected(tmp_path: Path) -> None:
    hosts = flaky(down_for=1)
    go = tmp_path / "go"
    heard = Heard(on_tick=lambda result: go.touch() if result.host == "h1" else None)
    ctl = fake_controller(tmp_path, hosts, heard)
    jid, results = await ctl.run(Targets(fake_specs(tmp_path, 2)),
                                 Job(waiting_job(go), timeout=10, poll=0.05))
    assert statuses(results) == {"h0": Status.CHANGED, "h1": Status.CHANGED}
    assert hosts.connects["h0"] == 2 and hosts.connects["h1"] == 1  # the pool reopened it


# --- poll --wait -------------------------------------------------------------------------------

def test_wait_gives_up_after_retries_and_leaves_the_job_running(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sleep", "10").jid
    out = cli("poll", jid, "--wait", "--retries", "2", "--delay", "0.1", code=2)
    label, data = blocks(out.out)["l0"]
    assert label == "FAILED!" and data["msg"] == "job still running after 2 retries of 0.1s"
    assert data["finished"] == 0 and data["started"] == 1
    assert out.out.count(f"ASYNC POLL on l0: jid={jid} started=1 finished=0") == 2
    assert f"ASYNC FAILED on l0: jid={jid}" in out.out
    again = cli("poll", jid, code=0)  # the job itself is not touched
    label, data = blocks(again.out)["l0"]
    assert label == "SUCCESS" and data["finished"] == 0
    assert job_files(cli.async_dir("l0"), jid) == [jid, f"{jid}.stderr", f"{jid}.stdout"]


@pytest.mark.parametrize("retries", [0, 3])
async def test_wait_looks_once_now_and_once_more_per_retry(tmp_path: Path, retries: int) -> None:
    hosts = FakeHosts()
    ctl = fake_controller(tmp_path, hosts, Heard())
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 1)), Job(["sleep", "8"], timeout=10))
    before = hosts.calls["h0"]
    [result] = await ctl.poll(jid, wait=True, retries=retries, delay=0.02)
    assert hosts.calls["h0"] - before == retries + 1  # one shell read per round
    assert result.status is Status.FAILED
    assert result.msg == f"job still running after {retries} retries of 0.02s"


async def test_wait_returns_as_soon_as_every_host_has_finished(tmp_path: Path) -> None:
    go = tmp_path / "go"
    heard = Heard(on_tick=lambda result: go.touch())
    ctl = fake_controller(tmp_path, FakeHosts(), heard)
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 3)), Job(waiting_job(go), timeout=10))
    results = await ctl.poll(jid, wait=True, retries=500, delay=0.05)
    assert set(statuses(results).values()) == {Status.CHANGED}
    assert all(r.data["stdout"] == "done" for r in results)
    assert len([e for e in heard.events if e[0] == "tick"]) < 100  # far fewer than 500 rounds
    assert exit_code(results) == 0


async def test_a_host_unreachable_during_a_wait_keeps_being_retried(tmp_path: Path) -> None:
    hosts = flaky(down_for=2)  # h0 drops out for the first two rounds of the wait
    go = tmp_path / "go"
    heard = Heard(on_tick=lambda result: go.touch() if result.status is Status.RUNNING
                  else None)
    ctl = fake_controller(tmp_path, hosts, heard)
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 2)), Job(waiting_job(go), timeout=10))
    results = await ctl.poll(jid, wait=True, retries=100, delay=0.05)
    ticks = [e[2] for e in heard.events if e[0] == "tick" and e[1] == "h0"]
    assert ticks[:2] == [Status.UNREACHABLE, Status.UNREACHABLE]
    assert statuses(results) == {"h0": Status.CHANGED, "h1": Status.CHANGED}
    assert hosts.connects["h0"] == 1 + 3  # the launch, two refused rounds, then one kept open


async def test_unreachable_poll_lines_say_they_will_retry(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    ctl = fake_controller(tmp_path, flaky(down_for=2), TextOutput())
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 1)), Job(["true"], timeout=10))
    await ctl.poll(jid, wait=True, retries=100, delay=0.02)
    out = capsys.readouterr().out
    assert f"ASYNC POLL on h0: jid={jid} unreachable, will retry: Failed to connect to the " \
           "host via ssh: Connection reset" in out
    assert f"ASYNC OK on h0: jid={jid}" in out


async def test_a_host_still_unreachable_after_the_last_retry_ends_unreachable(
        tmp_path: Path) -> None:
    hosts = FakeHosts()
    heard = Heard()
    ctl = fake_controller(tmp_path, hosts, heard)
    specs = fake_specs(tmp_path, 2)
    jid, _ = await ctl.run(Targets(specs), Job(["true"], timeout=10))
    wait_for(lambda: finished_record(specs[0].async_dir, jid))  # 3 rounds of 20 ms: no margin
    hosts.unreachable.add("h1")
    results = await ctl.poll(jid, wait=True, retries=2, delay=0.02)
    assert statuses(results) == {"h0": Status.CHANGED, "h1": Status.UNREACHABLE}
    assert hosts.connects["h1"] == 1 + 3  # the launch, then one try per round
    assert ("done", "h1", Status.UNREACHABLE) not in heard.events  # no ASYNC FAILED for it
    assert exit_code(results) == 4


async def test_wait_refuses_negative_retries_or_delay(tmp_path: Path) -> None:
    ctl = fake_controller(tmp_path, FakeHosts())
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 1)), Job(["true"], timeout=10))
    for retries, delay in ((-1, 1.0), (1, -0.5)):
        with pytest.raises(OptionError, match="--retries and --delay"):
            await ctl.poll(jid, wait=True, retries=retries, delay=delay)


# --- a running job, --tail ------------------------------------------------------------------

def newlines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


TALKER = 'printf "o1\\no2\\no3\\n"; printf "e1\\ne2\\n" >&2; sleep 10'


def test_a_running_job_polled_once_is_success_and_says_to_wait(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"))
    jid = cli.launch(inv, "sleep", "10").jid
    out = cli("poll", jid, "--tail", "0", code=0)
    found = blocks(out.out)
    assert {label for label, _ in found.values()} == {"SUCCESS"}
    assert all(data["finished"] == 0 and "stdout_tail" not in data for _, data in found.values())
    assert "running=2" not in out.out and "l0 : changed=0  ok=0  running=1" in out.out
    assert f"ctl: job {jid}: still running; next: ctl poll {jid} --wait" in out.err


def test_tail_shows_the_last_lines_of_a_running_job(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sh", "-c", TALKER).jid
    stdout = cli.async_dir("l0") / f"{jid}.stdout"
    stderr = cli.async_dir("l0") / f"{jid}.stderr"
    wait_for(lambda: newlines(stdout) == 3 and newlines(stderr) == 2)
    data = blocks(cli("poll", jid, "--tail", "2", code=0).out)["l0"][1]
    assert data["stdout_tail"] == ["o2", "o3"] and data["stderr_tail"] == ["e1", "e2"]
    default = blocks(cli("poll", jid, code=0).out)["l0"][1]
    assert default["stdout_tail"] == ["o1", "o2", "o3"]  # --tail defaults to 5 lines


async def test_tail_through_the_shell_fast_path_is_the_wrappers_answer(tmp_path: Path) -> None:
    hosts = FakeHosts()
    ctl = fake_controller(tmp_path, hosts)
    spec = fake_specs(tmp_path, 1)[0]
    jid, _ = await ctl.run(Targets([spec]), Job(["sh", "-c", TALKER], timeout=15))
    out, err = (Path(spec.async_dir) / f"{jid}.{stream}" for stream in ("stdout", "stderr"))
    wait_for(lambda: newlines(out) == 3 and newlines(err) == 2)
    before = hosts.calls["h0"]
    [result] = await ctl.poll(jid, tail_lines=1)
    assert hosts.calls["h0"] - before == 1  # one /bin/sh read, no Python started
    assert result.status is Status.RUNNING
    assert result.data["stdout_tail"] == ["o3"] and result.data["stderr_tail"] == ["e2"]


async def test_a_finished_job_has_its_whole_output_and_no_tail(tmp_path: Path) -> None:
    ctl = fake_controller(tmp_path, FakeHosts())
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 1)),
                           Job(["sh", "-c", "echo a; echo b"], timeout=10))
    [result] = await ctl.poll(jid, wait=True, retries=100, delay=0.02, tail_lines=1)
    assert result.data["stdout_lines"] == ["a", "b"]
    assert "stdout_tail" not in result.data and "stderr_tail" not in result.data
