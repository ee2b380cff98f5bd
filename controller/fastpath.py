"""Shell-only status reads, cleanups and launches: no Python start on the host, or none
waited for, when the shell is enough.

A status read or a cleanup of a finished job needs no interpreter on the host: one
``/bin/sh`` exec reads the job file (and, for a running record, the liveness facts of its
wrapper: boot id and ``/proc/<pid>/stat``) or erases the files. A launch is answered as soon
as the shell has written the running record; Python then supervises the job. The controller
builds the result with the wrapper's own functions (``status_result``, which asks
``lost_reason`` with the facts the shell read, ``cleanup_result``, ``started_result``), so
the answer is the one the wrapper would give.

The scripts are files of their own (``remote_payload/sh/*.sh``, read once per process), run
as ``/bin/sh -c SCRIPT ctl ARGUMENTS...`` with every argument quoted: nothing from a request
is ever written into a script's text.

Anything the shell cannot settle plainly (a cleanup of a record that may be running, a read
error, an old record layout, a ``~user`` or relative async dir) answers
``None``, and the caller makes the usual wrapper call instead.
"""

from __future__ import annotations

import json
import posixpath
import secrets
import shlex
from functools import cache
from importlib import resources
from typing import Any

from remote_payload import ctl_async_wrapper as wrapper

from . import payload, protocol
from .hosts import HostSpec
from .transport import Transport

MARK = b"CTL-FAST"
LAUNCH_REQUEST_MAX = 64 * 1024
OPS = ("status", "cleanup", "launch")


class Undecided(Exception):
    """The shell's answer does not settle it: make the wrapper call."""


def resolvable(async_dir: str) -> bool:
    """The shell resolves the async dir as the wrapper does: an absolute path, or ``~`` and
    ``~/...`` (head.sh puts the login's home there); not ``~user`` or a relative dir."""
    return async_dir == "~" or async_dir.startswith(("~/", "/"))


def applies(spec: HostSpec, request: dict[str, Any]) -> bool:
    op = request.get("op")
    if spec.connection != "ssh" or not resolvable(str(request.get("async_dir", ""))):
        return False
    if not wrapper.valid_jid(request.get("jid")):
        return False
    if op == "launch":  # the request rides in an environment variable: keep it small
        return len(json.dumps(request)) < LAUNCH_REQUEST_MAX
    return op in ("status", "cleanup")


@cache
def _read(name: str) -> str:
    return resources.files("remote_payload").joinpath("sh").joinpath(name).read_text("utf-8")


@cache
def script(op: str) -> str:
    """What ``/bin/sh -c`` runs for ``op``: remote_payload/sh/head.sh, then <op>.sh."""
    if op not in OPS:
        raise ValueError(f"no shell script for {op!r}")
    return _read("head.sh") + _read(f"{op}.sh")


def arguments(spec: HostSpec, request: dict[str, Any], token: str) -> list[str]:
    """The script's positional arguments: head.sh's, then the op's (see each .sh file)."""
    words = [token, request["async_dir"], request["jid"]]
    if request["op"] == "status":
        words += [wrapper.RUNNING_PREFIX, str(int(request.get("tail_lines") or 0)),
                  str(wrapper.TAIL_WINDOW + 1)]
    elif request["op"] == "launch":
        python = ["auto", *payload.DISCOVERY] if spec.python == "auto" else \
            ["exec", *payload.interpreter_argv(spec.python)]
        words += [payload.wrapper_sha256(), str(wrapper.VERSION), wrapper.RUNNING_PREFIX,
                  payload.bootstrap_snippet(), *python]
    return words


def command(spec: HostSpec, request: dict[str, Any], token: str) -> str:
    """``/bin/sh -c SCRIPT ctl ARGUMENTS...``, every word quoted (``payload.Become`` runs it
    as the become user): the script's text is the file's, whatever the request."""
    words = ["/bin/sh", "-c", shlex.quote(script(request["op"])), "ctl"]
    return " ".join(words + [shlex.quote(a) for a in arguments(spec, request, token)])


async def call(transport: Transport, spec: HostSpec, request: dict[str, Any]
               ) -> dict[str, Any] | None:
    """The result of a status read, cleanup or launch made by the shell alone, or None when
    the wrapper must decide."""
    token = secrets.token_hex(12)
    stdin = b""
    if request["op"] == "launch":  # the supervisor's request, passed on by the shell
        stdin = payload.encode_request(protocol.supervise(request), False)
    out = await payload.Become.of(spec).run(transport, command(spec, request, token), stdin)
    try:
        if out.exit_status != 0:
            raise Undecided()
        return answer(request, sections(out.stdout, token))
    except Undecided:
        return None


def sections(output: bytes, token: str) -> dict[str, bytes]:
    parts = output.split(b"\n" + token.encode() + b" ")
    if parts[0] != MARK:
        raise Undecided()
    found: dict[str, bytes] = {}
    for part in parts[1:]:
        name, newline, body = part.partition(b"\n")
        if not newline:
            raise Undecided()
        found[name.decode("ascii", "replace")] = body
    return found


def answer(request: dict[str, Any], found: dict[str, bytes]) -> dict[str, Any]:
    jid = request["jid"]
    if "dir" not in found:
        raise Undecided()
    job_file = posixpath.join(posixpath.normpath(_decode(found["dir"])), jid)
    if request["op"] == "launch":
        if "started" not in found:
            raise Undecided()
        return wrapper.started_result(jid, job_file)
    if request["op"] == "cleanup":
        if "missing" in found or "erased" in found:
            return wrapper.cleanup_result(jid, job_file, erased="erased" in found)
        raise Undecided()
    if "missing" in found:
        return wrapper.status_result(jid, job_file, None, "missing")
    if "record" not in found:
        raise Undecided()
    record, problem = wrapper.parse_record(found["record"])
    reported = Reported(found) if "pid" in found else None
    running = record is not None and wrapper.is_running(record)
    if running and _wrapper_pid(record):
        if reported is None or reported.pid != _wrapper_pid(record):
            raise Undecided()  # an older record layout, or a pid we were not told about
    result = wrapper.status_result(jid, job_file, record, problem, reported or wrapper.LOCAL)
    lines = int(request.get("tail_lines") or 0)
    if lines and not result.get("finished"):
        if "stdout" not in found or "stderr" not in found:
            raise Undecided()
        out, err = (wrapper.clip_tail(found[k][-wrapper.TAIL_WINDOW:],
                                      len(found[k]) > wrapper.TAIL_WINDOW)[0]
                    for k in ("stdout", "stderr"))
        result.update(wrapper.tail_fields(out, err, lines))
    return result


def _wrapper_pid(record: dict[str, Any]) -> int | None:
    info = record.get("ctl")
    try:
        return int(info["wrapper_pid"]) if isinstance(info, dict) and \
            info.get("wrapper_pid") else None
    except (TypeError, ValueError):
        raise Undecided() from None


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Undecided() from None


class Reported(wrapper.HostFacts):
    """The host's liveness facts as the shell read them: the wrapper pid's /proc stat line
    (or ``alive`` where there is no /proc and kill -0 succeeded) and the boot id."""

    def __init__(self, found: dict[str, bytes]) -> None:
        try:
            self.pid = int(found["pid"])
        except (KeyError, ValueError):
            raise Undecided() from None
        self.boot = _decode(found.get("boot", b"")) or None
        self.stat = found.get("stat", b"")
        self.fields: list[bytes] | None = None
        if self.stat and self.stat != b"alive":
            try:
                self.fields = wrapper.stat_fields(self.stat)
            except ValueError:
                raise Undecided() from None

    def _check(self, pid: int) -> None:
        if pid != self.pid:
            raise Undecided()

    def boot_id(self) -> str | None:
        return self.boot

    def alive(self, pid: int) -> bool:
        self._check(pid)
        if self.stat == b"alive":
            return True
        return self.fields is not None and self.fields[:1] not in ([], [b"Z"], [b"X"])

    def no_room(self, path: str) -> str | None:
        """Asked for a lost job only: the shell sent no filesystem facts, so the wrapper
        answers (it looks at the async dir's filesystem), at the cost of one Python start
        for a job that is lost."""
        raise Undecided()

    def start(self, pid: int) -> int | None:
        self._check(pid)
        try:
            return int(self.fields[19]) if self.fields else None
        except (ValueError, IndexError):
            return None
