"""A live progress display on stderr (rich), wrapped around any output.

Shown only on a terminal, never in ``--json`` mode, and only once an operation has taken
more than about a second; it disappears when the operation ends. Results printed meanwhile
go above it (rich redirects stdout while the display is live).
"""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .render import Forwarding, Output
from .results import HostResult, Status

SHOW_AFTER = 1.0


class ProgressOutput(Forwarding):
    def __init__(self, inner: Output) -> None:
        super().__init__(inner)
        self.jid: str | None = None
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=True, redirect_stdout=True)
        self.task = self.progress.add_task("", total=1, counts="", visible=False)
        self.tally: dict[str, int] = {}
        self.total = 0
        self.timer: threading.Timer | None = None
        self.live = False
        self.lock = threading.Lock()

    def _show(self) -> None:
        with self.lock:
            if not self.live and self.timer is not None:
                self.progress.start()
                self.live = True

    def _update(self, advance: int = 0) -> None:
        done = sum(v for k, v in self.tally.items() if k != "running")
        self.tally["running"] = max(self.total - done, 0)
        text = "  ".join(f"{k} {v}" for k, v in self.tally.items() if v)
        self.progress.update(self.task, advance=advance, counts=text)

    def begin(self, op: str, jid: str | None, total: int) -> None:
        self.jid = jid or self.jid
        self.tally = {"running": 0, "ok": 0, "failed": 0, "unreachable": 0}
        self.total = total
        self.progress.reset(self.task, total=max(total, 1), description=op, counts="",
                            visible=True, start=True)
        self._update()
        if self.timer is None:
            self.timer = threading.Timer(SHOW_AFTER, self._show)
            self.timer.daemon = True
            self.timer.start()
        self.inner.begin(op, jid, total)

    def _count(self, result: HostResult) -> None:
        key = {Status.CHANGED: "ok", Status.OK: "ok"}.get(result.status, result.status.value)
        self.tally[key] = self.tally.get(key, 0) + 1

    def result(self, op: str, result: HostResult) -> None:
        self._count(result)
        self._update(advance=1)
        self.inner.result(op, result)

    def close(self) -> None:
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()
            if self.live:
                self.progress.stop()
            self.live = False
            self.timer = None

    def end(self, op: str, results: list[HostResult]) -> None:
        self.close()
        self.inner.end(op, results)
