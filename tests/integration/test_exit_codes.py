"""Every way a command ends, through the real CLI in-process: bad input is one ``ctl: error:``
line and exit 5 with nothing recorded or touched; host outcomes give the ansible CLI's codes
(0 ok, 2 failed, 4 unreachable, which wins); Ctrl-C is 99 and says how to pick the job up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.transport.local import LocalTransport
from tests.support.fast import Cli, blocks, finished_record, wait_for


def refused(cli: Cli, *argv: str) -> str:
    """The command is bad input: exit 5, one error line, no job recorded, no host touched."""
    line = cli(*argv, code=5).error_line()
    assert cli.registry.jobs() == [] or argv[0] != "run"
    assert not (cli.tmp / "hosts").exists() or argv[0] != "run"
    return line


# --- jids ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("jid", ["../x", "j1"])
@pytest.mark.parametrize("command", ["poll", "cleanup", "kill", "logs", "show"])
def test_a_malformed_jid_is_refused_before_any_host(cli: Cli, command: str, jid: str) -> None:
    line = refused(cli, command, jid, *(["-i", cli.inventory()] if command != "show" else []))
    assert f"invalid jid {jid!r}: a jid looks like j445703768934.50473" in line
    assert not (cli.tmp / "hosts").exists()


@pytest.mark.parametrize("command", ["poll", "cleanup", "kill", "logs", "show"])
def test_an_unknown_jid_names_the_registry(cli: Cli, command: str) -> None:
    line = refused(cli, command, "j123456.789")
    assert "unknown jid j123456.789: not in the registry" in line
    assert str(cli.home / "ctl" / "registry.db") in line


# --- inventories and patterns --------------------------------------------------------------------

def test_a_missing_inventory_file_is_named(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    line = refused(cli, "run", "-i", str(missing), "-B", "9", "--", "true")
    assert str(missing) in line and "not found" in line


def test_an_empty_inventory_is_bad_input(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    line = refused(cli, "run", "-i", str(empty), "-B", "9", "--", "true")
    assert str(empty) in line and "inventory is empty" in line


def test_a_pattern_matching_nothing_is_named_and_nothing_is_recorded(cli: Cli) -> None:
    line = refused(cli, "run", "-i", cli.inventory(), "-l", "web*", "-B", "9", "--", "true")
    assert "'web*'" in line and "matches no host" in line


def test_run_without_any_inventory_says_how_to_give_one(cli: Cli) -> None:
    assert "no inventory: give one with -i FILE" in refused(cli, "run", "-B", "9", "--", "true")


# --- options -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["-B", "0"], "-B/--background must be at least 1 second, got 0"),
    (["-B", "nine"], "'-B' / '--background'"),
    (["-P", "-1"], "-P/--poll must be 0 or more seconds, got -1"),
    (["-T", "0"], "-T/--timeout must be more than 0 seconds, got 0"),
    (["--forks", "0"], "'-f' / '--forks'"),
    (["--output-cap", "10"], "--output-cap must be at least 1k, got 10"),
    (["--output-cap", "lots"], "--output-cap 'lots' is not a size"),
    (["--cleanup-after", "soon"], "--cleanup-after 'soon' is not a duration"),
    (["--cleanup-after", "-1d"], "--cleanup-after '-1d' is not a duration"),
    (["-e", "novalue"], "-e 'novalue': expected key=value, @file or JSON"),
    (["-e", "{broken"], "-e '{broken': not valid JSON"),
    (["-e", "@missing.yml"], "missing.yml: cannot read"),
    (["--bogus"], "No such option: --bogus"),
])
def test_a_bad_run_option_is_one_line_and_exit_5(cli: Cli, args: list[str], needle: str) -> None:
    inv = cli.inventory()
    line = refused(cli, "run", "-i", inv, "-P", "0", *args, "--", "true")
    assert needle in line


def test_no_command_after_the_dashes_is_bad_input(cli: Cli) -> None:
    line = refused(cli, "run", "-i", cli.inventory(), "-B", "9", "-P", "0", "--")
    assert "no command given: put it after --" in line


@pytest.mark.parametrize("args, needle", [
    (["kill", "--signal", "BOGUS"], "--signal 'BOGUS' is not a signal name"),
    (["kill", "--grace", "-1"], "--grace must be 0 or more seconds, got -1"),
    (["poll", "--wait", "--retries", "-1"], "--retries and --delay must be 0 or more"),
    (["poll", "--tail", "-1"], "'--tail'"),
    (["cleanup", "--older-than", "1d"], "give either a jid or --older-than, not both"),
])
def test_a_bad_option_on_a_registered_job_is_bad_input(cli: Cli, args: list[str],
                                                       needle: str) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sleep", "10").jid
    assert needle in cli(args[0], jid, *args[1:], code=5).error_line()
    assert json.loads((cli.async_dir("l0") / jid).read_text())["started"] == 1  # untouched


def test_cleanup_refuses_a_negative_grace_as_kill_does(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sleep", "10").jid
    line = cli("cleanup", jid, "--kill", "--grace", "-1", code=5).error_line()
    assert "--grace must be 0 or more seconds" in line
    assert json.loads((cli.async_dir("l0") / jid).read_text())["started"] == 1


def test_all_hosts_together_with_an_inventory_is_bad_input(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "true").jid
    line = cli("poll", jid, "--all-hosts", "-i", inv, code=5).error_line()
    assert "use either --all-hosts" in line and "not both" in line


def test_cleanup_without_a_jid_or_an_age_is_bad_input(cli: Cli) -> None:
    assert "missing jid: ctl cleanup <jid> (or --older-than AGE)" in refused(cli, "cleanup")
    assert "--older-than 'soon' is not a duration" in \
        refused(cli, "cleanup", "--older-than", "soon")


def test_an_unknown_command_is_bad_input(cli: Cli) -> None:
    assert "No such command 'bogus'" in refused(cli, "bogus")
    assert cli("--version", code=0).out.startswith("ctl ")


# --- host outcomes -------------------------------------------------------------------------------

L1_FAILS = 'case $(readlink /proc/$$/fd/1) in */l1/*) echo no >&2; exit 3;; esac; echo yes'


def test_a_failed_command_exits_2(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sh", "-c", "echo why >&2; exit 7").jid
    cli.finish(jid, "l0")
    label, data = blocks(cli("poll", jid, code=2).out)["l0"]
    assert label == "FAILED!" and data["rc"] == 7 and data["stderr"] == "why"
    assert data["msg"] == "non-zero return code"


def test_a_command_that_cannot_start_fails_the_launch_with_exit_2(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    out = cli.launch(inv, "/no/such/command", code=2)
    label, data = blocks(out.out)["l0"]
    assert label == "FAILED!" and "/no/such/command" in data["msg"]
    assert {row.state for row in cli.registry.hosts(out.jid)} == {"failed"}


def test_an_unreachable_host_exits_4_and_costs_only_that_host(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",), down=("down",))
    out = cli.launch(inv, "true", code=4)
    found = blocks(out.out)
    assert found["l0"][0] == "CHANGED" and found["down"][0] == "UNREACHABLE!"
    assert "127.0.0.1" in found["down"][1]["msg"]
    assert "some hosts were unreachable; once they are back: ctl poll" in \
        cli("poll", out.jid, code=4).err


@pytest.mark.parametrize("pattern, code", [("l0", 0), ("l0:l1", 2), ("l1:down", 4),
                                           ("all", 4), ("l0:down", 4)])
def test_the_exit_code_is_the_ansible_clis_rule(cli: Cli, pattern: str, code: int) -> None:
    inv = cli.inventory(local=("l0", "l1"), down=("down",))
    jid = cli.launch(inv, "sh", "-c", L1_FAILS, code=4).jid
    cli.finish(jid, "l0", "l1")
    cli("poll", jid, "-l", pattern, code=code)


# --- kill, cleanup -------------------------------------------------------------------------------

def test_kill_of_a_running_job_records_it_killed_and_exits_0(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sh", "-c", "echo before; sleep 10").jid
    wait_for(lambda: (cli.async_dir("l0") / f"{jid}.stdout").read_text() == "before\n")
    label, data = blocks(cli("kill", jid, code=0).out)["l0"]
    assert label == "CHANGED" and data["killed"] is True and data["signal"] == "SIGTERM"
    assert data["rc"] == -15 and data["stdout"] == "before" and data["finished"] == 1
    record = finished_record(cli.async_dir("l0"), jid)
    assert record is not None and record["killed"] is True  # Ansible reads a failed job
    label, data = blocks(cli("poll", jid, code=2).out)["l0"]
    assert label == "FAILED!" and data["msg"] == "killed by ctl kill (SIGTERM)"
    again = blocks(cli("kill", jid, code=0).out)["l0"]
    assert again[0] == "SUCCESS" and again[1]["msg"] == "job already finished; nothing to kill"


def test_kill_takes_a_signal_by_number(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sleep", "10").jid
    data = blocks(cli("kill", jid, "--signal", "9", code=0).out)["l0"][1]
    assert data["signal"] == "SIGKILL" and data["rc"] == -9


@pytest.mark.parametrize("command", ["kill", "cleanup", "poll", "logs"])
def test_a_pattern_matching_none_of_the_jobs_hosts_is_bad_input(cli: Cli, command: str) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "true").jid
    line = cli(command, jid, *(["nohost"] if command == "logs" else ["-l", "nohost"]),
               code=5).error_line()
    assert "'nohost'" in line and "matches no host" in line


def test_kill_and_cleanup_on_hosts_that_never_had_the_job(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "true").jid
    other = cli.inventory("other.yml", local=("x0",))
    label, data = blocks(cli("kill", jid, "-i", other, code=2).out)["x0"]
    assert label == "FAILED!" and data["msg"] == "could not find job"
    label, data = blocks(cli("cleanup", jid, "-i", other, code=0).out)["x0"]
    assert label == "SUCCESS" and data["msg"].startswith("could not find job; nothing to erase")


# --- Ctrl-C --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [(), ("--json",)])
def test_ctrl_c_during_a_launch_exits_99_and_names_the_jid_to_pick_it_up(
        cli: Cli, monkeypatch: pytest.MonkeyPatch, mode: tuple[str, ...]) -> None:
    async def interrupted(self, command, stdin):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalTransport, "run", interrupted)
    inv = cli.inventory(local=("l0", "l1"))
    out = cli("run", "-i", inv, "-B", "9", "-P", "0", *mode, "--", "true", code=99)
    [job] = cli.registry.jobs()
    assert {row.state for row in cli.registry.hosts(job.jid)} == {"launching"}
    assert out.err.splitlines()[-1] == \
        f"ctl: error: interrupted; what was launched is recorded: ctl poll {job.jid} " \
        f"--all-hosts; to finish the launch: ctl resume {job.jid}"
