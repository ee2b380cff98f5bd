"""Ansible's ad-hoc output, from HostResult values: ``host | CHANGED => {...}``, the
``ASYNC POLL`` / ``ASYNC OK`` / ``ASYNC FAILED`` lines, and a PLAY RECAP-like summary."""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Iterable

from .results import HostResult, Status

COLORS = {Status.CHANGED: "33", Status.OK: "32", Status.RUNNING: "32",
          Status.FAILED: "31", Status.UNREACHABLE: "31"}


def use_color(stream: IO[str]) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def paint(text: str, status: Status, color: bool) -> str:
    return f"\x1b[{COLORS[status]}m{text}\x1b[0m" if color else text


def result_block(result: HostResult, color: bool = False) -> str:
    body = json.dumps(result.data, indent=4, sort_keys=True, ensure_ascii=False, default=str)
    return paint(f"{result.host} | {result.status.label} => {body}", result.status, color)


def poll_line(jid: str, result: HostResult) -> str:
    if result.status is Status.UNREACHABLE:
        return f"ASYNC POLL on {result.host}: jid={jid} unreachable, will retry: {result.msg}"
    return f"ASYNC POLL on {result.host}: jid={jid} started=1 finished=0"


def done_line(jid: str, result: HostResult) -> str:
    word = "OK" if result.status in (Status.OK, Status.CHANGED) else "FAILED"
    return f"ASYNC {word} on {result.host}: jid={jid}"


def recap(results: Iterable[HostResult]) -> str:
    counts = {s: 0 for s in Status}
    for result in results:
        counts[result.status] += 1
    parts = [f"{s.value}={counts[s]}" for s in Status]
    return "RECAP " + " ".join(parts)


class TextEvents:
    """Streams each event as Ansible would print it. ``quiet_launch``: under -P N Ansible
    shows no launch line for hosts that started, only the polls and the final result."""

    def __init__(self, out: IO[str] | None = None, quiet_launch: bool = False) -> None:
        self.out = out or sys.stdout
        self.color = use_color(self.out)
        self.quiet_launch = quiet_launch

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def result(self, op: str, result: HostResult) -> None:
        if op == "launch" and self.quiet_launch and result.status is Status.CHANGED:
            return
        self._print(result_block(result, self.color))

    def poll_tick(self, jid: str, result: HostResult) -> None:
        self._print(poll_line(jid, result))

    def async_done(self, jid: str, result: HostResult) -> None:
        self._print(done_line(jid, result))


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Aligned text columns; the last column is not padded."""
    allrows = [header] + rows
    widths = [max(len(r[i]) for r in allrows) for i in range(len(header) - 1)]
    return "\n".join("  ".join([c.ljust(w) for c, w in zip(r, widths)] + [r[-1]])
                     for r in allrows)


def job_table(rows: list[tuple[str, str, str, dict[str, int], str]]) -> str:
    """jid, created, state, host counts, command -> the ``ctl jobs`` listing."""
    def counts(c: dict[str, int]) -> str:
        return " ".join(f"{k}={v}" for k, v in c.items() if v) or "-"
    return table(("JID", "CREATED", "STATE", "HOSTS", "COMMAND"),
                 [(a, b, c, counts(d), e) for a, b, c, d, e in rows])


def host_table(rows: list[tuple[str, str, str, str, str]]) -> str:
    return table(("HOST", "STATE", "LAST", "RC", "MESSAGE"), list(rows))
