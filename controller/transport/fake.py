"""Test doubles shipped with ctl (as httpx ships ``MockTransport``): hosts that are functions.

    hosts = FakeHosts(unreachable={"web2"})            # every other host runs on this machine
    controller = Controller(registry, connect=hosts)   # what Controller would dial, it asks hosts
    ...
    assert hosts.calls["web1"] == 2

A handler gets ``(spec, command, stdin)`` and returns an ``ExecResult`` (or raises
``HostUnreachable`` / ``HostFailed``, as a real transport does). The default handler runs the
command with ``/bin/sh`` on this machine, so the real wrapper answers: each fake host should
then have its own ``ansible_async_dir``. For the fast tier and fault injection only; real
behaviour is proven against real sshd hosts. A command on a terminal (su's become) goes to
``tty(spec, command)``, by default ``/bin/sh`` on a pseudo-terminal of this machine.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from typing import Any, AsyncContextManager, Awaitable, Callable, Collection, Union

from ..errors import HostUnreachable
from ..hosts import HostSpec
from .base import ConnectOptions, ExecResult, Tty
from .local import local_tty

Handler = Callable[[HostSpec, str, bytes], Union[ExecResult, Awaitable[ExecResult]]]
TtyHandler = Callable[[HostSpec, str], AsyncContextManager[Tty]]


async def run_here(spec: HostSpec, command: str, stdin: bytes) -> ExecResult:
    """Run the command with /bin/sh on this machine (what the ``local`` connection does)."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", command, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin)
    return ExecResult(proc.returncode or 0, out, err)


def tty_here(spec: HostSpec, command: str) -> AsyncContextManager[Tty]:
    """The command on a pseudo-terminal of this machine (what the ``local`` connection does)."""
    return local_tty(command)


class FakeTransport:
    """One connection to a fake host: ``run`` asks the handler."""

    def __init__(self, spec: HostSpec, handler: Handler, refuse: str | None = None,
                 tty: TtyHandler = tty_here) -> None:
        self.spec, self.handler, self.refuse, self.tty_handler = spec, handler, refuse, tty

    async def __aenter__(self) -> FakeTransport:
        if self.refuse is not None:
            raise HostUnreachable(f"Failed to connect to the host via ssh: {self.refuse}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def run(self, command: str, stdin: bytes) -> ExecResult:
        result = self.handler(self.spec, command, stdin)
        return await result if inspect.isawaitable(result) else result  # type: ignore[return-value]

    def tty(self, command: str) -> AsyncContextManager[Tty]:
        return self.tty_handler(self.spec, command)


class FakeHosts:
    """A connector (``Controller(connect=...)``): every host is ``handler``; the hosts
    named in ``unreachable`` refuse connections; ``tty`` runs their commands on a terminal.
    ``calls`` counts the execs per host (on a terminal too), ``connects`` the connections
    opened."""

    def __init__(self, handler: Handler = run_here, unreachable: Collection[str] = (),
                 tty: TtyHandler = tty_here) -> None:
        self.handler, self.tty_handler = handler, tty
        self.unreachable = set(unreachable)
        self.calls: Counter[str] = Counter()
        self.connects: Counter[str] = Counter()
        self.commands: list[tuple[str, str]] = []

    def __call__(self, spec: HostSpec, options: ConnectOptions) -> FakeTransport:
        self.connects[spec.name] += 1
        refuse = f"{spec.address}: Connection refused" if spec.name in self.unreachable else None
        return FakeTransport(spec, self._counted, refuse, self._counted_tty)

    def _counted(self, spec: HostSpec, command: str, stdin: bytes) -> Any:
        self._count(spec, command)
        return self.handler(spec, command, stdin)

    def _counted_tty(self, spec: HostSpec, command: str) -> AsyncContextManager[Tty]:
        self._count(spec, command)
        return self.tty_handler(spec, command)

    def _count(self, spec: HostSpec, command: str) -> None:
        self.calls[spec.name] += 1
        self.commands.append((spec.name, command))
