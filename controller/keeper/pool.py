"""The keeper's SSH connections: one per connection identity (address, port, user, key,
jump, host-key settings, password), never shared between two identities; at most
``max_sessions`` commands at once on each (sshd's MaxSessions, 10 by default), the rest
queue, and a host that refuses a session lowers its connection's limit. A command is
retried only when its session could not be opened (so it was never sent): on a
connection that had dropped (reopened once) or that refused one more session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import astuple, dataclass, field
from typing import Any

import asyncssh

from ..errors import HostUnreachable
from ..hosts import HostSpec
from ..transport import ssh
from ..transport.base import ConnectOptions, ExecResult
from ..transport.ssh import SshTransport

log = logging.getLogger("ctl")
Identity = tuple[Any, ...]


def identity(spec: HostSpec, options: ConnectOptions) -> Identity:
    """What makes two connections the same one. The password is part of it (in memory
    only): a command never rides on a login it could not have made itself."""
    return (spec.address, spec.port, spec.user, spec.private_key, spec.jump,
            spec.host_key_checking, spec.accept_new, spec.known_hosts_file,
            spec.connect_timeout, spec.password, astuple(options))


RETRIES_AT_ONE = 3  # a refusal with one session open: the slot sshd frees a moment later
REFUSED_WAIT = 30.0  # seconds a refused command waits for another session to end


@dataclass
class Entry:
    """One connection identity: its connection, and how many sessions it may open."""

    limit: int
    sessions: asyncio.Semaphore = field(init=False)
    opening: asyncio.Lock = field(default_factory=asyncio.Lock)
    transport: SshTransport | None = None

    def __post_init__(self) -> None:
        self.sessions = asyncio.Semaphore(self.limit)

    async def refused(self, spec: HostSpec) -> bool:
        """The live connection refused a session (the host's MaxSessions is lower than
        ours), so nothing was sent: take one session off this connection's limit, for
        good, once one of the others ends (at one, wait a moment for sshd to free it).
        False when none ends in time: the host refuses sessions whatever their number."""
        if self.limit <= 1:
            await asyncio.sleep(0.05)
            return True
        try:
            await asyncio.wait_for(self.sessions.acquire(), REFUSED_WAIT)
        except asyncio.TimeoutError:
            return False
        self.limit -= 1  # the permit is held for ever
        log.info("%s refused a session: at most %d at once on its connection",
                 spec.address, self.limit)
        return True


class Pool:
    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max(1, max_sessions)
        self.entries: dict[Identity, Entry] = {}
        self.connects = 0  # connections opened, ever (ctl keeper status; the tests' proof)
        self.runs = 0
        self._stamps: dict[str, tuple[int, int]] = {}

    def open_count(self) -> int:
        return sum(1 for e in self.entries.values()
                   if e.transport is not None and not e.transport.closed())

    async def run(self, spec: HostSpec, options: ConnectOptions, command: str,
                  stdin: bytes) -> ExecResult:
        entry = self.entries.setdefault(identity(spec, options), Entry(self.max_sessions))
        async with entry.sessions:
            self.runs += 1
            reopened = False
            for _ in range(self.max_sessions + RETRIES_AT_ONE):
                transport = await self._transport(entry, spec, options)
                try:
                    return await transport.run(command, stdin)
                except HostUnreachable as exc:
                    if not isinstance(exc.__cause__, asyncssh.ChannelOpenError):
                        raise  # the command may have been sent: never run it twice
                    if not transport.closed():
                        if not await entry.refused(spec):
                            raise
                    elif reopened:
                        raise
                    else:
                        log.info("%s: the connection had dropped; reopening it", spec.address)
                        reopened = True
                    refusal = exc
        raise refusal

    async def _transport(self, entry: Entry, spec: HostSpec, options: ConnectOptions
                         ) -> SshTransport:
        async with entry.opening:
            if entry.transport is not None and not entry.transport.closed():
                return entry.transport
            if entry.transport is not None:
                await entry.transport.__aexit__(None, None, None)
                entry.transport = None
            self.freshen(spec)
            transport = SshTransport(spec, options)
            await transport.__aenter__()
            self.connects += 1
            log.info("connected to %s", spec.address)
            entry.transport = transport
            return transport

    def freshen(self, spec: HostSpec) -> None:
        """Forget parsed known_hosts files, ~/.ssh/config and keys once one of them
        changed on disk: a long-lived process must see ``ssh-keygen -R`` and a new key."""
        paths = [*ssh.KNOWN_HOSTS_FILES, "~/.ssh/config", spec.known_hosts_file,
                 spec.private_key]
        changed = False
        for path in filter(None, paths):
            stamp = _stamp(os.path.expanduser(path))
            changed |= self._stamps.setdefault(path, stamp) != stamp
            self._stamps[path] = stamp
        if changed:
            ssh._KNOWN.clear()
            ssh._KEYS.clear()
            ssh.ssh_config_text.cache_clear()

    async def close(self) -> None:
        for entry in self.entries.values():
            if entry.transport is not None:
                with contextlib.suppress(Exception):
                    await entry.transport.__aexit__(None, None, None)
                entry.transport = None


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)
