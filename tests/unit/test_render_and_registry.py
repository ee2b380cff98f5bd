"""Pure units of the output modes and the registry: one-line and poll lines, the recap,
grouping and tree files, host outcomes and counts, the registry round trip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from controller.hosts import HostSpec
from controller.registry import HostRow, Registry, outcome, summary
from controller.render import (
    GroupedOutput,
    JsonOutput,
    Output,
    TreeOutput,
    done_line,
    identity,
    job_table,
    one_line,
    poll_line,
    recap,
    safe_filename,
)
from controller.results import HostResult, Status

FINISHED = {"ansible_job_id": "j1.2", "changed": True, "finished": 1, "rc": 0,
            "stdout": "a\nb", "stderr": "", "start": "s", "end": "e", "delta": "d",
            "results_file": "/x/j1.2"}


# --- lines -----------------------------------------------------------------------------------

def test_one_line_of_a_finished_command_escapes_newlines_and_adds_stderr() -> None:
    assert one_line(HostResult("h1", Status.CHANGED, FINISHED)) == \
        "h1 | CHANGED | rc=0 | (stdout) a\\nb"
    failed = dict(FINISHED, rc=2, stdout="", stderr="x\ny", failed=True)
    assert one_line(HostResult("h1", Status.FAILED, failed)) == \
        "h1 | FAILED! | rc=2 | (stdout)  (stderr) x\\ny"


def test_one_line_of_anything_else_is_compact_json() -> None:
    running = {"ansible_job_id": "j1.2", "started": 1, "finished": 0, "rc": 0, "stdout": ""}
    line = one_line(HostResult("h1", Status.RUNNING, running))
    assert line.startswith("h1 | SUCCESS => {") and "\n" not in line
    assert json.loads(line.split(" => ", 1)[1]) == running


def test_poll_and_done_lines_are_ansibles() -> None:
    assert poll_line("j1.2", HostResult("h1", Status.RUNNING, {})) == \
        "ASYNC POLL on h1: jid=j1.2 started=1 finished=0"
    assert poll_line("j1.2", HostResult.unreachable("h1", "refused")) == \
        "ASYNC POLL on h1: jid=j1.2 unreachable, will retry: refused"
    assert done_line("j1.2", HostResult("h1", Status.OK, {})) == "ASYNC OK on h1: jid=j1.2"
    assert done_line("j1.2", HostResult("h1", Status.CHANGED, {})) == "ASYNC OK on h1: jid=j1.2"
    assert done_line("j1.2", HostResult.failed("h1", "x")) == "ASYNC FAILED on h1: jid=j1.2"


def test_the_recap_has_a_padded_line_per_host_sorted_by_name() -> None:
    text = recap([HostResult("web10", Status.FAILED), HostResult("db", Status.RUNNING)])
    assert text.splitlines() == [
        "RECAP " + "*" * 60,
        "db    : changed=0  ok=0  running=1  failed=0  unreachable=0",
        "web10 : changed=0  ok=0  running=0  failed=1  unreachable=0"]


def test_the_recap_becomes_counts_past_twenty_hosts() -> None:
    results = [HostResult(f"h{i}", Status.CHANGED) for i in range(19)] + \
        [HostResult("x", Status.UNREACHABLE), HostResult("y", Status.FAILED)]
    assert recap(results).splitlines()[1] == \
        "21 hosts: changed=19  ok=0  running=0  failed=1  unreachable=1"
    assert len(recap(results[:20]).splitlines()) == 21  # 20 hosts: still one line each


def test_output_replaces_bytes_that_are_not_utf8(capsys: pytest.CaptureFixture[str]) -> None:
    Output().say("caf\udce9 ok")  # a lone surrogate from surrogateescape
    assert capsys.readouterr().out == "caf\ufffd ok\n"


# --- grouping, tree, json ----------------------------------------------------------------------

def test_identity_ignores_times_paths_and_ids_only() -> None:
    other_times = dict(FINISHED, start="t", end="u", delta="v", results_file="/y/j3.4",
                       ansible_job_id="j3.4")
    assert identity(HostResult("a", Status.CHANGED, FINISHED)) == \
        identity(HostResult("b", Status.CHANGED, other_times))
    assert identity(HostResult("a", Status.CHANGED, FINISHED)) != \
        identity(HostResult("a", Status.CHANGED, dict(FINISHED, stdout="c")))


def test_grouped_output_prints_the_biggest_group_first(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    same = [HostResult(f"web{i}", Status.CHANGED, dict(FINISHED, start=str(i)))
            for i in (1, 2, 4)]
    odd = HostResult("web3", Status.CHANGED, dict(FINISHED, stdout="odd"))
    down = HostResult.unreachable("db", "refused")
    GroupedOutput().end("poll", [odd, down] + same)
    out = capsys.readouterr().out
    headers = [line for line in out.splitlines() if " | " in line and " : " not in line]
    assert headers == ["web[1-2,4] (3) | CHANGED", "db (1) | UNREACHABLE!", "web3 (1) | CHANGED"]
    assert '"start"' not in out and out.count('"stdout": "a\\nb"') == 1


def test_tree_files_stay_inside_the_directory(tmp_path: Path) -> None:
    assert safe_filename("a/b") == "a_b" and safe_filename(".x") == "_.x"
    assert safe_filename("") == "_"
    tree = TreeOutput(str(tmp_path / "t"), Output())
    tree.end("poll", [HostResult("../evil", Status.OK, {"rc": 0}),
                      HostResult("web1", Status.CHANGED, FINISHED)])
    assert sorted(os.listdir(tmp_path / "t")) == ["_.._evil", "web1"]
    assert json.loads((tmp_path / "t" / "web1").read_text()) == FINISHED


def test_json_output_hides_launches_under_poll_and_has_no_jid_for_gc(
        capsys: pytest.CaptureFixture[str]) -> None:
    out = JsonOutput()
    out.quiet_launch = True
    out.begin("launch", "j1.2", 2)
    out.result("launch", HostResult("h1", Status.CHANGED, {"changed": True}))
    out.result("launch", HostResult.failed("h2", "boom"))
    out.begin("gc", None, 1)
    [failed] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert failed["host"] == "h2" and failed["status"] == "failed" and failed["jid"] == "j1.2"
    gc = JsonOutput()
    gc.begin("gc", None, 1)
    gc.result("gc", HostResult("h1", Status.OK, {"erased": []}))
    assert json.loads(capsys.readouterr().out)["jid"] is None


def test_job_table_aligns_columns_and_shows_a_dash_for_no_hosts() -> None:
    text = job_table([("j1.2", "2026-01-01 00:00:00", "active", {"running": 2, "ok": 0}, "true"),
                      ("j10.20", "2026-01-01 00:00:01", "cleaned", {"running": 0}, "sleep 1")])
    header, first, second = text.splitlines()
    assert header.split() == ["JID", "CREATED", "STATE", "HOSTS", "COMMAND"]
    assert first.index("2026") == second.index("2026") == header.index("CREATED")
    assert first.index("active") == second.index("cleaned") == header.index("STATE")
    assert first.index("running=2") == second.index("-  ") == header.index("HOSTS")
    assert first.endswith("running=2  true") and second.endswith("sleep 1")


# --- registry ----------------------------------------------------------------------------------

def row(state: str, **last: object) -> HostRow:
    return HostRow("h1", HostSpec("h1"), [], state, dict(last))


@pytest.mark.parametrize("host_row, expected", [
    (row("launching"), "launching"),
    (row("started", status="changed", finished=0), "running"),
    (row("started", status="running", finished=0), "running"),
    (row("started", status="changed", rc=0, finished=1), "ok"),
    (row("started", status="ok"), "ok"),
    (row("started", status="failed", rc=2), "failed"),
    (row("unreachable", status="unreachable"), "unreachable"),
    (row("started", status="failed", lost=True), "lost"),
    (row("erased", status="ok", erased="/x"), "erased"),
])
def test_each_host_is_counted_by_its_last_outcome(host_row: HostRow, expected: str) -> None:
    assert outcome(host_row) == expected


def test_the_registry_keeps_a_summary_never_the_output() -> None:
    kept = summary(HostResult("h1", Status.FAILED, dict(FINISHED, rc=3, msg="m", lost=True,
                                                        stdout="secret", stderr="secret")))
    assert kept == {"status": "failed", "rc": 3, "msg": "m", "finished": 1, "lost": True}


def test_the_registry_is_private(tmp_path: Path) -> None:
    registry = Registry(str(tmp_path / "reg"))
    registry.create_job("j1.2", ["true"], False, 9, 0, [], [(HostSpec("a"), [])])
    assert oct((tmp_path / "reg").stat().st_mode & 0o777) == "0o700"
    assert oct((tmp_path / "reg" / "registry.db").stat().st_mode & 0o777) == "0o600"


def _open_and_record(home: str, n: int, barrier, answers) -> None:  # type: ignore[no-untyped-def]
    barrier.wait()  # all at the same moment
    try:
        registry = Registry(home)
        registry.create_job(f"j{n}.1", ["true"], False, 10, 0, [],
                            [(HostSpec(f"h{i}"), []) for i in range(40)])
        for _ in range(5):  # and its later opens, while others write
            seen = len(registry.hosts(f"j{n}.1"))
            registry.jobs()
        answers.put(f"{seen} hosts")
    except Exception as exc:  # noqa: BLE001 (the answer says what went wrong)
        answers.put(repr(exc))


def test_a_new_registry_opened_by_many_processes_at_once_loses_nothing(tmp_path) -> None:
    """16 ctl processes meet a registry that does not exist yet (cron at midnight): SQLite
    refused some of them "database is locked" at once; now each gets in."""
    import multiprocessing
    context = multiprocessing.get_context("fork")
    for round_ in range(6):
        home = str(tmp_path / f"r{round_}")
        barrier, answers = context.Barrier(16), context.Queue()
        procs = [context.Process(target=_open_and_record, args=(home, n, barrier, answers))
                 for n in range(16)]
        for proc in procs:
            proc.start()
        got = sorted(answers.get(timeout=60) for _ in procs)
        for proc in procs:
            proc.join(30)
        assert got == ["40 hosts"] * 16
        assert len(Registry(home).jobs()) == 16
