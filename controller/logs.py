"""Job output while it runs: fetch from byte offsets, decode incrementally, cut into lines.

Memory stays bounded: each fetch is at most ``max_bytes`` per stream, and only a partial
last line is kept between fetches.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
from typing import Callable

from . import protocol
from .hosts import HostSpec
from .results import HostResult, Status
from .runner import Session

LineSink = Callable[[str, str, str], None]  # host, stream ("stdout"/"stderr"), line
STREAMS = ("stdout", "stderr")
CHUNK = 1024 * 1024
MAX_LINE = 1024 * 1024  # a longer line (or endless output with no newline) is cut here


class StreamLines:
    """One host's stream: bytes in, complete lines out (UTF-8, invalid bytes replaced)."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.partial = ""

    def feed(self, data: bytes) -> list[str]:
        text = self.partial + self.decoder.decode(data)
        lines = text.split("\n")
        self.partial = lines.pop()
        if len(self.partial) > MAX_LINE:
            lines.append(self.partial)
            self.partial = ""
        return [line.rstrip("\r") for line in lines]

    def close(self) -> list[str]:
        rest = self.partial + self.decoder.decode(b"", final=True)
        self.partial = ""
        return [rest] if rest else []


async def host_logs(session: Session, spec: HostSpec, jid: str, follow: bool, sink: LineSink,
                    interval: float = 1.0) -> HostResult:
    """Print a host's output so far (and, with ``follow``, until the job ends)."""
    offsets = {s: 0 for s in STREAMS}
    lines = {s: StreamLines() for s in STREAMS}
    seen_finished = False
    while True:
        data = await session.call(spec, protocol.logs(spec.async_dir, jid, offsets, CHUNK),
                                  retry=True)
        if data.get("failed"):
            return HostResult.from_data(spec.name, data)
        got = 0
        for stream in STREAMS:
            chunk = base64.b64decode(data.get(stream) or "")
            got += len(chunk)
            offsets[stream] = int(data.get(f"{stream}_offset", offsets[stream]))
            for line in lines[stream].feed(chunk):
                sink(spec.name, stream, line)
        if data.get("more"):
            continue
        done = not follow or (seen_finished and not got)
        seen_finished = seen_finished or bool(data.get("finished"))
        if done:
            break
        if not seen_finished:
            await asyncio.sleep(interval)
    for stream in STREAMS:
        for line in lines[stream].close():
            sink(spec.name, stream, line)
    summary = {"ansible_job_id": jid, "changed": False, "finished": int(seen_finished),
               "stdout_bytes": offsets["stdout"], "stderr_bytes": offsets["stderr"]}
    if data.get("msg"):
        summary["msg"] = data["msg"]
    return HostResult(spec.name, Status.OK, summary)
