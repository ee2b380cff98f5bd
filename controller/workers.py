"""Sharding a fan-out over worker processes.

asyncio does each connection's key exchange and ciphers on one core. With ``--workers N``
the hosts of a one-shot operation (launch, one poll round, cleanup, kill, gc) are dealt
round-robin to N forked children, each running its own event loop over its share with its
share of the forks limit; results come back over a pipe, pickled, and the parent alone
prints them and writes the registry. A child that dies costs its unreported hosts a
"failed" result naming it, never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import struct
from typing import AsyncIterator, Callable

from .hosts import HostSpec
from .results import HostResult

log = logging.getLogger("ctl")

ShardRunner = Callable[[list[HostSpec]], AsyncIterator[HostResult]]
FRAME = struct.Struct(">I")


def shards(specs: list[HostSpec], workers: int) -> list[list[HostSpec]]:
    return [s for s in (specs[i::workers] for i in range(workers)) if s]


async def sharded(specs: list[HostSpec], workers: int, run_shard: ShardRunner
                  ) -> AsyncIterator[HostResult]:
    """Each host's result, as soon as its worker sends it."""
    queue: asyncio.Queue[HostResult | None] = asyncio.Queue()
    children: list[int] = []
    pumps: list[asyncio.Task[None]] = []
    try:
        for shard in shards(specs, workers):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: never returns
                os.close(read_fd)
                _worker(shard, run_shard, write_fd)
            os.close(write_fd)
            children.append(pid)
            pumps.append(asyncio.ensure_future(_pump(read_fd, pid, shard, queue)))
        done = 0
        while done < len(pumps):
            result = await queue.get()
            if result is None:
                done += 1
            else:
                yield result
    finally:
        for task in pumps:
            task.cancel()
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


def _worker(shard: list[HostSpec], run_shard: ShardRunner, fd: int) -> None:
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        asyncio.events._set_running_loop(None)  # the parent's loop is not ours to use
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_send_all(run_shard(shard), fd))
    except BaseException:  # the parent reports the hosts it did not hear about
        log.exception("worker process failed")
        code = 1
    finally:
        os._exit(code)


async def _send_all(results: AsyncIterator[HostResult], fd: int) -> None:
    async for result in results:
        data = pickle.dumps(result)
        view = memoryview(FRAME.pack(len(data)) + data)
        while view:
            view = view[os.write(fd, view):]


async def _pump(fd: int, pid: int, shard: list[HostSpec],
                queue: asyncio.Queue[HostResult | None]) -> None:
    """Read one worker's results into the queue; at its end, fail the hosts it never
    reported, then queue None."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    heard: set[str] = set()
    try:
        while True:
            try:
                size = FRAME.unpack(await reader.readexactly(FRAME.size))[0]
                result: HostResult = pickle.loads(await reader.readexactly(size))  # noqa: S301
            except asyncio.IncompleteReadError:
                break
            heard.add(result.host)
            queue.put_nowait(result)
    finally:
        transport.close()
        for spec in shard:
            if spec.name not in heard:
                queue.put_nowait(HostResult.failed(
                    spec.name, f"ctl's worker process {pid} ended before it reported this "
                               "host; its job state is unknown: run ctl poll"))
        queue.put_nowait(None)

