"""Output modes from the real CLI and the renderers, without sshd: Ansible's text blocks and
recap, ``-o``, ``--json`` (JSON Lines only), ``-g``, ``-t DIR``, colour, ``ctl logs``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.api import Job, Targets
from controller.render import JsonOutput, TextOutput
from controller.results import HostResult, Status
from controller.transport.fake import FakeHosts
from tests.support.fast import Cli, blocks, fake_controller, fake_specs, waiting_job

KEYS = {"event", "op", "jid", "host", "status", "data"}


def finished_job(cli: Cli, inv: str, *command: str, hosts: tuple[str, ...] = ("l0",),
                 code: int = 0) -> str:
    jid = cli.launch(inv, *command, code=code).jid
    cli.finish(jid, *hosts)
    return jid


# --- text --------------------------------------------------------------------------------------

def test_text_mode_prints_a_block_per_host_then_a_recap_and_the_closing_line_on_stderr(
        cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"), down=("down",))
    out = cli.launch(inv, "true", code=4)
    jid = out.jid
    found = blocks(out.out)
    assert {h: label for h, (label, _) in found.items()} == \
        {"l0": "CHANGED", "l1": "CHANGED", "down": "UNREACHABLE!"}
    assert found["l0"][1] == {"ansible_job_id": jid, "changed": True, "finished": 0,
                              "started": 1, "results_file": str(cli.async_dir("l0") / jid)}
    assert found["down"][1]["unreachable"] is True and found["down"][1]["changed"] is False
    recap = out.out[out.out.index("RECAP *"):].splitlines()
    assert recap[1:] == ["down : changed=0  ok=0  running=0  failed=0  unreachable=1",
                         "l0   : changed=1  ok=0  running=0  failed=0  unreachable=0",
                         "l1   : changed=1  ok=0  running=0  failed=0  unreachable=0"]
    assert out.err == f"ctl: job {jid} on 3 host(s); next: ctl poll {jid} --all-hosts (1 " \
                      f"host(s) without the job: ctl resume {jid} once they can take it)\n"
    assert "\x1b[" not in out.out  # stdout is not a terminal here: no colour


@pytest.mark.parametrize("env, tty, coloured", [
    ({}, True, True), ({"NO_COLOR": "1"}, True, False), ({"TERM": "dumb"}, True, False),
    ({}, False, False)])
def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str],
                                                    env: dict[str, str], tty: bool,
                                                    coloured: bool) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.stdout.isatty", lambda: tty)
    text = TextOutput()
    text.result("poll", HostResult("h1", Status.CHANGED, {"changed": True}))
    text.result("poll", HostResult.unreachable("h2", "refused"))
    text.end("poll", [HostResult("h1", Status.OK, {})])
    out = capsys.readouterr().out
    assert ("\x1b[33mh1 | CHANGED => {" in out and "\x1b[31mh2 | UNREACHABLE!" in out
            and "\x1b[32mh1 : changed=0  ok=1" in out) is coloured
    assert ("\x1b[" in out) is coloured


# --- one line ----------------------------------------------------------------------------------

L1_FAILS = 'case $(readlink /proc/$$/fd/1) in */l1/*) echo no >&2; exit 3;; esac; ' \
           'printf "hi\\nthere\\n"; echo oops >&2'


def test_one_line_mode_prints_rc_stdout_and_stderr_of_each_finished_host(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"), down=("down",))
    jid = finished_job(cli, inv, "sh", "-c", L1_FAILS, hosts=("l0", "l1"), code=4)
    out = cli("poll", jid, "-o", code=4)
    lines = [line for line in out.out.splitlines() if " | " in line and " : " not in line]
    assert "l0 | CHANGED | rc=0 | (stdout) hi\\nthere (stderr) oops" in lines
    assert "l1 | FAILED! | rc=3 | (stdout)  (stderr) no" in lines
    [down] = [line for line in lines if line.startswith("down | ")]
    assert down.startswith("down | UNREACHABLE! => {") and \
        json.loads(down.split(" => ", 1)[1])["unreachable"] is True
    assert len(lines) == 3


def test_one_line_mode_shows_a_launch_as_compact_json(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    out = cli.launch(inv, "true", extra=("-o",))
    [line] = [x for x in out.out.splitlines() if x.startswith("l0 | ")]
    assert line.startswith("l0 | CHANGED => {")
    assert json.loads(line.split(" => ", 1)[1])["ansible_job_id"] == out.jid


# --- JSON Lines ----------------------------------------------------------------------------------

def test_json_mode_prints_only_json_lines_with_the_documented_keys(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"), down=("down",))
    out = cli.launch(inv, "true", code=4, extra=("--json",))
    events = out.json_lines()  # every stdout line parses
    assert len(events) == 3 and all(set(e) == KEYS for e in events)
    assert {e["event"] for e in events} == {"result"} and {e["op"] for e in events} == {"launch"}
    assert {e["jid"] for e in events} == {out.jid}
    assert {e["host"]: e["status"] for e in events} == \
        {"l0": "changed", "l1": "changed", "down": "unreachable"}
    assert all(e["data"]["ansible_job_id"] == out.jid for e in events if e["host"] != "down")
    assert "RECAP" not in out.out and f"ctl: job {out.jid}" in out.err


async def test_json_poll_rounds_give_poll_then_done_then_result_events(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    go = tmp_path / "go"

    class Json(JsonOutput):
        quiet_launch = True  # as the CLI sets it under -P N

        def poll_tick(self, jid, result):  # type: ignore[no-untyped-def]
            super().poll_tick(jid, result)
            go.touch()

    ctl = fake_controller(tmp_path, FakeHosts(), Json())
    jid, _ = await ctl.run(Targets(fake_specs(tmp_path, 1)),
                           Job(waiting_job(go), timeout=10, poll=0.05))
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(set(e) == KEYS and e["jid"] == jid and e["host"] == "h0" for e in events)
    kinds = [(e["event"], e["op"], e["status"]) for e in events]
    assert kinds[0] == ("poll", "poll", "running") and events[0]["data"]["finished"] == 0
    assert kinds[-2:] == [("done", "poll", "changed"), ("result", "poll", "changed")]
    assert set(kinds[:-2]) == {("poll", "poll", "running")}
    assert events[-1]["data"]["stdout"] == "done"


def test_json_names_the_op_of_cleanup_kill_and_gc(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "sleep", "10").jid
    [killed] = cli("kill", jid, "--json", code=0).json_lines()
    assert (killed["event"], killed["op"], killed["status"], killed["jid"]) == \
        ("result", "kill", "changed", jid)
    [erased] = cli("cleanup", jid, "--json", code=0).json_lines()
    assert (erased["op"], erased["status"]) == ("cleanup", "ok") and erased["data"]["erased"]
    [swept] = cli("cleanup", "--older-than", "1d", "-i", inv, "--json", code=0).json_lines()
    assert swept["op"] == "gc" and swept["jid"] is None and swept["host"] == "l0"
    assert swept["data"]["async_dir"] == str(cli.async_dir("l0"))


# --- grouped, tree -----------------------------------------------------------------------------

ODD_N3 = 'case $(readlink /proc/$$/fd/1) in */n3/*) echo odd;; *) echo same;; esac'


def test_group_identical_folds_hosts_with_the_same_output(cli: Cli) -> None:
    names = ("n1", "n2", "n3", "n4")
    inv = cli.inventory(local=names)
    jid = finished_job(cli, inv, "sh", "-c", ODD_N3, hosts=names)
    out = cli("poll", jid, "-g", code=0)
    lines = out.out.splitlines()
    assert lines[:3] == ["-" * 15, "n[1-2,4] (3) | CHANGED", "-" * 15]
    second = lines.index("n3 (1) | CHANGED")
    assert lines[second - 1] == lines[second + 1] == "-" * 15
    first_data = json.loads("\n".join(lines[3:second - 1]))
    assert first_data["stdout"] == "same" and first_data["rc"] == 0
    for volatile in ("start", "end", "delta", "results_file", "ansible_job_id"):
        assert volatile not in first_data  # times, paths and ids aside
    assert out.out.count('"stdout": "same"') == 1 and out.out.count('"stdout": "odd"') == 1
    assert "RECAP *" in out.out


def test_tree_writes_each_hosts_final_result_to_dir_host(cli: Cli, tmp_path: Path) -> None:
    inv = cli.inventory(local=("l0", "l1"), down=("down",))
    jid = finished_job(cli, inv, "echo", "tree", hosts=("l0", "l1"), code=4)
    tree = tmp_path / "tree" / "deeper"
    out = cli("poll", jid, "-t", str(tree), code=4)
    assert sorted(p.name for p in tree.iterdir()) == ["down", "l0", "l1"]
    shown = blocks(out.out)  # the normal output is printed too
    for host in ("l0", "l1", "down"):
        assert json.loads((tree / host).read_text()) == shown[host][1]
    assert json.loads((tree / "l0").read_text())["stdout"] == "tree"


def test_tree_combines_with_json_and_stdout_stays_json_only(cli: Cli, tmp_path: Path) -> None:
    inv = cli.inventory(local=("l0",))
    out = cli.launch(inv, "true", extra=("--json", "-t", str(tmp_path / "t")))
    [event] = out.json_lines()
    assert json.loads((tmp_path / "t" / "l0").read_text()) == event["data"]


def test_a_tree_dir_that_cannot_be_made_is_bad_input(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    inv = cli.inventory(local=("l0",))
    out = cli("run", "-i", inv, "-B", "9", "-P", "0", "-t", str(tmp_path / "file" / "t"), "--",
              "true", code=5)
    assert "--tree" in out.error_line() and "cannot create it" in out.error_line()
    assert cli.registry.jobs() == []


@pytest.mark.parametrize("modes", [("-o", "--json"), ("-o", "-g"), ("--json", "-g"),
                                   ("-o", "--json", "-g")])
def test_choosing_two_output_modes_is_bad_input(cli: Cli, modes: tuple[str, ...]) -> None:
    inv = cli.inventory(local=("l0",))
    out = cli("run", "-i", inv, "-B", "9", "-P", "0", *modes, "--", "true", code=5)
    assert "choose one of -o/--one-line, --json, -g/--group-identical" in out.error_line()
    assert cli.registry.jobs() == []  # refused before anything was recorded


# --- logs, -v ----------------------------------------------------------------------------------

TALK = 'echo o1; echo e1 >&2; echo o2; printf "e2 no newline" >&2'


def test_logs_print_stdout_and_stderr_lines_apart_each_prefixed_by_its_host(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"))
    jid = finished_job(cli, inv, "sh", "-c", TALK, hosts=("l0", "l1"))
    out = cli("logs", jid, code=0)
    assert sorted(out.out.splitlines()) == ["l0 | o1", "l0 | o2", "l1 | o1", "l1 | o2"]
    assert sorted(out.err.splitlines()) == ["l0 | e1", "l0 | e2 no newline", "l1 | e1",
                                            "l1 | e2 no newline"]
    one = cli("logs", jid, "l1", code=0)
    assert one.out.splitlines() == ["l1 | o1", "l1 | o2"]


def test_logs_of_an_erased_job_say_so_for_each_host(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = finished_job(cli, inv, "echo", "gone")
    cli("cleanup", jid, code=0)
    out = cli("logs", jid, code=2)
    assert out.out == "" and out.err.splitlines() == ["ctl: l0: could not find job"]


def test_verbose_lines_name_the_host_and_the_jid(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    out = cli("run", "-i", inv, "-B", "9", "-P", "0", "-vv", "--", "true", code=0)
    logged = [line for line in out.err.splitlines() if line.startswith("ctl: [")]
    assert logged[:3] == [f"ctl: [l0 {out.jid}] connected to l0", f"ctl: [l0 {out.jid}] launch",
                          f"ctl: [l0 {out.jid}] launch (pushing the wrapper)"]  # -vv: each call
    quieter = cli("run", "-i", inv, "-B", "9", "-P", "0", "-v", "--", "true", code=0)
    assert [line for line in quieter.err.splitlines() if line.startswith("ctl: [")] == \
        [f"ctl: [l0 {quieter.jid}] connected to l0"]  # -v: connections only
    assert "ctl: [" not in cli.launch(inv, "true").err  # and nothing without -v
