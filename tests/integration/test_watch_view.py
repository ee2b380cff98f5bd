"""The watch view driven headless by Textual's own Pilot over fake hosts that run the real
wrapper here: what the screen says, and what its keys do to the job on the hosts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import pytest

from controller.api import Job, Targets
from controller.results import Status
from controller.transport.fake import FakeHosts
from controller.watch.board import Cell
from controller.watch.view import Output, WatchApp
from controller.watch.watcher import Watcher
from tests.support.fast import (
    Cli,
    fake_controller,
    fake_specs,
    finished_record,
    op_of,
    reap_jobs,
    with_env,
)

# h0 fails with a line on stderr, h1 and h2 keep running (until the file "go" exists),
# every other host prints and succeeds
MIXED = ('case "$FAKE_HOST" in h0) echo warming up >&2; echo "disk full on h0" >&2; exit 3;; '
         'h1|h2) echo "step 1 on $FAKE_HOST"; while [ ! -e "$GO" ]; do sleep 0.05; done;; '
         '*) echo "done on $FAKE_HOST";; esac')


@pytest.fixture(autouse=True)
def reaper(tmp_path: Path) -> Iterator[None]:
    yield
    reap_jobs(tmp_path)


async def started(tmp_path: Path, count: int = 6, hosts: FakeHosts | None = None,
                  forks: int = 50) -> tuple[Watcher, Any]:
    hosts = hosts or FakeHosts(with_env)
    controller = fake_controller(tmp_path, hosts, forks=forks)
    specs = fake_specs(tmp_path, count)
    go = tmp_path / "go"
    command = f'GO={go}; {MIXED}'
    jid, launched = await controller.run(Targets(specs), Job(command, timeout=60, shell=True))
    assert all(r.status is Status.CHANGED for r in launched)
    return Watcher(controller, jid, Targets(specs)), specs


@contextlib.asynccontextmanager
async def viewing(tmp_path: Path, count: int = 6, settled: bool = True
                  ) -> AsyncIterator[tuple[WatchApp, Any, Watcher, list[Any]]]:
    """The view of a job on ``count`` fake hosts at 80x24, once a round has been drawn
    (with ``settled``: a round where every host but h1 and h2 finished)."""
    watcher, specs = await started(tmp_path, count)
    app = WatchApp(watcher)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, settled_round(watcher) if settled else lambda: watcher.rounds >= 1)
        await pilot.pause(0.6)  # a redraw
        yield app, pilot, watcher, specs


def screen(app: WatchApp) -> str:
    """The screen as text, line by line, as a person sees it."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def until(pilot: Any, check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s:\n{screen(pilot.app)}")
        await pilot.pause(0.05)


def settled_round(watcher: Watcher) -> Callable[[], bool]:
    """True once a round saw h0 fail and every host other than h1, h2 finish."""
    def check() -> bool:
        cells = {n: v.cell for n, v in watcher.board.hosts.items()}
        return watcher.rounds >= 1 and cells["h0"] is Cell.FAILED and all(
            c is Cell.OK for n, c in cells.items() if n not in ("h0", "h1", "h2"))
    return check


async def test_the_screen_shows_counts_as_poll_gives_them_the_failed_line_and_who_is_slow(
        tmp_path: Path) -> None:
    async with viewing(tmp_path) as (app, pilot, watcher, specs):
        text = screen(app)
        polled = await watcher.controller.poll(watcher.jid, watcher.targets)
        by_status = {s: sum(1 for r in polled if r.status is s) for s in Status}
        assert f"running {by_status[Status.RUNNING]} " in text
        assert f"ok {by_status[Status.CHANGED] + by_status[Status.OK]} " in text
        assert f"failed {by_status[Status.FAILED]} " in text and "unreachable 0" in text
        assert "disk full on h0" in text and "warming up" not in text  # the last line
        assert "step 1 on h1" in text and "step 1 on h2" in text  # the slow ones
        assert "xh0" in text and ">h1" in text and "+h3" in text  # a cell per host
        assert " 4/6 " in text and "q quit" in text
        assert all(len(line) <= 80 for line in text.splitlines())
        await pilot.press("q")
    assert {r.host for r in app.return_value} == {s.name for s in specs}
    assert finished_record(specs[1].async_dir, watcher.jid) is None  # still running
    assert "left running" in watcher.pickup_line() and \
        f"ctl poll {watcher.jid} --all-hosts" in watcher.pickup_line()


async def test_ctrl_c_leaves_the_view_and_the_job_as_it_is(tmp_path: Path) -> None:
    async with viewing(tmp_path, count=3, settled=False) as (app, pilot, watcher, specs):
        await pilot.press("ctrl+c")
    assert app.return_value is not None
    assert finished_record(specs[1].async_dir, watcher.jid) is None
    assert all(op_of(c, b"") != "kill" for _, c in watcher.controller.connect.commands)


async def test_f_shows_only_the_hosts_that_went_wrong(tmp_path: Path) -> None:
    async with viewing(tmp_path) as (app, pilot, watcher, _):
        await pilot.press("f")
        await pilot.pause(0.1)
        text = screen(app)
        assert "failed, unreachable, lost, never started: 1 of 6" in text
        assert "xh0" in text and "+h3" not in text and ">h1" not in text
        await pilot.press("f")
        await pilot.pause(0.1)
        assert "+h3" in screen(app)


async def test_a_hosts_output_opens_live_and_polling_goes_on_when_it_closes(
        tmp_path: Path) -> None:
    async with viewing(tmp_path) as (app, pilot, watcher, specs):
        assert app.selected() == "h0"  # what went wrong has the focus first
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, Output))
        await until(pilot, lambda: "disk full on h0" in screen(app))
        assert "warming up" in screen(app)  # the whole output, not just the last line
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, Output))
        await pilot.press("tab", "o")  # who is slow: h1 first (by name), live
        await until(pilot, lambda: "step 1 on h1" in screen(app) and "output of h1" in
                    screen(app))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, Output))
        rounds = watcher.rounds
        await until(pilot, lambda: watcher.rounds > rounds)  # the poll rounds went on
        await pilot.press("q")


async def test_kill_on_the_selected_host_asks_first_then_stops_only_that_host(
        tmp_path: Path) -> None:
    async with viewing(tmp_path) as (app, pilot, watcher, specs):
        await pilot.press("tab")  # who is slow
        await until(pilot, lambda: "» Who is slow" in screen(app))
        slow = app.selected()
        assert slow in ("h1", "h2")
        await pilot.press("k")
        await until(pilot, lambda: "Kill job" in screen(app) and f"on {slow}?" in screen(app))
        await pilot.press("n")
        await pilot.pause(0.3)
        assert finished_record(specs[int(slow[1])].async_dir, watcher.jid) is None
        await pilot.press("k", "y")
        record = await until(pilot, lambda: finished_record(
            specs[int(slow[1])].async_dir, watcher.jid))
        assert record["killed"] is True
        await until(pilot, lambda: watcher.board.hosts[slow].cell is Cell.FAILED)
        other = "h2" if slow == "h1" else "h1"
        assert watcher.board.hosts[other].cell is Cell.RUNNING
        assert finished_record(specs[int(other[1])].async_dir, watcher.jid) is None
        await pilot.press("q")


async def test_kill_all_stops_the_job_on_every_host_after_a_confirmation(
        tmp_path: Path) -> None:
    async with viewing(tmp_path) as (app, pilot, watcher, specs):
        await pilot.press("K")
        await until(pilot, lambda: "on every host (6)?" in screen(app))
        await pilot.press("y")
        await until(pilot, lambda: watcher.board.settled and watcher.board.counts()[
            Cell.RUNNING] == 0)
        for spec in specs[1:3]:
            assert finished_record(spec.async_dir, watcher.jid)["killed"] is True
        await until(pilot, lambda: "every host finished" in screen(app))
        await pilot.press("q")
    assert "every host finished" in watcher.pickup_line()


async def test_150_hosts_fold_at_80x24_and_unfold_when_the_terminal_grows(
        tmp_path: Path) -> None:
    controller = fake_controller(tmp_path, FakeHosts())
    specs = fake_specs(tmp_path, 150, seeded=False)
    jid = "j123456789.4242"  # recorded, never launched: every host says so
    controller.registry.create_job(jid, ["true"], False, 60, 0, [], [(s, []) for s in specs])
    watcher = Watcher(controller, jid, Targets(specs))
    app = WatchApp(watcher)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: watcher.rounds >= 1)
        await pilot.pause(0.6)
        text = screen(app)
        assert "never started 150" in text and "150 of 150, folded ranges" in text
        assert "h[0-1" in text and "-149]" in text and len(text.splitlines()) == 24
        assert all(len(line) <= 80 for line in text.splitlines())
        await pilot.resize_terminal(200, 60)
        await until(pilot, lambda: "one cell each" in screen(app))
        assert "-h149" in screen(app)
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: "folded ranges" in screen(app))
        await pilot.press("q")


async def test_rounds_keep_to_the_forks_limit_and_wait_twice_as_long_as_they_took(
        tmp_path: Path) -> None:
    busy = {"now": 0, "most": 0}

    async def slow_status(spec, command, stdin):  # type: ignore[no-untyped-def]
        if op_of(command, stdin) != "status":
            return await with_env(spec, command, stdin)
        busy["now"] += 1
        busy["most"] = max(busy["most"], busy["now"])
        await asyncio.sleep(0.2)
        try:
            return await with_env(spec, command, stdin)
        finally:
            busy["now"] -= 1

    watcher, _ = await started(tmp_path, count=6, hosts=FakeHosts(slow_status), forks=2)
    await watcher.poll_once()
    assert busy["most"] == 2  # the forks limit, as ctl poll -f 2
    assert watcher.last_round >= 0.6  # 6 hosts, 2 at a time, 0.2 s each
    assert watcher.interval == max(1.0, 2 * watcher.last_round)
    assert watcher.results and len(watcher.results) == 6


async def test_no_color_is_honoured_and_the_marks_still_tell_the_states(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    async with viewing(tmp_path, count=4) as (app, pilot, watcher, _):
        assert app.no_color  # Textual renders in monochrome
        assert "xh0" in screen(app) and ">h1" in screen(app) and "+h3" in screen(app)
        await pilot.press("q")


# --- the commands, not on a terminal -----------------------------------------------------

@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path, monkeypatch)


def test_watch_without_a_terminal_is_refused_in_one_line(cli: Cli) -> None:
    inv = cli.inventory(local=("l0",))
    jid = cli.launch(inv, "true").jid
    out = cli("watch", jid, code=5)
    assert out.error_line() == f"ctl: error: ctl watch needs a terminal (stdin, stdout and " \
                               f"stderr); without one: ctl poll {jid} --wait"


def test_watch_flags_without_a_terminal_say_so_and_do_the_plain_command(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1"))
    ran = cli("run", "-i", inv, "-B", "20", "-P", "1", "--watch", "--", "echo", "hi", code=0)
    assert ran.err.count("--watch needs a terminal") == 1
    assert "ASYNC OK on l0" in ran.out and '"stdout": "hi"' in ran.out  # as -P 1 does
    jid = cli.launch(inv, "echo", "again").jid
    polled = cli("poll", jid, "--wait", "--delay", "0.2", "--watch", code=0)
    assert polled.err.count("--watch needs a terminal") == 1
    assert '"finished": 1' in polled.out and '"stdout": "again"' in polled.out
