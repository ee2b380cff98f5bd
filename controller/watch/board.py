"""What the watch shows, as plain values: every figure is read from the ``HostResult``s of
``Controller.poll`` (the ones ``ctl poll --json`` prints), never from anywhere else, except
the clock (a running host's elapsed time, from the job's launch time in the registry)."""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..results import HostResult, Status

NEVER_STARTED = "the job was never started on this host"  # see api.NEVER_STARTED
MIN_INTERVAL = 1.0  # seconds between the end of a poll round and the next, at least
SPARKS = " ▁▂▃▄▅▆▇█"


class Cell(str, enum.Enum):
    """A host's state on the board, in legend order (PENDING: not heard from yet)."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    LOST = "lost"
    NEVER = "never started"
    PENDING = "pending"

    @property
    def glyph(self) -> str:
        """A mark that tells the state without colour (NO_COLOR)."""
        return GLYPHS[self]

    @property
    def problem(self) -> bool:
        return self in PROBLEMS


GLYPHS = {Cell.RUNNING: ">", Cell.OK: "+", Cell.FAILED: "x", Cell.UNREACHABLE: "?",
          Cell.LOST: "!", Cell.NEVER: "-", Cell.PENDING: "."}
PROBLEMS = (Cell.FAILED, Cell.UNREACHABLE, Cell.LOST, Cell.NEVER)
LEGEND = (Cell.RUNNING, Cell.OK, *PROBLEMS)


def cell_of(result: HostResult) -> Cell:
    """The board state of one poll result: its status, with ``lost`` and never-started
    failures told apart (both are ``failed`` in ``ctl poll --json``)."""
    if result.status is Status.RUNNING:
        return Cell.RUNNING
    if result.status in (Status.OK, Status.CHANGED):
        return Cell.OK
    if result.status is Status.UNREACHABLE:
        return Cell.UNREACHABLE
    if result.data.get("lost"):
        return Cell.LOST
    if result.msg.startswith(NEVER_STARTED):
        return Cell.NEVER
    return Cell.FAILED


_DELTA = re.compile(r"^(?:(\d+) days?, )?(\d+):(\d\d):(\d\d(?:\.\d+)?)$")


def seconds(delta: object) -> float | None:
    """Ansible's ``delta`` (``0:00:01.504432``, ``1 day, 2:03:04``) in seconds."""
    found = _DELTA.match(str(delta or "").strip())
    if not found:
        return None
    days, hours, minutes, secs = found.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(secs)


def natural(name: str) -> tuple[Any, ...]:
    """``h2`` before ``h10``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def last_line(*texts: object) -> str:
    """The last non-blank line of the first text (or list of lines) that has one."""
    for text in texts:
        lines = text if isinstance(text, list) else str(text or "").splitlines()
        for line in reversed(lines):
            if str(line).strip():
                return str(line).strip()
    return ""


@dataclass
class HostView:
    """One host on the board: its groups, its last poll result, and when the watch saw it
    start running and last saw its output change (monotonic clock)."""

    name: str
    groups: tuple[str, ...] = ()
    result: HostResult | None = None
    cell: Cell = Cell.PENDING
    seen_running: float | None = None
    quiet_since: float | None = None
    line: str = ""

    @property
    def rc(self) -> str:
        rc = self.result.data.get("rc") if self.result else None
        return "" if rc is None else str(rc)

    @property
    def duration(self) -> float | None:
        return seconds(self.result.data.get("delta")) if self.result else None


class Board:
    """Every host of the job, updated from each poll result as it arrives."""

    def __init__(self, jid: str, hosts: Iterable[str], groups: dict[str, list[str]] | None = None,
                 launched: float | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        groups = groups or {}
        self.jid = jid
        self.hosts = {n: HostView(n, tuple(groups.get(n, ()))) for n in hosts}
        self.launched = launched  # wall-clock launch time (the registry's), when known
        self.clock, self.wall = clock, wall

    def update(self, result: HostResult) -> None:
        view = self.hosts.get(result.host)
        if view is None:
            return
        now = self.clock()
        view.result, view.cell = result, cell_of(result)
        data = result.data
        if view.cell is Cell.RUNNING:
            line = last_line(data.get("stdout_tail"), data.get("stderr_tail"))
            view.seen_running = view.seen_running or now
            if line != view.line or view.quiet_since is None:
                view.quiet_since = now
        elif view.cell is Cell.OK:
            line = last_line(data.get("stdout"), data.get("stderr"))
        else:
            line = last_line(data.get("stderr"), data.get("msg"), data.get("stdout"))
        view.line = line

    # --- figures ---------------------------------------------------------------------------

    def counts(self) -> dict[Cell, int]:
        tally = dict.fromkeys(Cell, 0)
        for view in self.hosts.values():
            tally[view.cell] += 1
        return tally

    @property
    def total(self) -> int:
        return len(self.hosts)

    @property
    def finished(self) -> int:
        counts = self.counts()
        return self.total - counts[Cell.RUNNING] - counts[Cell.PENDING]

    @property
    def settled(self) -> bool:
        """Every host heard from and none running: no poll round can change the board
        (short of a kill or a host coming back)."""
        counts = self.counts()
        return counts[Cell.RUNNING] == 0 and counts[Cell.PENDING] == 0

    def durations(self) -> list[float]:
        """How long each finished host's job took (its result's ``delta``)."""
        return [d for v in self.hosts.values() if v.cell is not Cell.RUNNING
                and (d := v.duration) is not None]

    def elapsed(self, view: HostView, at: tuple[float, float] | None = None) -> float | None:
        """A running host's time so far: since the launch when the registry knows it, else
        since the watch first saw it running (a lower bound). ``at``: (wall, monotonic)."""
        wall, now = at or (self.wall(), self.clock())
        if self.launched is not None:
            return max(0.0, wall - self.launched)
        return None if view.seen_running is None else now - view.seen_running

    def eta(self) -> float | None:
        """Seconds until the last running host should finish, from the durations of the
        hosts that succeeded so far: the k-th of them took d_k seconds, and the running
        ones are taken to keep that pace, the last finishing (k + running) * d_k / k after
        the launch. None before a success, and once that time has passed."""
        running = [v for v in self.hosts.values() if v.cell is Cell.RUNNING]
        if not running:
            return 0.0 if self.settled else None
        done = sorted(d for v in self.hosts.values()
                      if v.cell is Cell.OK and (d := v.duration) is not None)
        if not done or done[-1] <= 0:
            return None
        at = (self.wall(), self.clock())
        elapsed = max([done[-1], *((self.elapsed(v, at) or 0.0) for v in running)])
        left = (len(done) + len(running)) * done[-1] / len(done) - elapsed
        return left if left > 0 else None

    def histogram(self, bins: int) -> tuple[list[int], float]:
        """Finished hosts per duration bin, from 0 to the longest duration (returned)."""
        durations = self.durations()
        top = max(durations, default=0.0)
        counts = [0] * max(1, bins)
        for d in durations:
            counts[min(len(counts) - 1, int(d / top * len(counts)) if top else 0)] += 1
        return counts, top

    def problems(self) -> list[HostView]:
        """Failed, unreachable, lost and never-started hosts, in that order, then by name."""
        order = {cell: i for i, cell in enumerate(PROBLEMS)}
        return sorted((v for v in self.hosts.values() if v.cell.problem),
                      key=lambda v: (order[v.cell], natural(v.name)))

    def slow(self) -> list[HostView]:
        """Running hosts, longest running first, then longest quiet (no new output), then
        by name (in whole seconds, so rows do not swap places at every redraw)."""
        at = (self.wall(), self.clock())
        return sorted((v for v in self.hosts.values() if v.cell is Cell.RUNNING),
                      key=lambda v: (-int(self.elapsed(v, at) or 0.0),  # whole seconds:
                                     -int(at[1] - (v.quiet_since or at[1])),  # rows stay
                                     natural(v.name)))


def sparkline(counts: list[int]) -> str:
    top = max(counts, default=0)
    if not top:
        return SPARKS[0] * len(counts)
    return "".join(SPARKS[0] if not c else SPARKS[max(1, round(c / top * 8))] for c in counts)


def clock_text(secs: float | None) -> str:
    """``1:02:03`` / ``2:03`` / ``-:--`` (unknown)."""
    if secs is None:
        return "-:--"
    secs = int(round(secs))
    hours, rest = divmod(secs, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def next_interval(last_round: float) -> float:
    """Seconds to wait before the next round: twice what the last round took, so polling
    never takes more than a third of the time, and at least ``MIN_INTERVAL``."""
    return max(MIN_INTERVAL, 2.0 * last_round)
