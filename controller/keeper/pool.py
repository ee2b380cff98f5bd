"""The keeper's SSH connections: one per connection identity (address, port, user, key,
jump, host-key settings, password), never shared between two identities; at most
``max_sessions`` commands at once on each (sshd's MaxSessions, 10 by default), the rest
queue; a connection found dropped is reopened before a command is sent, never after.
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


@dataclass
class Entry:
    sessions: asyncio.Semaphore
    opening: asyncio.Lock = field(default_factory=asyncio.Lock)
    transport: SshTransport | None = None


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
        entry = self.entries.setdefault(identity(spec, options),
                                        Entry(asyncio.Semaphore(self.max_sessions)))
        async with entry.sessions:
            self.runs += 1
            for attempt in (0, 1):
                transport = await self._transport(entry, spec, options)
                try:
                    return await transport.run(command, stdin)
                except HostUnreachable as exc:
                    if attempt or not unsent(exc, transport):
                        raise
                    log.info("%s: the connection had dropped; reopening it", spec.address)
        raise AssertionError("unreachable")

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


def unsent(exc: HostUnreachable, transport: SshTransport) -> bool:
    """The command was never sent: its session could not be opened because the connection
    had closed (not a MaxSessions refusal on a live one). Only then is it safe to retry."""
    return isinstance(exc.__cause__, asyncssh.ChannelOpenError) and transport.closed()


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)
