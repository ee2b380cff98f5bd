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


RETRIES_ALONE = 4  # refusals with no other session open: sshd frees a slot a moment late
REFUSED_WAIT = 30.0  # seconds a refused command waits for another session to end


@dataclass
class Entry:
    """One connection identity: its connection, the sessions open on it, and how many it
    may open at once (sshd's MaxSessions, learnt from its refusals)."""

    limit: int
    active: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    opening: asyncio.Lock = field(default_factory=asyncio.Lock)
    transport: SshTransport | None = None

    async def acquire(self) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.active < self.limit)
            self.active += 1

    async def release(self) -> None:
        async with self.changed:
            self.active -= 1
            self.changed.notify_all()

    async def refused(self, spec: HostSpec, alone: int) -> bool:
        """The live connection refused this command's session, so nothing was sent. The
        host allows at most the sessions open now: lower the limit to that (several
        refusals at once each lower it, the last to the true number) and wait for a slot.
        With no other session open, sshd may free a slot a moment late: retry a few times
        (``alone`` is how many such refusals came before). False: give up."""
        async with self.changed:
            self.active -= 1  # this command's session never opened
            self.changed.notify_all()
            others = self.active
            if others and others < self.limit:
                self.limit = others
                log.info("%s refused a session: at most %d at once on its connection",
                         spec.address, self.limit)
        if not others:
            if alone >= RETRIES_ALONE:
                await self.acquire_anyway()
                return False
            await asyncio.sleep(0.05 * 2 ** alone)
        try:
            await asyncio.wait_for(self.acquire(), REFUSED_WAIT)
        except asyncio.TimeoutError:
            await self.acquire_anyway()
            return False
        return True

    async def acquire_anyway(self) -> None:
        """Hold a slot again whatever the limit (the caller's release gives it back)."""
        async with self.changed:
            self.active += 1


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
        await entry.acquire()
        try:
            self.runs += 1
            return await self._run(entry, spec, options, command, stdin)
        finally:
            await entry.release()

    async def _run(self, entry: Entry, spec: HostSpec, options: ConnectOptions, command: str,
                   stdin: bytes) -> ExecResult:
        """Run the command once. Only a session that never opened is tried again: on a
        connection that had dropped (reopened once), or one the host refused."""
        reopened, alone = False, 0
        while True:
            transport = await self._transport(entry, spec, options)
            try:
                return await transport.run(command, stdin)
            except HostUnreachable as exc:
                if not isinstance(exc.__cause__, asyncssh.ChannelOpenError):
                    raise  # the command may have been sent: never run it twice
                if transport.closed():
                    if reopened:
                        raise
                    log.info("%s: the connection had dropped; reopening it", spec.address)
                    reopened = True
                    continue
                others = entry.active - 1
                if not await entry.refused(spec, alone):
                    raise
                alone = alone + 1 if not others else 0

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
