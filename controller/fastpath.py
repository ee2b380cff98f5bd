"""Shell-only status reads and cleanups: no Python start on the host when reading a file is
enough.

A status read or a cleanup of a finished job needs no interpreter on the host: one
``/bin/sh`` exec reads the job file (and, for a running record, the liveness facts of its
wrapper: boot id and ``/proc/<pid>/stat``) or erases the files. The controller then builds
the result with the wrapper's own functions (``status_result``, ``lost_reason``,
``cleanup_result``), so the answer is the one the wrapper would give.

Anything the shell cannot settle plainly (a cleanup of a record that may be running, a read
error, an old record layout, a ``~user`` or relative async dir) answers
``None``, and the caller makes the usual wrapper call instead.
"""

from __future__ import annotations

import json
import posixpath
import secrets
import shlex
from typing import Any

from remote_payload import ctl_async_wrapper as wrapper

from . import payload, protocol
from .hosts import HostSpec
from .transport import Transport

MARK = b"CTL-FAST"
LAUNCH_REQUEST_MAX = 64 * 1024

# Sections are framed by a random token chosen per call (the job cannot know it): output
# files hold any bytes. Liveness facts are read before the record, so a wrapper that is gone
# while its record still says running was gone before that record was read: truly lost.
_STATUS = """\
d=%(dir)s; f="$d"/%(jid)s
%(head)sif [ ! -e "$f" ]; then s missing; exit 0; fi
h=$(head -c 64 -- "$f" 2>/dev/null)
case $h in
%(prefix)s[0-9]*)
  p=${h#%(prefix)s}; p=${p%%%%[!0-9]*}; b=; t=
  { read -r b </proc/sys/kernel/random/boot_id; } 2>/dev/null
  { read -r t </proc/"$p"/stat; } 2>/dev/null || { kill -0 "$p" 2>/dev/null && t=alive; }
  s pid; printf '%%s' "$p"; s boot; printf '%%s' "$b"; s stat; printf '%%s' "$t"
  if [ %(tail)d -gt 0 ]; then
    s stdout; tail -c %(window)d -- "$f.stdout" 2>/dev/null
    s stderr; tail -c %(window)d -- "$f.stderr" 2>/dev/null
  fi;;
esac
s record; exec cat -- "$f"
"""

# A record with a "started" key may be running: the wrapper decides (JSON escapes the
# quotes inside strings, so only a real key matches). grep's 1 means none: erase.
_CLEANUP = """\
d=%(dir)s; f="$d"/%(jid)s
%(head)sif [ ! -e "$f" ]; then s missing; exit 0; fi
grep -q '"started"[[:space:]]*:' "$f" 2>/dev/null
case $? in
1) rm -f -- "$f" "$f.tmp" "$f.stdout" "$f.stderr" "$f.kill" && s erased;;
*) s undecided;;
esac
"""


# The launch, when the host already holds this wrapper version: the shell answers "started"
# as soon as a background process of its own has written the running record (naming that
# process, its start time and the boot id), then that process execs Python as the job's
# supervisor (op "supervise"), which starts the job. No Python start is waited for, so
# the reply no longer waits for the interpreter, the wrapper and the forks. Anything
# unusual (no /proc, no interpreter, a job file already there, the wrapper missing or not
# matching its hash) is undecided: the wrapper's own launch then decides, and pushes.
_LAUNCH = """\
umask 077
d=%(dir)s; f="$d"/%(jid)s; w="$d"/.ctl/wrapper-%(sha)s.py
%(head)s%(find)s
if [ -z "$y" ] || [ ! -r /proc/self/stat ] || [ -e "$f" ] || [ -L "$f" ] ||
   [ "$(sha256sum <"$w" 2>/dev/null)" != "%(sha)s  -" ]; then s undecided; exit 0; fi
[ -n "$q" ] || { s undecided; exit 0; }
r=$( (
  exec </dev/null 2>/dev/null
  read -r t </proc/self/stat || exit 0
  p=${t%%%% *}; set -- ${t##*') '}; b=
  read -r b </proc/sys/kernel/random/boot_id
  printf '{"ctl": {"wrapper_pid": %%s, "wrapper_start": %%s, "boot_id": "%%s", '\
'"version": %(version)d}, "started": 1, "finished": 0, "ansible_job_id": "%(jid)s"}' \
    "$p" "${20}" "$b" >"$f.tmp" &&
    mv -f -- "$f.tmp" "$f" || { rm -f -- "$f.tmp"; exit 0; }
  echo started
  exec >/dev/null
  CTL_REQUEST=${q#CTL-REQUEST } exec %(python)s -c %(boot)s
) & )
[ "$r" = started ] && s started || s undecided
"""


# Every script starts here: stdin is read to its end first (the request line, if any, kept
# in $q), as the wrapper does, so the channel never closes under the client's writes.
_HEAD = """\
q=; while IFS= read -r l; do case $l in 'CTL-REQUEST '*) q=$l;; esac; done
s() { printf '\\n%(token)s %%s\\n' "$1"; }
printf CTL-FAST; s dir; printf '%%s' "$d"
"""


class Undecided(Exception):
    """The shell's answer does not settle it: make the wrapper call."""


def shell_dir(async_dir: str) -> str | None:
    """The async dir as a shell word, resolved as the wrapper resolves it (``~`` is the
    login's home, which sshd and ``sudo -H`` put in $HOME); None when the shell could not
    resolve it the same way."""
    if async_dir == "~":
        return '"$HOME"'
    if async_dir.startswith("~/"):
        return '"$HOME"/' + shlex.quote(async_dir[2:])
    if async_dir.startswith("/"):
        return shlex.quote(async_dir)
    return None


def applies(spec: HostSpec, request: dict[str, Any]) -> bool:
    op = request.get("op")
    if spec.connection != "ssh" or shell_dir(str(request.get("async_dir", ""))) is None:
        return False
    if not wrapper.valid_jid(request.get("jid")):
        return False
    if op == "launch":  # the request rides in an environment variable: keep it small
        return len(json.dumps(request)) < LAUNCH_REQUEST_MAX
    return op in ("status", "cleanup")


def command(spec: HostSpec, request: dict[str, Any], token: str) -> str:
    template = {"status": _STATUS, "cleanup": _CLEANUP, "launch": _LAUNCH}[request["op"]]
    python = '"$y" -S' if spec.python == "auto" else \
        " ".join(payload.interpreter_words(spec.python))
    script = template % {"head": _HEAD % {"token": token},
                         "dir": shell_dir(request["async_dir"]), "jid": request["jid"],
                         "prefix": shlex.quote(wrapper.RUNNING_PREFIX),
                         "tail": int(request.get("tail_lines") or 0),
                         "window": wrapper.TAIL_WINDOW + 1, "sha": payload.wrapper_sha256(),
                         "version": wrapper.VERSION, "find": payload.find_python(spec.python),
                         "python": python, "boot": shlex.quote(payload.bootstrap_snippet())}
    words = payload.sudo_words(spec.become_user if spec.become else None)
    return " ".join(words + ["/bin/sh", "-c", shlex.quote(script)])


async def call(transport: Transport, spec: HostSpec, request: dict[str, Any]
               ) -> dict[str, Any] | None:
    """The result of a status read, cleanup or launch made by the shell alone, or None when
    the wrapper must decide."""
    token = secrets.token_hex(12)
    password = (spec.become_password or "") if spec.become else None
    if request["op"] == "launch":  # the supervisor's request, passed on by the shell
        stdin = payload.encode_request(protocol.supervise(request), False, password)
    else:
        stdin = payload.become_line(password)
    out = await transport.run(command(spec, request, token), stdin)
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

    def start(self, pid: int) -> int | None:
        self._check(pid)
        try:
            return int(self.fields[19]) if self.fields else None
        except (ValueError, IndexError):
            return None
