"""What the controller asks the remote wrapper, and what its answers mean.

One builder per operation returns the request the wrapper reads. The wrapper's contract
section is the authority on each operation's fields (``REQUESTS`` in
``remote_payload/ctl_async_wrapper.py``): a builder whose fields differ from it raises
ValueError, so the two cannot drift apart unnoticed. Replies are the wrapper's result dicts;
the constants and predicates below name what the controller looks for in them.

How a request travels (stdin, the bootstrap, the ``CTL-RESULT`` line) is ``payload``'s
business; the shell-only paths that answer some requests without Python are ``fastpath``'s.
"""

from __future__ import annotations

import base64
from typing import Any

from remote_payload import ctl_async_wrapper as wrapper

Request = dict[str, Any]

NOT_FOUND = wrapper.NOT_FOUND  # a reply's msg when the host has no job file for the jid
TIMEOUT_GRACE = wrapper.TIMEOUT_GRACE  # -B ran out: seconds from SIGTERM to SIGKILL there


def launch(async_dir: str, jid: str, cmd: list[str] | str, shell: bool, timeout: int,
           output_cap: int, cleanup_after: float | None, expand: bool = False,
           script: bytes | None = None) -> Request:
    """Start ``cmd`` (an argv, or with ``shell`` one ``/bin/sh -c`` string) as job ``jid``,
    stopped after ``timeout`` seconds; its record keeps the last ``output_cap`` bytes of each
    stream; with ``cleanup_after``, the host erases its files that many seconds after it
    ends."""
    return _request("launch", async_dir, jid=jid, cmd=cmd, shell=shell, timeout=timeout,
                    output_cap=output_cap, cleanup_after=cleanup_after, expand=expand,
                    script=None if script is None else base64.b64encode(script).decode())


def supervise(launch_request: Request) -> Request:
    """The shell launcher's second half: the launch's own fields, for the Python supervisor
    that the shell starts once it has answered "started"."""
    if launch_request.get("op") != "launch":
        raise ValueError(f"supervise takes a launch request, not {launch_request.get('op')!r}")
    fields = {k: v for k, v in launch_request.items() if k not in ("op", "async_dir")}
    return _request("supervise", launch_request["async_dir"], **fields)


def status(async_dir: str, jid: str, tail_lines: int = 0) -> Request:
    """The job's state, as Ansible's async_status; a running job's last ``tail_lines``
    lines of output with it."""
    return _request("status", async_dir, jid=jid, tail_lines=tail_lines)


def cleanup(async_dir: str, jid: str) -> Request:
    """Erase the job's files; refused (``"running": true``) while the job runs."""
    return _request("cleanup", async_dir, jid=jid)


def kill(async_dir: str, jid: str, signal: str, grace: float) -> Request:
    """``signal`` (a name such as ``SIGTERM``) to everything the job started, SIGKILL to
    what is left after ``grace`` seconds."""
    return _request("kill", async_dir, jid=jid, signal=signal, grace=grace)


def logs(async_dir: str, jid: str, offsets: dict[str, int], max_bytes: int) -> Request:
    """Output from byte ``offsets`` (per stream), at most ``max_bytes`` of each, base64."""
    return _request("logs", async_dir, jid=jid, offsets=offsets, max_bytes=max_bytes)


def gc(async_dir: str, older_than: float | None) -> Request:
    """Erase the async dir's finished job files older than ``older_than`` seconds (None:
    only those past their --cleanup-after time)."""
    return _request("gc", async_dir, older_than=older_than)


def not_found(reply: dict[str, Any]) -> bool:
    """The host has no job file for the jid (never started there, or erased)."""
    return reply.get("msg") == NOT_FOUND


def exists(reply: dict[str, Any]) -> bool:
    """A launch refused because a job file of the jid is there already (the job was
    started on the host by an earlier launch or a concurrent resume)."""
    return reply.get("exists") is True


def _request(op: str, async_dir: str, **fields: Any) -> Request:
    expected = wrapper.REQUESTS[op]
    if tuple(fields) != expected:
        raise ValueError(f"a {op} request has the fields {', '.join(expected)} (the "
                         f"wrapper's REQUESTS), not {', '.join(fields)}")
    return {"op": op, **fields, "async_dir": async_dir}
