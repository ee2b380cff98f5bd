"""The transport contract: run one command with some stdin on one host, get its output.

A transport is an async context manager; ``run`` may be called many times between
``__aenter__`` and ``__aexit__`` (one connection, many execs). Transports raise only
``HostUnreachable`` (could not connect or authenticate) and ``HostFailed`` (connected, but
the command could not be run); every library error is translated where it is caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


class Transport(Protocol):
    async def __aenter__(self) -> Transport: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def run(self, command: str, stdin: bytes) -> ExecResult: ...
