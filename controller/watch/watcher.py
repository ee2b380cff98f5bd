"""The watch's work on the hosts, through the library only: poll rounds are
``Controller.poll`` (the forks limit, the registry updated as ``ctl poll`` does, each result
heard as it arrives), kill is ``Controller.kill``, a host's output is ``Controller.logs``
with ``follow``. No Textual here: the view calls these."""

from __future__ import annotations

import asyncio
import shlex
import time
from typing import TYPE_CHECKING, Callable

from ..events import NoEvents
from ..results import HostResult
from .board import Board, next_interval

if TYPE_CHECKING:
    from ..api import Controller, Targets
    from ..logs import LineSink

TAIL = 1  # the last line of a running host's stdout and stderr (poll --tail 1)


class BoardEvents(NoEvents):
    """Feeds each poll result to the board as soon as it arrives (a 1,000-host round takes
    many seconds; the board fills in as it goes). Other operations' results are ignored."""

    def __init__(self, board: Board, heard: Callable[[], None]) -> None:
        self.board, self.heard = board, heard

    def result(self, op: str, result: HostResult) -> None:
        if op == "poll":
            self.board.update(result)
            self.heard()


class Watcher:
    """One job watched: its board, the poll rounds and their pace, and the actions."""

    def __init__(self, controller: Controller, jid: str, targets: Targets,
                 heard: Callable[[], None] = lambda: None) -> None:
        job = controller.registry.find_job(jid)
        self.controller, self.jid, self.targets = controller, jid, targets
        self.command = job.command if job is not None else None
        self.board = Board(jid, [s.name for s in targets.specs], targets.groups,
                           launched=job.created if job is not None else None)
        controller.events = BoardEvents(self.board, heard)
        self.rounds = 0
        self.last_round: float | None = None  # how long the last round took, seconds
        self.interval = next_interval(0.0)
        self.polling = False
        self.results: list[HostResult] = []
        self.error: str | None = None
        self.wake: asyncio.Event | None = None  # made in the view's event loop

    async def poll_once(self) -> None:
        """One round on every host, then the next interval: twice this round's time."""
        from ..errors import CtlError

        started = time.monotonic()
        self.polling = True
        try:
            self.results = await self.controller.poll(self.jid, self.targets, tail_lines=TAIL)
            self.error = None
        except CtlError as exc:  # the registry locked, say: show it, try again next round
            self.error = exc.message
        finally:
            self.polling = False
        for result in self.results:
            self.board.update(result)
        self.rounds += 1
        self.last_round = time.monotonic() - started
        self.interval = next_interval(self.last_round)

    async def run(self, refreshed: Callable[[], None]) -> None:
        """Poll until the board is settled (every host finished), then wait for a request
        (``poll_now``, after a kill say). Waits between rounds are cut short by
        ``poll_now``."""
        wake = self.wake = asyncio.Event()
        while True:
            await self.poll_once()
            refreshed()
            wake.clear()
            if self.board.settled:
                await wake.wait()
                continue
            try:
                await asyncio.wait_for(wake.wait(), self.interval)
            except asyncio.TimeoutError:
                pass

    def poll_now(self) -> None:
        if self.wake is not None:
            self.wake.set()

    def narrowed(self, host: str | None) -> Targets:
        """The job's targets, or only ``host``."""
        from ..api import Targets

        if host is None:
            return self.targets
        specs = [s for s in self.targets.specs if s.name == host]
        return Targets(specs, {host: self.targets.groups.get(host, [])}, self.targets.sources)

    async def kill(self, host: str | None) -> list[HostResult]:
        """As ``ctl kill``: the job on ``host`` (None: every host), then a poll round."""
        from ..api import KILL_GRACE

        results = await self.controller.kill(self.jid, self.narrowed(host), "SIGTERM",
                                             KILL_GRACE)
        self.poll_now()
        return results

    async def logs(self, host: str, sink: LineSink) -> list[HostResult]:
        """As ``ctl logs JID HOST --follow``: the host's output so far, then as it comes."""
        return await self.controller.logs(self.jid, sink, self.narrowed(host), follow=True)

    def pickup_line(self) -> str:
        """What to type to pick the job up again, said when the view closes."""
        how = f"ctl poll {self.jid} --all-hosts" if self.command is not None else \
            f"ctl poll {self.jid} " + " ".join(f"-i {shlex.quote(s)}" for s in self.targets.sources)
        if not self.board.settled:
            return f"ctl: job {self.jid}: left running (the view changes nothing on the " \
                   f"hosts); pick it up: {how}"
        return f"ctl: job {self.jid}: every host finished; results: {how}; next: " \
               f"ctl cleanup {self.jid}"
