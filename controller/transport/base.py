"""The transport contract: run one command with some stdin on one host, get its output.

A transport is an async context manager; ``run`` may be called many times between
``__aenter__`` and ``__aexit__`` (one connection, many execs). Transports raise only
``HostUnreachable`` (could not connect or authenticate) and ``HostFailed`` (connected, but
the command could not be run); every library error is translated where it is caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ExecResult:
    exit_status: int
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True)
class ConnectOptions:
    """Run-wide connection options (per-host settings live in HostSpec)."""

    connect_timeout: float | None = None  # -T: wins over the host's; else the host's, else 10
    host_key_checking: bool = True  # False only when the user says so, and then loudly
    connect_retries: int = 4  # for connections dropped before login (sshd's MaxStartups)
    retry_backoff: float = 0.5  # seconds, doubled each retry, with full jitter


class Transport(Protocol):
    async def __aenter__(self) -> Transport: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def run(self, command: str, stdin: bytes) -> ExecResult: ...
