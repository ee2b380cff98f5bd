"""Output modes, all from the same HostResult values.

- ``TextOutput``: Ansible's ad-hoc style (``host | CHANGED => {...}``, the ``ASYNC POLL`` /
  ``ASYNC OK`` / ``ASYNC FAILED`` lines), coloured on a terminal unless ``NO_COLOR``.
- ``OneLineOutput``: one line per host, as ``ansible -o``.
- ``JsonOutput``: JSON Lines, one object per host per event (keys documented in the README).
- ``GroupedOutput``: hosts with identical output printed once under a folded host list.
- ``TreeOutput``: one result file per host in a directory, as ``ansible -t``; wraps another.

Each output hears events while an operation runs (``begin``, ``result``, ``poll_tick``,
``async_done``, from ``controller.events.NoEvents``) and gets ``end`` with every final
result, to print a recap.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Iterable

from .errors import OptionError
from .events import NoEvents
from .hostlist import fold
from .results import HostResult, Status

COLORS = {Status.CHANGED: "33", Status.OK: "32", Status.RUNNING: "32",
          Status.FAILED: "31", Status.UNREACHABLE: "31"}
RECAP_PER_HOST_UP_TO = 20
VOLATILE = ("start", "end", "delta", "results_file", "erased", "child_pid", "ansible_job_id")


def use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") \
        and os.environ.get("TERM") != "dumb"


def paint(text: str, status: Status, color: bool) -> str:
    return f"\x1b[{COLORS[status]}m{text}\x1b[0m" if color else text


def dumps(data: Any, indent: int | None = 4) -> str:
    return json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=False, default=str)


def result_block(result: HostResult, color: bool = False) -> str:
    return paint(f"{result.host} | {result.status.label} => {dumps(result.data)}",
                 result.status, color)


def one_line(result: HostResult) -> str:
    """As ``ansible -o``: command results as rc and output, the rest as compact JSON."""
    data = result.data
    if "rc" in data and "stdout" in data and data.get("finished", 1):
        text = f"{result.host} | {result.status.label} | rc={data['rc']} | (stdout) " + \
            str(data.get("stdout", "")).replace("\n", "\\n")
        if data.get("stderr"):
            text += " (stderr) " + str(data["stderr"]).replace("\n", "\\n")
        return text
    return f"{result.host} | {result.status.label} => {dumps(data, None)}"


def poll_line(jid: str, result: HostResult) -> str:
    if result.status is Status.UNREACHABLE:
        return f"ASYNC POLL on {result.host}: jid={jid} unreachable, will retry: {result.msg}"
    return f"ASYNC POLL on {result.host}: jid={jid} started=1 finished=0"


def done_line(jid: str, result: HostResult) -> str:
    word = "OK" if result.status in (Status.OK, Status.CHANGED) else "FAILED"
    return f"ASYNC {word} on {result.host}: jid={jid}"


def counts(results: Iterable[HostResult]) -> dict[Status, int]:
    tally = dict.fromkeys(Status, 0)
    for result in results:
        tally[result.status] += 1
    return tally


def recap(results: list[HostResult], color: bool = False) -> str:
    """Like Ansible's PLAY RECAP: a line per host, or the counts when there are many."""
    line = "RECAP " + "*" * 60
    if len(results) > RECAP_PER_HOST_UP_TO:
        tally = counts(results)
        return f"{line}\n{len(results)} hosts: " + "  ".join(
            f"{s.value}={n}" for s, n in tally.items())
    width = max(len(r.host) for r in results)
    rows = []
    for r in sorted(results, key=lambda r: r.host):
        tally = counts([r])
        row = f"{r.host.ljust(width)} : " + "  ".join(f"{s.value}={n}" for s, n in tally.items())
        rows.append(paint(row, r.status, color))
    return "\n".join([line] + rows)


class Output(NoEvents):
    """The base output: hears every event, prints nothing; ``end`` gets every final result."""

    quiet_launch = False  # under -P N Ansible shows no launch line for hosts that started

    def end(self, op: str, results: list[HostResult]) -> None:
        return None

    def say(self, text: str) -> None:
        # arguments and output may hold bytes that are not UTF-8 (lone surrogates here)
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        print(text, file=sys.stdout, flush=True)  # sys.stdout looked up now: rich may wrap it

    def shown(self, op: str, result: HostResult) -> bool:
        return not (op == "launch" and self.quiet_launch and result.status is Status.CHANGED)


class Forwarding(Output):
    """An output that wraps another and passes every event on (tree files, progress)."""

    def __init__(self, inner: Output) -> None:
        self.inner = inner
        self.quiet_launch = inner.quiet_launch

    def begin(self, op: str, jid: str | None, total: int) -> None:
        self.inner.begin(op, jid, total)

    def result(self, op: str, result: HostResult) -> None:
        self.inner.result(op, result)

    def poll_tick(self, jid: str, result: HostResult) -> None:
        self.inner.poll_tick(jid, result)

    def async_done(self, jid: str, result: HostResult) -> None:
        self.inner.async_done(jid, result)

    def end(self, op: str, results: list[HostResult]) -> None:
        self.inner.end(op, results)


class TextOutput(Output):
    def __init__(self, recap: bool = True) -> None:
        self.color = use_color()
        self.with_recap = recap

    def result(self, op: str, result: HostResult) -> None:
        if self.shown(op, result):
            self.say(self.format(result))

    def format(self, result: HostResult) -> str:
        return result_block(result, self.color)

    def poll_tick(self, jid: str, result: HostResult) -> None:
        self.say(poll_line(jid, result))

    def async_done(self, jid: str, result: HostResult) -> None:
        self.say(done_line(jid, result))

    def end(self, op: str, results: list[HostResult]) -> None:
        if self.with_recap and results:
            self.say(recap(results, self.color))


class OneLineOutput(TextOutput):
    def format(self, result: HostResult) -> str:
        return paint(one_line(result), result.status, self.color)


class JsonOutput(Output):
    """JSON Lines on stdout: ``{"event", "op", "jid", "host", "status", "data"}``."""

    def __init__(self) -> None:
        self.jid: str | None = None

    def emit(self, event: str, op: str, jid: str | None, result: HostResult) -> None:
        self.say(json.dumps({"event": event, "op": op, "jid": jid, "host": result.host,
                             "status": result.status.value, "data": result.data},
                            sort_keys=True, ensure_ascii=False, default=str))

    def begin(self, op: str, jid: str | None, total: int) -> None:
        self.jid = jid or self.jid

    def result(self, op: str, result: HostResult) -> None:
        if self.shown(op, result):
            self.emit("result", op, self.jid or result.data.get("ansible_job_id"), result)

    def poll_tick(self, jid: str, result: HostResult) -> None:
        self.emit("poll", "poll", jid, result)

    def async_done(self, jid: str, result: HostResult) -> None:
        self.emit("done", "poll", jid, result)


def identity(result: HostResult) -> str:
    """What makes two hosts' outputs 'identical': everything but times, paths and ids."""
    return dumps({k: v for k, v in result.data.items() if k not in VOLATILE})


class GroupedOutput(Output):
    """Nothing is printed while the operation runs; at the end, each distinct output once,
    under the folded list of hosts that gave it (as ``clush -b``), then the recap."""

    def __init__(self) -> None:
        self.color = use_color()

    def end(self, op: str, results: list[HostResult]) -> None:
        groups: dict[str, list[HostResult]] = {}
        for result in results:
            groups.setdefault(identity(result), []).append(result)
        for members in sorted(groups.values(), key=lambda m: (-len(m), m[0].host)):
            first = members[0]
            header = f"{fold(r.host for r in members)} ({len(members)}) | {first.status.label}"
            data = {k: v for k, v in first.data.items() if k not in VOLATILE}
            self.say(paint("-" * 15 + f"\n{header}\n" + "-" * 15, first.status, self.color))
            self.say(dumps(data))
        if results:
            self.say(recap(results, self.color))


def safe_filename(host: str) -> str:
    name = host.replace(os.sep, "_").replace("\x00", "_")
    return "_" + name if name.startswith(".") or not name else name


class TreeOutput(Forwarding):
    """Writes each host's final result to ``<dir>/<host>`` as JSON (``ansible -t``) and
    forwards every event to the output it wraps."""

    def __init__(self, directory: str, inner: Output) -> None:
        super().__init__(inner)
        self.directory = directory
        try:
            os.makedirs(directory, exist_ok=True)
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
            reason = getattr(exc, "strerror", None) or str(exc)
            raise OptionError(f"--tree {directory!r}: cannot create it: {reason}") from exc

    def end(self, op: str, results: list[HostResult]) -> None:
        for result in results:
            path = os.path.join(self.directory, safe_filename(result.host))
            with open(path, "w", encoding="utf-8") as f:
                f.write(dumps(result.data, None))
        self.inner.end(op, results)


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Aligned text columns; the last column is not padded."""
    allrows = [header] + rows
    widths = [max(len(r[i]) for r in allrows) for i in range(len(header) - 1)]
    return "\n".join("  ".join([c.ljust(w) for c, w in zip(r, widths)] + [r[-1]])
                     for r in allrows)


def job_table(rows: list[tuple[str, str, str, dict[str, int], str]]) -> str:
    """jid, created, state, host counts, command -> the ``ctl jobs`` listing."""
    def tally(c: dict[str, int]) -> str:
        return " ".join(f"{k}={v}" for k, v in c.items() if v) or "-"
    return table(("JID", "CREATED", "STATE", "HOSTS", "COMMAND"),
                 [(a, b, c, tally(d), e) for a, b, c, d, e in rows])


def host_table(rows: list[tuple[str, str, str, str, str]]) -> str:
    return table(("HOST", "STATE", "LAST", "RC", "MESSAGE"), list(rows))
