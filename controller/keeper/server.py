"""The keeper process: SSH connections kept open between commands of one user.

It listens on ``$CTL_HOME/keeper.sock`` (mode 0600) and answers only peers of its own uid
(SO_PEERCRED). A request runs one command on one host over a pooled connection
(``controller.keeper.pool``); its reply is the command's result, or the ``HostUnreachable``
or ``HostFailed`` the direct transport would have raised, with the same message. It exits
once no client has been connected and no request made for its idle time (the newest
``--persist`` a client said in its hello), on ``stop`` or on SIGTERM, closing every
connection and removing its socket. Its log holds no secrets: addresses, counts, reasons.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from dataclasses import replace
from typing import Any, Awaitable

from ..errors import HostError
from ..hosts import HostSpec
from ..transport.base import ConnectOptions
from . import wire
from .pool import Pool

log = logging.getLogger("ctl")
Reply = tuple[dict[str, Any], tuple[bytes, ...]]


class Keeper:
    def __init__(self, path: str, idle: float, max_sessions: int) -> None:
        self.path = path
        self.idle = idle
        self.pool = Pool(max_sessions)
        self.clients = 0
        self.last = time.monotonic()
        self.version = wire.version()
        self.done = asyncio.Event()

    async def serve(self, sock: socket.socket) -> None:
        inode = os.stat(self.path).st_ino
        server = await asyncio.start_unix_server(self.handle, sock=sock)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, self.done.set)
        watcher = asyncio.create_task(self.watch_idle())
        log.info("keeper %s listening (idle exit after %gs)", self.version, self.idle)
        await self.done.wait()
        watcher.cancel()
        server.close()
        remove_socket(self.path, inode)
        await self.pool.close()
        log.info("keeper exits: %d connections opened, %d commands run",
                 self.pool.connects, self.pool.runs)

    async def watch_idle(self) -> None:
        while True:
            left = self.last + self.idle - time.monotonic()
            if self.clients == 0 and left <= 0:
                log.info("idle for %gs: exiting", self.idle)
                self.done.set()
                return
            await asyncio.sleep(min(max(left, 0.05), 1.0))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if not wire.same_user(sock):
            log.warning("refused a connection from uid %d: not this keeper's user",
                        wire.peer(sock)[1])
            writer.close()
            return
        self.clients += 1
        try:
            while not self.done.is_set():
                try:
                    head, parts = await wire.receive(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.last = time.monotonic()
                answer, body = await self.answer(head, parts, writer)
                await wire.send(writer, answer, *body)
        except (wire.WireError, ConnectionError) as exc:
            log.warning("dropped a client: %s", exc)
        finally:
            self.clients -= 1
            self.last = time.monotonic()
            writer.close()

    async def answer(self, head: dict[str, Any], parts: list[bytes],
                     writer: asyncio.StreamWriter) -> Reply:
        op = head.get("op")
        if op == "hello":
            if head.get("persist"):
                self.idle = float(head["persist"])  # the newest --persist wins
            return {"version": self.version, "pid": os.getpid(), "env": wire.env_tag()}, ()
        if op == "run":
            return await beating(self.run(head, parts), writer)
        if op == "stats":
            return self.stats(), ()
        if op == "stop":
            self.done.set()
            return {"stopping": os.getpid()}, ()
        return {"error": "HostFailed", "message": f"the ctl keeper has no {op!r} request"}, ()

    async def run(self, head: dict[str, Any], parts: list[bytes]) -> Reply:
        spec = replace(HostSpec.from_dict(head["spec"]), password=head.get("password"))
        try:
            result = await self.pool.run(spec, ConnectOptions(**head["options"]),
                                         str(head["command"]), parts[0] if parts else b"")
        except HostError as exc:
            return {"error": type(exc).__name__, "message": exc.message}, ()
        except Exception as exc:  # a bug costs this request, never the keeper
            log.exception("internal error")
            return {"error": "HostFailed", "message": "internal error in the ctl keeper: "
                    f"{type(exc).__name__}: {exc} (please report this)"}, ()
        return {"exit_status": result.exit_status}, (result.stdout, result.stderr)

    def stats(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "version": self.version, "idle": self.idle,
                "clients": self.clients, "open": self.pool.open_count(),
                "connects": self.pool.connects, "runs": self.pool.runs}


async def beating(work: Awaitable[Reply], writer: asyncio.StreamWriter) -> Reply:
    """``work``'s reply; until it comes, a ``beat`` every BEAT seconds, so that the client
    tells a long command from a wedged keeper."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=wire.BEAT)
        if done:
            return task.result()
        await wire.send(writer, {"op": "beat"})


def bind(path: str) -> socket.socket:
    """Listen on ``path`` with mode 0600 (no moment with a wider one). A stale socket file
    (nothing listens) is replaced; a live keeper's is left alone (FileExistsError)."""
    if os.path.lexists(path):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)
            else:
                raise FileExistsError(f"a keeper already listens on {path}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(256)
    return sock


def remove_socket(path: str, inode: int) -> None:
    """Remove our socket file, not the one of a keeper that has replaced us."""
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except OSError:
        pass
