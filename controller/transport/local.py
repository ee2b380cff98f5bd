"""The ``local`` connection: run the command on the controller itself, with no SSH."""

from __future__ import annotations

import asyncio

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
