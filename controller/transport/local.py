"""The ``local`` connection: run the command on the controller itself, with no SSH."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import termios
from typing import AsyncIterator

from ..errors import HostFailed
from ..hosts import HostSpec
from .base import ExecResult


class LocalTransport:
    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec

    async def __aenter__(self) -> LocalTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def run(self, command: str, stdin: bytes) -> ExecResult:
        try:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", command, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate(stdin)
        except OSError as exc:
            raise HostFailed(f"cannot run /bin/sh on the controller: {exc}") from exc
        return ExecResult(proc.returncode or 0, out, err)

    def tty(self, command: str) -> contextlib.AbstractAsyncContextManager[LocalTty]:
        return local_tty(command)


@contextlib.asynccontextmanager
async def local_tty(command: str) -> AsyncIterator[LocalTty]:
    """``/bin/sh -c command`` on a pseudo-terminal of this machine, echo off from the start
    (as the ssh transport opens one); leaving the block kills what still runs of it."""
    master, slave = os.openpty()
    try:
        modes = termios.tcgetattr(slave)
        modes[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, modes)
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True)
    except OSError as exc:
        os.close(master)
        raise HostFailed(f"cannot run /bin/sh on a terminal on the controller: {exc}") from exc
    finally:
        os.close(slave)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    out, _ = await loop.connect_read_pipe(lambda: PtyReader(reader),
                                          os.fdopen(master, "rb", buffering=0))
    feed, _ = await loop.connect_write_pipe(asyncio.Protocol,
                                            os.fdopen(os.dup(master), "wb", buffering=0))
    try:
        yield LocalTty(proc, reader, feed)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        feed.close()
        out.close()


class PtyReader(asyncio.StreamReaderProtocol):
    def connection_lost(self, exc: Exception | None) -> None:
        """EIO: every holder of the terminal has closed it, its end of file."""
        eio = isinstance(exc, OSError) and exc.errno == errno.EIO
        super().connection_lost(None if eio else exc)


class LocalTty:
    def __init__(self, proc: asyncio.subprocess.Process, reader: asyncio.StreamReader,
                 feed: asyncio.WriteTransport) -> None:
        self.proc, self.reader, self.feed = proc, reader, feed

    async def read(self) -> bytes:
        return await self.reader.read(65536)

    def write(self, data: bytes) -> None:
        self.feed.write(data)

    async def wait(self) -> int:
        return await self.proc.wait()
