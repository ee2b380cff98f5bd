"""The client side of the keeper: ``KeeperTransport`` (the Transport contract, each command
sent to the keeper) and ``KeeperClient``, which finds the keeper of ``$CTL_HOME`` once per
command: uses it, starts it, or replaces one from another ctl version or a dead one.

Whatever goes wrong on the way (no keeper can start, one does not answer within 1 s or
``CTL_KEEPER_TIMEOUT``, it runs with another HOME or SSH agent) the command connects
directly, as with ``--persist 0``, and says why at ``-v``. ``tty`` (su's prompt) always
connects directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
import time
from dataclasses import asdict
from typing import Any, AsyncIterator

from ..errors import HostFailed, HostUnreachable
from ..hosts import HostSpec
from ..transport import ConnectOptions, Connector, ExecResult, Transport, open_transport
from ..transport.base import Tty
from . import wire

log = logging.getLogger("ctl")
HELLO_TIMEOUT = 1.0  # a keeper that does not answer in this long is wedged: connect directly
ADMIN_TIMEOUT = 5.0  # ctl keeper status|stop: the user asked, and may wait longer
START_TIMEOUT = 5.0  # starting one: Python's start-up on a loaded machine
# what the keeper inherits of the environment: no ANSIBLE_*, no CTL_*, nothing else
KEEPER_ENV = ("HOME", "USER", "LOGNAME", "PATH", "SSH_AUTH_SOCK", "LANG", "TMPDIR", "TZ")
ERRORS = {"HostUnreachable": HostUnreachable, "HostFailed": HostFailed}
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def answer_within() -> float:
    """HELLO_TIMEOUT, or CTL_KEEPER_TIMEOUT seconds (a loaded machine, the test suite)."""
    try:
        return float(os.environ.get("CTL_KEEPER_TIMEOUT") or HELLO_TIMEOUT)
    except ValueError:
        return HELLO_TIMEOUT


class Unusable(Exception):
    """Why this command connects directly."""


class Wedged(Unusable):
    """A keeper that does not answer (stopped, or stuck): ``pid`` is its process."""

    def __init__(self, pid: int, message: str) -> None:
        super().__init__(message)
        self.pid = pid


class KeeperClient:
    def __init__(self, home: str, persist: float) -> None:
        self.home = home
        self.persist = persist
        self.path = wire.socket_path(home)
        self._found: asyncio.Future[bool] | None = None

    async def ready(self) -> bool:
        """Is the keeper usable? Found (or started) once; every host's task waits on it."""
        if self._found is None:
            self._found = asyncio.ensure_future(self._find())
        return await asyncio.shield(self._found)

    def forget(self) -> None:
        """The keeper found has gone: the next ``ready`` finds or starts one again."""
        if self._found is not None and self._found.done():
            self._found = None

    def broken(self) -> None:
        """The keeper found stopped answering: the rest of this command connects directly."""
        self._found = asyncio.get_running_loop().create_future()
        self._found.set_result(False)

    async def open(self) -> Stream:
        """A connection of its own to the keeper, for one transport."""
        stream = await asyncio.wait_for(asyncio.open_unix_connection(self.path),
                                        answer_within())
        if not wire.same_user(stream[1].get_extra_info("socket")):
            stream[1].close()
            raise Unusable("the socket is not this user's")
        return stream

    async def _find(self) -> bool:
        try:
            if len(self.path.encode()) > 100:
                raise Unusable(f"{self.path} is too long for a Unix socket")
            os.makedirs(self.home, mode=0o700, exist_ok=True)
            async with file_lock(os.path.join(self.home, wire.LOCK_NAME)):
                await self._find_or_start()
            return True
        except (Unusable, OSError) as exc:
            log.info("warm connections off: %s; connecting directly", exc)
            return False

    async def _find_or_start(self) -> None:
        found = await hello(self.path, self.persist)
        if found is not None and found[0].get("version") == wire.version():
            return same_env(found[0])
        if found is not None:
            log.info("replacing the ctl keeper (pid %d): it runs %s, this ctl is %s",
                     found[1], found[0].get("version"), wire.version())
            with contextlib.suppress(OSError):
                os.kill(found[1], signal.SIGTERM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a stale one (nothing listens), or the one just stopped
        await start(self.home, self.persist)
        found = await hello(self.path, self.persist)
        if found is None or found[0].get("version") != wire.version():
            raise Unusable("the keeper it started does not answer")
        log.info("started a ctl keeper (pid %d), idle exit after %gs", found[1], self.persist)


async def hello(path: str, persist: float) -> tuple[dict[str, Any], int] | None:
    """The keeper's hello and pid; None when nothing listens (no socket, or a stale one).
    A keeper that speaks another protocol says version ``unknown``."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path),
                                                answer_within())
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    except (OSError, asyncio.TimeoutError) as exc:
        raise Unusable(f"cannot reach the keeper at {path}: {exc or 'timed out'}") from exc
    try:
        pid, uid = wire.peer(writer.get_extra_info("socket"))
        if uid != os.getuid():
            raise Unusable(f"{path} is held by uid {uid}, not this user")
        try:
            reply = await asyncio.wait_for(exchange((reader, writer), {
                "op": "hello", "persist": persist}), answer_within())
        except asyncio.TimeoutError:
            raise Unusable(f"the keeper (pid {pid}) did not answer within {answer_within():g}s; "
                           "it may be wedged (ctl keeper stop)") from None
        except (EOFError, OSError, wire.WireError):
            return {"version": "unknown"}, pid
        return reply[0], pid
    finally:
        writer.close()


async def exchange(stream: Stream, head: dict[str, Any], *parts: bytes
                   ) -> tuple[dict[str, Any], list[bytes]]:
    await wire.send(stream[1], head, *parts)
    return await wire.receive(stream[0])


def same_env(found: dict[str, Any]) -> None:
    if found.get("env") != wire.env_tag():
        raise Unusable("the keeper runs with another HOME or SSH agent than this command")


async def start(home: str, persist: float) -> None:
    """Start a keeper; back once it listens. Its argv holds a directory and a number."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))
    env = {k: v for k, v in os.environ.items() if k in KEEPER_ENV or k.startswith("LC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root,
                                                      os.environ.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller.keeper", "--home", home, "--idle", f"{persist:g}",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True, cwd="/", env=env)
    try:
        code = await asyncio.wait_for(proc.wait(), START_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        raise Unusable(f"the keeper did not start within {START_TIMEOUT:g}s") from None
    if code != 0:
        raise Unusable(f"the keeper did not start (see {os.path.join(home, wire.LOG_NAME)})")


@contextlib.asynccontextmanager
async def file_lock(path: str) -> AsyncIterator[None]:
    """One command at a time finds or starts the keeper (others wait, a bounded time)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + START_TIMEOUT + answer_within() * 2
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Unusable("another ctl has been starting the keeper too long") from None
                await asyncio.sleep(0.02)
        yield
    finally:
        os.close(fd)


def direct(spec: HostSpec, options: ConnectOptions) -> Transport:
    from ..transport.ssh import SshTransport

    return SshTransport(spec, options)


class KeeperTransport:
    """The Transport contract, each command run by the keeper on its pooled connection."""

    def __init__(self, spec: HostSpec, options: ConnectOptions, client: KeeperClient) -> None:
        self.spec = spec
        self.options = options
        self.client = client
        self._stream: Stream | None = None
        self._direct: Transport | None = None

    async def __aenter__(self) -> KeeperTransport:
        for _ in range(2):
            if not await self.client.ready():
                break
            try:
                self._stream = await self.client.open()
                return self
            except (FileNotFoundError, ConnectionRefusedError):
                self.client.forget()  # it has ended (idle, stopped): find or start one again
            except (OSError, asyncio.TimeoutError, Unusable) as exc:
                log.info("cannot reach the keeper (%s); connecting directly", exc)
                break
        self._direct = direct(self.spec, self.options)
        await self._direct.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            writer, self._stream = self._stream[1], None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._direct is not None:
            await self._direct.__aexit__(None, None, None)
            self._direct = None

    async def run(self, command: str, stdin: bytes) -> ExecResult:
        if self._direct is not None or self._stream is None:
            return await self._direct_run(command, stdin)
        try:
            await wire.send(self._stream[1], {
                "op": "run", "spec": self.spec.to_dict(), "password": self.spec.password,
                "options": asdict(self.options), "command": command}, stdin)
            reply, parts = await self._reply()
        except asyncio.TimeoutError:  # before OSError, of which it is one
            self.client.broken()
            raise HostUnreachable(f"{self.spec.address}: the ctl keeper stopped answering "
                                  f"during the command ({wire.SILENCE:g}s without a word); "
                                  "ctl keeper stop") from None
        except (OSError, EOFError, wire.WireError) as exc:
            raise HostUnreachable(f"{self.spec.address}: the ctl keeper went away during the "
                                  f"command ({exc or type(exc).__name__})") from exc
        if "error" in reply:
            raise ERRORS.get(str(reply["error"]), HostFailed)(str(reply.get("message")))
        return ExecResult(int(reply["exit_status"]), parts[0], parts[1])

    async def _reply(self) -> tuple[dict[str, Any], list[bytes]]:
        """The run's reply, past the keeper's beats; TimeoutError after SILENCE seconds
        without a word."""
        assert self._stream is not None
        while True:
            reply, parts = await asyncio.wait_for(wire.receive(self._stream[0]), wire.SILENCE)
            if reply.get("op") != "beat":
                return reply, parts

    async def _direct_run(self, command: str, stdin: bytes) -> ExecResult:
        if self._direct is None:
            raise HostUnreachable(f"{self.spec.name}: not connected")
        return await self._direct.run(command, stdin)

    @contextlib.asynccontextmanager
    async def tty(self, command: str) -> AsyncIterator[Tty]:
        """A pseudo-terminal needs a channel of its own: a direct connection."""
        async with direct(self.spec, self.options) as transport:
            async with transport.tty(command) as tty:
                yield tty


def keeper_connector(home: str, persist: float) -> Connector:
    """``open_transport``'s shape: SSH hosts through the keeper, ``local`` as ever."""
    client = KeeperClient(home, persist)

    def connect(spec: HostSpec, options: ConnectOptions) -> Transport:
        if spec.connection == "local":
            return open_transport(spec, options)
        return KeeperTransport(spec, options, client)
    return connect


async def ask(home: str, op: str) -> dict[str, Any] | None:
    """One request to the keeper of ``home`` (``stats``, ``stop``); None when none runs.
    Never starts one."""
    path = wire.socket_path(home)
    try:
        stream = await asyncio.wait_for(asyncio.open_unix_connection(path), ADMIN_TIMEOUT)
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    try:
        pid, uid = wire.peer(stream[1].get_extra_info("socket"))
        if uid != os.getuid():
            raise Unusable(f"{path} is held by uid {uid}, not this user")
        try:
            reply, _ = await asyncio.wait_for(exchange(stream, {"op": op}), ADMIN_TIMEOUT)
        except asyncio.TimeoutError:
            raise Wedged(pid, f"the keeper (pid {pid}) did not answer within "
                         f"{ADMIN_TIMEOUT:g}s") from None
        return {**reply, "pid": pid}
    finally:
        stream[1].close()
