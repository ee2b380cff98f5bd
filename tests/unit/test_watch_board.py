"""The watch's model without a screen: states from poll results, ETA, histogram, the pace of
the rounds, and the cells laid out (one per host, or folded) in any size."""

from __future__ import annotations

from controller.results import HostResult, Status
from controller.watch.board import (
    Board,
    Cell,
    cell_of,
    clock_text,
    next_interval,
    seconds,
    sparkline,
)
from controller.watch.layout import lay_out


def done(host: str, delta: str, rc: int = 0, **data: object) -> HostResult:
    status = Status.CHANGED if rc == 0 else Status.FAILED
    return HostResult(host, status, {"rc": rc, "delta": delta, "finished": 1, "changed": True,
                                     "failed": rc != 0, **data})


def running(host: str, out: str = "") -> HostResult:
    return HostResult(host, Status.RUNNING, {"started": 1, "finished": 0,
                                             "stdout_tail": [out] if out else [],
                                             "stderr_tail": []})


def test_each_poll_result_has_one_state_with_lost_and_never_started_told_apart() -> None:
    never = HostResult.failed("h5", "the job was never started on this host: it was "
                                    "unreachable at launch")
    lost = HostResult("h4", Status.FAILED, {"failed": True, "lost": True, "msg": "job lost"})
    assert cell_of(running("h1")) is Cell.RUNNING
    assert cell_of(done("h2", "0:00:01")) is Cell.OK
    assert cell_of(HostResult("h2", Status.OK, {})) is Cell.OK
    assert cell_of(done("h3", "0:00:01", rc=3)) is Cell.FAILED
    assert cell_of(lost) is Cell.LOST
    assert cell_of(never) is Cell.NEVER
    assert cell_of(HostResult.unreachable("h6", "refused")) is Cell.UNREACHABLE
    assert len({c.glyph for c in Cell}) == len(Cell)  # told apart without colour


def test_durations_are_read_from_ansibles_delta() -> None:
    assert seconds("0:00:01.504432") == 1.504432
    assert seconds("1 day, 2:03:04") == 86400 + 2 * 3600 + 3 * 60 + 4
    assert seconds("2 days, 0:00:00.5") == 2 * 86400 + 0.5
    assert seconds(None) is None and seconds("soon") is None
    assert clock_text(None) == "-:--" and clock_text(65) == "1:05"
    assert clock_text(3725) == "1:02:05"


def test_what_went_wrong_shows_rc_and_the_last_stderr_line_else_the_message() -> None:
    board = Board("j1.2", ["a", "b", "c"])
    board.update(done("a", "0:00:02", rc=3, stderr="warming up\ndisk full\n\n"))
    board.update(HostResult.unreachable("b", "Connection refused"))
    board.update(done("c", "0:00:01", stdout="fine"))
    problems = board.problems()
    assert [(v.name, v.cell, v.rc, v.line) for v in problems] == [
        ("a", Cell.FAILED, "3", "disk full"), ("b", Cell.UNREACHABLE, "", "Connection refused")]
    assert board.hosts["c"].line == "fine" and board.finished == 3 and board.settled


def test_eta_takes_the_running_hosts_to_keep_the_pace_of_those_that_succeeded() -> None:
    wall = {"now": 1030.0}
    board = Board("j1.2", ["a", "b", "c", "d", "e", "f"], launched=1000.0,
                  wall=lambda: wall["now"])
    board.update(running("d", "step 3"))
    board.update(done("f", "0:00:00.1", rc=2))
    assert board.eta() is None  # nothing succeeded yet: a failure sets no pace
    for host, delta in (("a", "0:00:05"), ("b", "0:00:20"), ("c", "0:00:30")):
        board.update(done(host, delta))
    board.update(running("e"))
    assert board.elapsed(board.hosts["d"]) == 30.0
    assert board.eta() == 20.0  # 3 took up to 30 s: 5 at that pace take 50 s, 30 s gone
    wall["now"] = 1060.0  # past that time: no estimate rather than a wrong one
    assert board.eta() is None
    counts, top = board.histogram(3)
    assert top == 30.0 and counts == [2, 0, 2] and sparkline(counts) == "█ █"


def test_who_is_slow_sorts_running_hosts_by_elapsed_then_by_how_long_they_were_quiet(
        ) -> None:
    clock = {"now": 0.0}
    board = Board("j1.2", ["a", "b", "c"], clock=lambda: clock["now"])
    board.update(running("a", "1"))
    board.update(running("b", "1"))
    clock["now"] = 5.0
    board.update(running("a", "2"))  # new output: a was quiet 0 s, b 5 s
    board.update(running("c"))
    clock["now"] = 7.0
    assert [v.name for v in board.slow()] == ["b", "a", "c"]  # b: as long, quiet longer
    assert board.hosts["b"].line == "1" and board.hosts["a"].line == "2"


def test_the_interval_is_twice_the_last_round_and_at_least_a_second() -> None:
    assert next_interval(0.05) == 1.0
    assert next_interval(17.6) == 35.2  # a 1,000-host round: polled a third of the time


def views(count: int, prefix: str = "web", groups: int = 0) -> list:
    board = Board("j1.2", [f"{prefix}{i:03d}" for i in range(1, count + 1)],
                  {f"{prefix}{i:03d}": ["all", f"g{i % groups}"] for i in range(1, count + 1)}
                  if groups else None)
    for i, name in enumerate(board.hosts):
        board.update(done(name, "0:00:01", rc=3 if i % 7 == 0 else 0))
    return list(board.hosts.values())


def text_of(line: list) -> str:
    return "".join(text for text, _ in line)


def test_hosts_that_fit_get_one_cell_each_with_their_name() -> None:
    layout = lay_out(views(20), 80, 10)
    assert layout.folded is None
    shown = " ".join(text_of(line) for line in layout.lines)
    assert "xweb001" in shown and "+web002" in shown and "web020" in shown
    assert all(len(text_of(line)) <= 80 for line in layout.lines)


def test_hosts_that_do_not_fit_fold_into_ranges_within_the_space() -> None:
    for count, width, height in ((150, 80, 8), (1000, 80, 8), (400, 100, 3), (150, 10, 1)):
        layout = lay_out(views(count), width, height)
        assert layout.folded == "range"
        assert 1 <= len(layout.lines) <= height
        assert all(len(text_of(line)) <= max(width, 10) for line in layout.lines)
    first = text_of(lay_out(views(150), 80, 8).lines[0])
    assert first.startswith("web[001-019]") and "x3" in first and "+16" in first


def test_hosts_of_one_group_each_fold_by_inventory_group_with_counts() -> None:
    layout = lay_out(views(150, groups=3), 80, 8)
    assert layout.folded == "group"
    assert [text_of(line).split()[0:2] for line in layout.lines] == [
        ["g0", "(50)"], ["g1", "(50)"], ["g2", "(50)"]]
