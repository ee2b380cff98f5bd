"""The transport contract: run one command with some stdin on one host, get its output.

A transport is an async context manager; ``run`` may be called many times between
``__aenter__`` and ``__aexit__`` (one connection, many execs). ``tty`` runs a command on a
pseudo-terminal instead, for what insists on one (su's password prompt: ``controller.su``).
Transports raise only ``HostUnreachable`` (could not connect or authenticate) and
``HostFailed`` (connected, but the command could not be run); every library error is
translated where it is caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncContextManager, Protocol

from ..defaults import DEFAULTS


@dataclass(frozen=True)
class ExecResult:
    exit_status: int
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True)
class ConnectOptions:
    """Run-wide connection options (per-host settings live in HostSpec)."""

    host_key_checking: bool = True  # False only with --no-host-key-checking, and then loudly
    connect_retries: int = DEFAULTS["connect_retries"]  # dropped before login (MaxStartups)
    retry_backoff: float = DEFAULTS["retry_backoff"]  # seconds, doubled each retry, jittered


class Tty(Protocol):
    """A command running on a pseudo-terminal: one stream out (stdout and stderr merged, as
    a terminal shows them, echo off from the start) and one in."""

    async def read(self) -> bytes: ...  # what came next; b"" once the output has ended

    def write(self, data: bytes) -> None: ...

    async def wait(self) -> int: ...  # the exit status, once the output has ended


class Transport(Protocol):
    async def __aenter__(self) -> Transport: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def run(self, command: str, stdin: bytes) -> ExecResult: ...

    def tty(self, command: str) -> AsyncContextManager[Tty]: ...  # leaving it ends the command
