"""ctl's remote job wrapper: standard library only, Python 3.6+, imports nothing from ctl.

The controller never runs this file directly. A tiny bootstrap (see ``BOOTSTRAP`` in
``controller/payload.py``) reads one JSON request line from stdin, finds this file in
``<async_dir>/.ctl/wrapper-<sha256>.py``, checks its hash, and calls ``main(request,
async_dir)``. ``main`` prints exactly one line ``CTL-RESULT <json>`` and returns.

Operations (``request["op"]``):
  launch   daemonize (double fork, setsid, stdio to /dev/null), start the job in its own
           process group, write the running record, then tell the controller "started";
           the supervisor enforces the timeout and writes the final record.
  status   read the job file, in the shape of Ansible's async_status.
  cleanup  erase the job file and its output files (refuses while the job runs).
  kill     signal the job's process group, SIGKILL after a grace period.

Job files follow Ansible's contract: ``<async_dir>/<jid>``, written to ``<jid>.tmp``,
fsynced and renamed; running record ``{"started": 1, "finished": 0, "ansible_job_id": ..}``;
a finished record has no ``started`` key. ctl's own bookkeeping lives under the ``ctl`` key.

The file stays one file (the controller pushes it by its hash), in four sections: compat
(JSON without the json package), contract (job files, records, requests, replies: all the
controller may use, named in ``CONTRACT``), process (supervision, signals, /proc) and ops
(one ``op_*`` per operation, and ``main``).
"""
import _signal as signal  # signal without the enum module it imports: ~2 ms less a call
import binascii
import errno
import os
import sys
import time

# The names the controller may take from this module: the contract section's, and main,
# which the bootstrap calls. Anything else here may change without notice to it
# (tests/unit/test_contract.py checks every controller/ module against this list).
CONTRACT = (
    # job files and records
    "VERSION", "RUNNING_PREFIX", "valid_jid", "parse_record", "is_running", "stat_fields",
    "HostFacts", "LOCAL",
    # requests and replies
    "REQUESTS", "RESULT_PREFIX", "NOT_FOUND", "TAIL_WINDOW", "TIMEOUT_GRACE", "status_result",
    "started_result", "cleanup_result", "clip_tail", "tail_fields",
    # the entry point
    "main",
)


# === compat: JSON without the json package =====================================================

# Imports are kept to what every operation needs: each costs milliseconds on every host
# (subprocess alone costs ~11 ms, hence the small fork/exec in Job below; json, re and enum
# together ~6 ms, hence the C parts of json used directly below).

try:
    from _json import encode_basestring_ascii as _ascii
    from _json import make_encoder as _make_encoder
    from _json import make_scanner as _make_scanner

    class _Context(object):
        """What json's C scanner reads from a JSONDecoder: json.loads' defaults."""
        strict = True
        object_hook = object_pairs_hook = None
        parse_float = parse_constant = float
        parse_int = int
        memo = {}  # type: dict

    _scan = _make_scanner(_Context())  # type: ignore[arg-type]

    def _unserializable(value):
        raise TypeError("%r is not JSON serializable" % (value,))

    def loads(text):
        """json.loads for text (errors are ValueError), without importing json."""
        text = text.strip(" \t\n\r")
        try:
            value, end = _scan(text, 0)
        except StopIteration:
            raise ValueError("not JSON") from None
        if end != len(text):
            raise ValueError("extra data after the JSON value")
        return value

    def dumps(value, sort_keys=False):
        """json.dumps(value, sort_keys=sort_keys), byte for byte, without importing json."""
        encode = _make_encoder({}, _unserializable, _ascii, None, ": ", ", ", sort_keys,
                               False, True)
        return "".join(encode(value, 0))

    if loads(dumps({"b": [1, 2.5, None, True, "\u00e9\n"], "a": {}}, True)) != \
            {"a": {}, "b": [1, 2.5, None, True, "\u00e9\n"]}:
        raise ImportError("json's C parts do not behave as expected")
except (ImportError, AttributeError, TypeError, ValueError):  # another Python: plain json
    import json

    loads = json.loads  # type: ignore[assignment]

    def dumps(value, sort_keys=False):
        return json.dumps(value, sort_keys=sort_keys)


# === contract: job files, records, requests and replies ========================================
#
# Job files, in the async dir:
#   <jid>         the record (JSON), replaced whole: written to <jid>.tmp, fsynced, renamed
#   <jid>.stdout  the job's output, appended to; <jid>.stderr likewise
#   <jid>.kill    a kill request to the job's supervisor: {"signal": NAME, "grace": SECONDS}
# A running record of ctl's is {"ctl": {...}, "started": 1, "finished": 0, "ansible_job_id":
# JID}, in that order (RUNNING_PREFIX); a finished one has no "started" key. Ansible's own
# records (no "ctl" key) are read and erased, never written.

VERSION = 1
RUNNING_PREFIX = '{"ctl": {"wrapper_pid": '  # how every running record of ctl's begins
RESULT_PREFIX = "CTL-RESULT "  # a reply: this, then the result as JSON, on one line
NOT_FOUND = "could not find job"  # a reply's msg when there is no job file (Ansible's words)
DEFAULT_OUTPUT_CAP = 4 * 1024 * 1024
TAIL_WINDOW = 64 * 1024  # poll --tail looks for its lines in the last 64 KiB of each stream
TIMEOUT_GRACE = 3.0  # -B ran out: SIGTERM to the job's group, SIGKILL this much later

# Requests: one JSON object, {"op": OP, <OP's fields, below>, "async_dir": DIR}. The
# bootstrap reads async_dir (and wrapper_sha256, which controller/payload.py adds); main()
# the rest. controller/protocol.py builds every request with exactly these fields.
_LAUNCH_FIELDS = ("jid", "cmd", "shell", "timeout", "output_cap", "cleanup_after", "expand",
                  "script")
REQUESTS = {
    "launch": _LAUNCH_FIELDS,
    "supervise": _LAUNCH_FIELDS,  # the shell launcher's second half (op_supervise)
    "status": ("jid", "tail_lines"),
    "cleanup": ("jid",),
    "kill": ("jid", "signal", "grace"),
    "logs": ("jid", "offsets", "max_bytes"),
    "gc": ("older_than",),
}


def valid_jid(jid):
    """Ansible's jids, old (no ``j``) and new, and nothing else: ``j?<1-12 digits>.<1-10
    digits>`` in ASCII, so no path can hide in one (the controller checks with this too)."""
    if not isinstance(jid, str):
        return False
    head, dot, tail = (jid[1:] if jid[:1] == "j" else jid).partition(".")
    return bool(dot) and 1 <= len(head) <= 12 and 1 <= len(tail) <= 10 and \
        all("0" <= c <= "9" for c in head + tail)


# --- job files --------------------------------------------------------------------------------

def job_paths(async_dir, jid):
    if not valid_jid(jid):
        raise ValueError("invalid jid %r" % jid)
    base = os.path.join(async_dir, jid)
    return {"job": base, "tmp": base + ".tmp", "stdout": base + ".stdout",
            "stderr": base + ".stderr", "kill": base + ".kill", "script": base + ".script"}


def write_record(paths, record, sort_keys=True):
    """Atomically replace the job file: <jid>.tmp, fsync, rename, fsync the directory."""
    write_file(paths["tmp"], encode_record(record, sort_keys))
    os.rename(paths["tmp"], paths["job"])
    sync_dir(paths["job"])


def encode_record(record, sort_keys=True):
    return dumps(record, sort_keys=sort_keys).encode("utf-8", "surrogateescape")


def write_file(path, data):
    """A new file holding ``data``, fsynced; on a full disk none is left behind."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError:  # a full disk: never leave a half-written record behind
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def sync_dir(path):
    try:
        dfd = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def claim_record(paths, record):
    """Create the job file with its first record, only if no job file of this jid exists:
    link(2) refuses an existing name atomically, so two launches of one jid (two resumes,
    a resume and a late launch) never both start it. False when one exists. A filesystem
    without hard links gets the old check-then-rename."""
    tmp = "%s.%d.tmp" % (paths["job"], os.getpid())
    write_file(tmp, encode_record(record, sort_keys=False))
    try:
        os.link(tmp, paths["job"])
    except OSError as exc:
        if exc.errno == errno.EEXIST or os.path.lexists(paths["job"]):
            return False
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
            raise
        os.rename(tmp, paths["job"])
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    sync_dir(paths["job"])
    return True


def save_record(paths, record, sort_keys=True):
    """Replace the job file's record; when the filesystem has no room for a new file (full
    disk, quota), overwrite the bytes the job file already holds instead (see rewrite)."""
    try:
        write_record(paths, record, sort_keys)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        rewrite(paths["job"], encode_record(record, sort_keys), exc)


def rewrite(path, data, why):
    """Write ``data`` over the file's first bytes, in the blocks it already has (no new
    block is needed, so a full disk takes it), padded with spaces (which JSON ignores) to
    its old length, then cut to size. A reader may catch it half-written (it says
    "unreadable" once); this is only ever the fallback of an atomic replace. Raises
    ``why`` when the data does not fit in those blocks."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if len(data) > max(st.st_size, st.st_blocks * 512):
            raise why
        view = memoryview(data + b" " * (st.st_size - len(data)))
        while view:
            view = view[os.write(fd, view):]
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_record(paths):
    """(record or None, problem): problem is 'missing', 'unreadable: ...' or None."""
    try:
        with open(paths["job"], "rb") as f:
            raw = f.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None, "missing"
        return None, "unreadable: %s" % exc
    return parse_record(raw)


def parse_record(raw):
    """A job file's bytes as (record or None, problem); the controller parses the bytes a
    shell read sent it with this same function."""
    try:
        record = loads(raw.decode("utf-8"))
    except ValueError:
        return None, "unreadable: %d bytes that are not a JSON object" % len(raw)
    if not isinstance(record, dict):
        return None, "unreadable: JSON that is not an object"
    return record, None


def remove_files(paths, keys=("job", "tmp", "stdout", "stderr", "kill", "script")):
    for key in keys:
        try:
            os.unlink(paths[key])
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise


def read_kill_request(paths):
    try:
        with open(paths["kill"]) as f:
            order = loads(f.read())
    except (IOError, OSError, ValueError):
        order = {}
    return {"signal": order.get("signal", "SIGTERM"), "grace": order.get("grace", 5)}


def write_json(path, data):
    fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(dumps(data))
    os.rename(path + ".new", path)


def tail(path, cap):
    """(text, truncated): the last ``cap`` bytes of a file, decoded with replacement."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - cap))
            data = f.read(cap)
    except (IOError, OSError):
        return "", False
    return clip_tail(data, size > cap)


def clip_tail(data, truncated):
    """(text, truncated) of a file's last bytes: a cut first line is dropped."""
    if truncated:
        data = data[data.find(b"\n") + 1:] if b"\n" in data else data
    return data.decode("utf-8", "replace").rstrip("\r\n"), truncated


def output_fields(paths, cap):
    out, out_trunc = tail(paths["stdout"], cap)
    err, err_trunc = tail(paths["stderr"], cap)
    fields = {"stdout": out, "stderr": err}
    if out_trunc:
        fields["stdout_truncated"] = True
    if err_trunc:
        fields["stderr_truncated"] = True
    return fields


# --- records ----------------------------------------------------------------------------------

def is_running(record):
    return "started" in record and not record.get("finished")


def stat_fields(stat):
    """/proc/<pid>/stat's fields after the command name (which may hold spaces)."""
    return stat[stat.rindex(b")") + 2:].split()


class HostFacts(object):
    """What lost_reason asks of the host, probed here. The controller's shell status read
    (remote_payload/sh/status.sh, controller/fastpath.py) answers the same questions from
    the facts it was sent."""

    def boot_id(self):
        return boot_id()

    def alive(self, pid):
        return pid_alive(pid)

    def start(self, pid):
        return proc_start(pid)

    def no_room(self, path):
        return no_room(path)


LOCAL = HostFacts()


def lost_reason(record, facts=LOCAL):
    """Why a record that says running has no live wrapper behind it, or None if it may live."""
    info = record.get("ctl")
    if not isinstance(info, dict) or not info.get("wrapper_pid"):
        return None  # not ctl's record (Ansible's): we cannot tell
    pid = int(info["wrapper_pid"])
    recorded_boot = info.get("boot_id")
    current_boot = facts.boot_id()
    if recorded_boot and current_boot and recorded_boot != current_boot:
        return "the host rebooted since the job started (boot id changed)"
    if not facts.alive(pid):
        return "its wrapper (pid %d) is gone" % pid
    started = info.get("wrapper_start")
    if started is not None and facts.start(pid) not in (None, started):
        return "its wrapper (pid %d) is gone; the pid now belongs to another process" % pid
    return None


# --- replies ----------------------------------------------------------------------------------

def emit(result):
    sys.stdout.write(RESULT_PREFIX + dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


def not_found(jid, paths):
    return {"failed": True, "msg": NOT_FOUND, "ansible_job_id": jid,
            "started": 1, "finished": 1, "results_file": paths["job"]}


def started_result(jid, job_file):
    """What a launch answers once the running record is written (here, or from the
    controller's shell launcher)."""
    return {"started": 1, "finished": 0, "ansible_job_id": jid, "results_file": job_file,
            "changed": True}


def status_result(jid, job_file, record, problem, facts=LOCAL):
    """A job's status in the shape of Ansible's async_status, from its record (or the
    problem reading it) and the host's liveness facts."""
    if problem == "missing":
        return not_found(jid, {"job": job_file})
    if problem:
        return {"failed": True, "unreadable": True, "ansible_job_id": jid, "started": 1,
                "finished": 1, "results_file": job_file,
                "msg": "job file %s is %s" % (job_file, problem)}
    result = dict((k, v) for k, v in record.items() if k != "ctl")  # bookkeeping, not news
    result["ansible_job_id"] = jid
    result["results_file"] = job_file
    if is_running(record):
        reason = lost_reason(record, facts)
        if reason:
            result.update(finished=1, failed=True, lost=True,
                          msg="job lost: %s, but its record still says running" % reason)
            full = facts.no_room(os.path.dirname(job_file))
            if full:  # the likely cause: the wrapper could not write the job's record
                result["msg"] += "; the async dir's filesystem says: %s (the job's record " \
                    "could not be written there)" % full
        else:
            result.update(started=1, finished=0)
        return result
    result.update(started=1, finished=1)
    return with_lines(result)


def with_lines(result):
    for key in ("stdout", "stderr"):
        if isinstance(result.get(key), str):
            result[key + "_lines"] = result[key].splitlines()
    return result


def tail_fields(out, err, lines):
    return {"stdout_tail": out.splitlines()[-lines:], "stderr_tail": err.splitlines()[-lines:]}


def cleanup_result(jid, job_file, erased):
    """What a cleanup that erased the files (or found none) answers, here or from the
    controller's shell cleanup."""
    if not erased:
        return {"ansible_job_id": jid, "changed": False, "missing": True,
                "msg": "%s; nothing to erase at %s" % (NOT_FOUND, job_file)}
    return {"ansible_job_id": jid, "changed": False, "erased": job_file, "finished": 0,
            "started": 0}


def exists_result(jid, job_file):
    """A launch refused: a job file of this jid is already there (the job was started on
    this host before; it is never started twice)."""
    return {"failed": True, "exists": True, "ansible_job_id": jid, "results_file": job_file,
            "msg": "job file %s already exists; refusing to overwrite it" % job_file}


def nothing_to_kill(jid, paths, record):
    return {"changed": False, "ansible_job_id": jid, "finished": 1, "rc": record.get("rc"),
            "results_file": paths["job"], "msg": "job already finished; nothing to kill"}


# === process: the job, its supervisor, signals, /proc ==========================================

SIGNAL_NAMES = dict((getattr(signal, n), n) for n in sorted(dir(signal), reverse=True)
                    if n.startswith("SIG") and "_" not in n and n not in ("SIGIOT", "SIGCLD",
                                                                         "SIGPOLL"))
class Timeout(Exception):
    pass


def now():
    import datetime
    return datetime.datetime.now()


def boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


def proc_stat(pid):
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except (IOError, OSError):
        return None
    return stat_fields(stat)


def proc_start(pid):
    """Start time of pid in clock ticks since boot (None when /proc has no such field)."""
    fields = proc_stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (ValueError, IndexError):
        return None


def no_room(path):
    """The system's words when the filesystem of ``path`` cannot take a write from us (no
    block or inode left, or read-only), else None."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    if st.f_flag & getattr(os, "ST_RDONLY", 1):
        return os.strerror(errno.EROFS)
    blocks, inodes = (st.f_bfree, st.f_ffree) if os.geteuid() == 0 else \
        (st.f_bavail, st.f_favail)
    if (st.f_blocks and blocks == 0) or (st.f_files and inodes == 0):  # /proc has none
        return os.strerror(errno.ENOSPC)
    return None


def pid_alive(pid):
    """True if pid is a live process (a zombie nobody reaped is dead)."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            return False
    fields = proc_stat(pid)
    return not (fields and fields[0] in (b"Z", b"X"))


def open_output(path):
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)


def job_argv(request, paths):
    """The job's argv: ``/bin/sh -c`` for shell; ``$VAR`` and ``~`` expanded in each word
    with ``expand`` (Ansible's command module does); with ``script`` (Ansible's script
    module), the first word names the shipped script, which is written beside the job file
    (0700) and run in its place."""
    if request.get("shell"):
        return ["/bin/sh", "-c", request["cmd"]]
    argv = list(request["cmd"])
    if request.get("expand"):
        argv = [os.path.expanduser(os.path.expandvars(word)) for word in argv]
    if request.get("script") is not None:
        write_script(paths["script"], request["script"])
        argv[:1] = [paths["script"]]
    return argv


def write_script(path, encoded):
    data = binascii.a2b_base64(encoded.encode("ascii"))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o700)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class Job(object):
    """The job's process: its own session and process group, stdin /dev/null, stdout and
    stderr to the output files, in the home directory. A failed exec raises OSError here,
    as subprocess would (the errno travels back on a close-on-exec pipe)."""

    def __init__(self, argv, out_fd, err_fd):
        self.returncode = None
        read_fd, write_fd = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.close(read_fd)
                os.setsid()
                # as a login shell would start it (we may have been started with some ignored)
                for name in ("SIGHUP", "SIGUSR1", "SIGPIPE", "SIGXFSZ", "SIGINT", "SIGQUIT"):
                    signal.signal(getattr(signal, name), signal.SIG_DFL)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(out_fd, 1)
                os.dup2(err_fd, 2)
                home = os.path.expanduser("~")
                os.chdir(home if os.path.isdir(home) else "/")
                os.closerange(3, write_fd)
                os.closerange(write_fd + 1, min(os.sysconf("SC_OPEN_MAX"), 65536))
                os.execvp(argv[0], argv)
            except OSError as exc:
                text = "%s: %s" % (exc.strerror, argv[0])
                os.write(write_fd, str(exc.errno or 0).encode() + b":" + text.encode())
            finally:
                os._exit(127)
        os.close(write_fd)
        failure = os.read(read_fd, 4096)
        os.close(read_fd)
        if failure:
            os.waitpid(self.pid, 0)
            code, _, text = failure.partition(b":")
            raise OSError(int(code), text.decode("utf-8", "replace"))

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._set(status)
        return self.returncode

    def wait(self):
        while self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                self.returncode = -1
                break
            self._set(status)
        return self.returncode

    def _set(self, status):
        if os.WIFSIGNALED(status):
            self.returncode = -os.WTERMSIG(status)
        elif os.WIFEXITED(status):
            self.returncode = os.WEXITSTATUS(status)


def become_subreaper():
    """Orphaned descendants (children that setsid and whose parent exits) are reparented to
    us rather than to init, so a kill can find them all. Linux only; harmless elsewhere."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def supervise(request, paths, notify_fd, claimed=False):
    """Runs in the daemonized grandchild (or the shell launcher's process, which has
    ``claimed`` the job file already): claim the job file, start the job, tell the parent,
    wait, record."""
    jid = request["jid"]
    start = now()
    base = {"ansible_job_id": jid, "cmd": request["cmd"], "start": str(start)}
    signal.signal(signal.SIGUSR1, on_kill_request)
    become_subreaper()
    me = os.getpid()
    # In this order (RUNNING_PREFIX): a shell status read finds the pid in the first bytes
    # (dicts keep this order from CPython 3.6 on)
    info = {"wrapper_pid": me, "wrapper_start": proc_start(me), "boot_id": boot_id(),
            "version": VERSION}
    if not claimed:
        refused = claim(paths, jid, running_record(info, jid))
        if refused:
            notify(notify_fd, refused)
            return
    proc = start_job(request, paths, base, notify_fd)
    if proc is None:
        return
    info.update(job_pid=proc.pid, job_pgid=proc.pid, cmd=request["cmd"], start=str(start),
                timeout=request["timeout"], stdout_file=paths["stdout"],
                stderr_file=paths["stderr"])
    try:
        save_record(paths, running_record(info, jid), sort_keys=False)
    except OSError as exc:
        terminate(proc, signal.SIGKILL, 0)
        failed = dict(base, failed=True, changed=False, rc=proc.returncode, stdout="",
                      stderr="", msg="could not write the job file %s: %s" % (paths["job"], exc))
        try_save(paths, failed)
        notify(notify_fd, {"started": 0, "failed": True, "msg": failed["msg"]})
        return
    notify(notify_fd, started_result(jid, paths["job"]))
    Supervisor(proc, request, paths, base, start).run()


def running_record(info, jid):
    return {"ctl": info, "started": 1, "finished": 0, "ansible_job_id": jid}


def claim(paths, jid, record):
    """Take the job file for this launch (see claim_record); the launch's failed answer
    when it cannot be taken, else None. Leftover output files of an erased job of this
    jid are ours to remove once it is taken."""
    try:
        if not claim_record(paths, record):
            return exists_result(jid, paths["job"])
        remove_files(paths, ("stdout", "stderr"))
    except OSError as exc:
        return {"started": 0, "failed": True,
                "msg": "could not write the job file %s: %s" % (paths["job"], exc)}
    return None


def start_job(request, paths, base, notify_fd):
    """The job's process, or None when it could not be started (the record and the
    controller then say why, as Ansible's command module would)."""
    try:
        out_fd = open_output(paths["stdout"])
        err_fd = open_output(paths["stderr"])
        proc = Job(job_argv(request, paths), out_fd, err_fd)
        os.close(out_fd)
        os.close(err_fd)
        return proc
    except (OSError, ValueError) as exc:
        # Ansible's command module: rc is the errno, msg its words; ctl adds the reason
        code = getattr(exc, "errno", None) or 257
        record = dict(base, failed=1, rc=code, changed=False, end=str(now()), stdout="",
                      stderr="", delta="0:00:00", msg="Error executing command. %s" % exc)
        try_save(paths, record)
        notify(notify_fd, {"started": 0, "failed": True, "msg": record["msg"], "record": record})
        return None


def try_save(paths, record):
    """save_record, for a record whose failure to be written leaves nothing better to do:
    the status read then finds the wrapper gone and says why (no_room)."""
    try:
        save_record(paths, record)
        return True
    except OSError:
        return False


def notify(fd, message):
    """Tell the launching process how the launch went. It may be gone (its SSH session
    dropped, the controller killed): the record says it all then, and the supervisor must
    not die of a broken pipe over it."""
    if fd is None:  # started by the shell launcher, which has already answered
        return
    try:
        os.write(fd, dumps(message).encode("utf-8"))
    except OSError:
        pass
    finally:
        os.close(fd)


class KillRequested(Exception):
    pass


# Signal handlers raise only while the supervisor sits in proc.wait(); anywhere else they
# just note the request, which the supervisor's loop then picks up. No window can crash it.
WAITING = {"interruptible": False, "kill": False}


def on_alarm(signum, frame):
    if WAITING["interruptible"]:
        raise Timeout()


def on_kill_request(signum, frame):
    WAITING["kill"] = True
    if WAITING["interruptible"]:
        raise KillRequested()


def wait_until(proc, seconds):
    """Wait for proc up to ``seconds``; True if it ended. A kill request (SIGUSR1) raises
    KillRequested out of the wait."""
    if seconds <= 0:
        return proc.poll() is not None
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        WAITING["interruptible"] = True
        proc.wait()
        return True
    except Timeout:
        return False
    finally:
        WAITING["interruptible"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)


def descendants(root):
    """Pids descended from ``root`` (children, their children, and orphans we reaped)."""
    children = {}
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if name.isdigit():
            fields = proc_stat(int(name))
            if fields and len(fields) > 1 and fields[0] not in (b"Z", b"X"):
                children.setdefault(int(fields[1]), []).append(int(name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def signal_all(proc, signum):
    """Send ``signum`` to the job's process group and to every descendant of ours, including
    those that left the group or the session."""
    try:
        os.killpg(proc.pid, signum)
    except OSError:
        pass
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signum)
        except OSError:
            pass


def anything_left(proc):
    if proc.poll() is None:
        return True
    try:
        os.killpg(proc.pid, 0)
        return True
    except OSError:
        return bool(descendants(os.getpid()))


def reap_orphans(proc):
    """Reap the zombies of orphans reparented to us (we are their subreaper), never the
    job itself, whose status Job.wait() must see."""
    me = os.getpid()
    for pid in own_children(me):
        if pid == proc.pid:
            continue
        fields = proc_stat(pid)
        if fields and len(fields) > 1 and fields[0] == b"Z" and int(fields[1]) == me:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def own_children(me):
    """Our direct children: from /proc/<pid>/task/<pid>/children (we are single-threaded)
    when the kernel has it, which costs one read instead of a walk through all of /proc."""
    try:
        with open("/proc/%d/task/%d/children" % (me, me), "rb") as f:
            return [int(pid) for pid in f.read().split()]
    except (IOError, OSError, ValueError):
        names = os.listdir("/proc") if os.path.isdir("/proc") else []
        return [int(name) for name in names if name.isdigit()]


def terminate(proc, signum, grace):
    """``signum`` to everything the job started; SIGKILL what is left after ``grace``.
    Returns the name of the last signal that was needed."""
    signal_all(proc, signum)
    last = SIGNAL_NAMES.get(signum, str(signum))
    deadline = time.time() + grace
    while time.time() < deadline:
        wait_until(proc, min(0.1, max(deadline - time.time(), 0.01)))
        reap_orphans(proc)
        if not anything_left(proc):
            break
    if anything_left(proc):
        last = "SIGKILL"
        signal_all(proc, signal.SIGKILL)
    proc.wait()
    reap_orphans(proc)
    return last


class Supervisor(object):
    """Waits for the job; enforces the timeout; honours kill requests; writes the record."""

    def __init__(self, proc, request, paths, base, start):
        self.proc, self.request, self.paths = proc, request, paths
        self.base, self.start = base, start
        self.cap = int(request.get("output_cap") or DEFAULT_OUTPUT_CAP)

    def run(self):
        deadline = self.start.timestamp() + float(self.request["timeout"])
        outcome = None
        while outcome is None:
            try:
                if WAITING["kill"]:
                    outcome = self.killed()
                elif wait_until(self.proc, deadline - time.time()):
                    outcome = self.ended()
                elif time.time() >= deadline:
                    outcome = self.timed_out()
            except KillRequested:
                outcome = self.killed()
        reap_orphans(self.proc)
        self.write(outcome)
        self.linger()

    def ended(self):
        rc = self.proc.returncode
        record = dict(self.base, changed=True, rc=rc,
                      msg="" if rc == 0 else "non-zero return code")
        if rc != 0:
            record["failed"] = True
        return record

    def timed_out(self):
        timed_out = {"msg": "Timeout exceeded", "failed": True, "child_pid": self.proc.pid,
                     "ansible_job_id": self.base["ansible_job_id"], "timeout": True}
        try_save(self.paths, timed_out)  # as Ansible: the record first, then the kill
        last = terminate(self.proc, signal.SIGTERM, TIMEOUT_GRACE)
        return dict(self.base, rc=self.proc.returncode, signal=last, **timed_out)

    def killed(self):
        order = read_kill_request(self.paths)
        signum = getattr(signal, order["signal"], signal.SIGTERM)
        last = terminate(self.proc, signum, float(order["grace"]))
        return dict(self.base, changed=True, failed=True, killed=True, signal=last,
                    rc=self.proc.returncode, msg="killed by ctl kill (%s)" % last)

    def write(self, record):
        end = now()
        record.update(end=str(end), delta=str(end - self.start))
        record.update(output_fields(self.paths, self.cap))
        after = self.request.get("cleanup_after")
        if after is not None:
            record["ctl"] = {"cleanup_at": time.time() + float(after)}
        if not os.path.exists(self.paths["job"]):
            # erased while running (Ansible's cleanup does that): do not resurrect it
            remove_files(self.paths)
            return
        try:
            save_record(self.paths, record)
        except OSError as exc:
            self.unwritable(record, exc)
        try:
            remove_files(self.paths, ("kill",))
        except OSError:
            pass

    def unwritable(self, record, exc):
        """The record cannot be written whole (a full disk, a quota) or at all (read-only):
        write a short failed one with the system's words; when even that cannot be written,
        the status read finds the wrapper gone and the filesystem full, and says so. No
        supervisor will be left: nothing the job started may linger unsupervised."""
        signal_all(self.proc, signal.SIGKILL)
        reap_orphans(self.proc)
        short = dict((k, record[k]) for k in ("ansible_job_id", "start", "end", "delta", "rc",
                                              "cmd") if k in record)
        short.update(changed=True, failed=True, stdout="", stderr="",
                     msg="could not write the job's record %s: %s (its output so far is in "
                         "%s and %s)" % (self.paths["job"], exc, self.paths["stdout"],
                                         self.paths["stderr"]))
        if not try_save(self.paths, short):
            short.pop("cmd", None)  # a long command may not fit in the file's blocks
            try_save(self.paths, short)

    def linger(self):
        """With --cleanup-after: stay (asleep, no controller needed) and erase the files."""
        after = self.request.get("cleanup_after")
        if after is None:
            return
        time.sleep(float(after))
        record, _ = read_record(self.paths)
        if record is not None and not is_running(record):
            remove_files(self.paths)


def daemonize_and_launch(request, paths):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: new session, fork again so the job can never regain a terminal
        os.close(read_fd)
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.close(devnull)
            supervise(request, paths, write_fd)
        except BaseException as exc:  # the parent must hear something, whatever happened
            try:
                notify(write_fd, {"started": 0, "failed": True, "msg": "wrapper error: %r" % exc})
            except OSError:  # notified already: the fd is closed
                pass
        os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    chunks = []
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    raw = b"".join(chunks)
    if not raw:
        return {"failed": True, "msg": "the job supervisor died before it started the job"}
    return loads(raw.decode("utf-8"))


# === ops: one function per request op, and main ===============================================

def op_supervise(request, paths):
    """The second half of the shell launcher (remote_payload/sh/launch.sh): /bin/sh has
    written the running record with this process's pid and told the controller "started",
    then exec'd us. Leave the SSH session, then start and supervise the job as a launch
    does."""
    try:
        os.setsid()
    except OSError:
        pass
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    remove_files(paths, ("stdout", "stderr"))  # leftovers of an erased job of this jid
    supervise(request, paths, None, claimed=True)
    return {"supervised": request["jid"]}


def op_launch(request, paths):
    if os.path.lexists(paths["job"]):  # the supervisor's claim_record makes sure of it
        return exists_result(request["jid"], paths["job"])
    return daemonize_and_launch(request, paths)


def op_status(request, paths):
    record, problem = read_record(paths)
    result = status_result(request["jid"], paths["job"], record, problem)
    tail_lines = int(request.get("tail_lines") or 0)
    if tail_lines and not result.get("finished"):
        result.update(running_output(paths, tail_lines))
    return result


def running_output(paths, lines):
    out, _ = tail(paths["stdout"], TAIL_WINDOW)
    err, _ = tail(paths["stderr"], TAIL_WINDOW)
    return tail_fields(out, err, lines)


def op_cleanup(request, paths):
    jid = request["jid"]
    record, problem = read_record(paths)
    if problem == "missing":
        return cleanup_result(jid, paths["job"], erased=False)
    if record is not None and is_running(record) and not lost_reason(record):
        return {"failed": True, "ansible_job_id": jid, "running": True,
                "msg": "job %s is still running; not erased (wait for it to finish)" % jid}
    remove_files(paths)
    return cleanup_result(jid, paths["job"], erased=True)


def op_kill(request, paths):
    """Ask the job's supervisor to stop it (SIGUSR1 + a request file) and wait for the
    finished, killed record."""
    jid = request["jid"]
    record, problem = read_record(paths)
    if problem == "missing":
        return not_found(jid, paths)
    if problem:
        return {"failed": True, "unreadable": True, "ansible_job_id": jid,
                "msg": "job file %s is %s" % (paths["job"], problem)}
    if not is_running(record):
        return nothing_to_kill(jid, paths, record)
    info = record.get("ctl")
    if not isinstance(info, dict) or not info.get("wrapper_pid"):
        return {"failed": True, "ansible_job_id": jid,
                "msg": "job was not started by ctl (no wrapper pid in its record); "
                       "ctl cannot stop it"}
    record = wait_for_supervisor(paths, record)
    if not is_running(record):
        return nothing_to_kill(jid, paths, record)
    reason = lost_reason(record)
    if reason:
        return {"failed": True, "lost": True, "ansible_job_id": jid, "finished": 1,
                "msg": "job lost: %s; nothing left to kill" % reason}
    info = record.get("ctl") or {}
    if "job_pid" not in info:
        return {"failed": True, "ansible_job_id": jid,
                "msg": "the job's supervisor has not started the job yet; try again"}
    order = {"signal": request.get("signal") or "SIGTERM", "grace": request.get("grace", 5)}
    write_json(paths["kill"], order)
    os.kill(int(info["wrapper_pid"]), signal.SIGUSR1)
    deadline = time.time() + float(order["grace"]) + 15
    while time.time() < deadline:
        record, problem = read_record(paths)
        if problem == "missing" or (record is not None and not is_running(record)):
            break
        time.sleep(0.05)
    if record is None or is_running(record):
        return {"failed": True, "ansible_job_id": jid,
                "msg": "sent %s, but the job has not ended yet" % order["signal"]}
    result = dict((k, v) for k, v in record.items() if k != "ctl")
    result.update(ansible_job_id=jid, started=1, finished=1, results_file=paths["job"])
    return with_lines(result)


def wait_for_supervisor(paths, record, seconds=10.0):
    """A record the shell launcher wrote names a process that is still becoming the Python
    supervisor (no job_pid yet, no SIGUSR1 handler): wait until it has taken over (or the
    record changes, or the process is gone)."""
    deadline = time.time() + seconds
    while time.time() < deadline and is_running(record) \
            and "job_pid" not in (record.get("ctl") or {}) and not lost_reason(record):
        time.sleep(0.05)
        record = read_record(paths)[0] or record
    return record


def op_logs(request, paths):
    """Output so far, from byte offsets: base64 chunks (the controller decodes them)."""
    import base64
    jid = request["jid"]
    record, problem = read_record(paths)
    limit = int(request.get("max_bytes") or 1024 * 1024)
    offsets = request.get("offsets") or {}
    result = {"ansible_job_id": jid, "more": False}
    present = False
    for stream in ("stdout", "stderr"):
        offset = int(offsets.get(stream, 0))
        data, size = b"", 0
        try:
            with open(paths[stream], "rb") as f:
                present = True
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(offset)
                data = f.read(limit)
        except (IOError, OSError):
            pass
        result[stream] = base64.b64encode(data).decode("ascii")
        result[stream + "_offset"] = offset + len(data)
        result["more"] = result["more"] or offset + len(data) < size
    if problem == "missing" and not present:
        return not_found(jid, paths)
    running = record is not None and is_running(record) and not lost_reason(record)
    result["finished"] = 0 if running else 1
    if not present:
        result["msg"] = "no output files for this job (started by Ansible, or erased)"
    return result


def op_gc(request, async_dir):
    """Erase finished job files older than ``older_than`` seconds, and those whose
    --cleanup-after time has passed; running jobs are kept."""
    older = request.get("older_than")
    erased, kept = [], 0
    now_ts = time.time()
    names = os.listdir(async_dir) if os.path.isdir(async_dir) else []
    for name in sorted(n for n in names if valid_jid(n)):
        paths = job_paths(async_dir, name)
        record, _ = read_record(paths)
        if record is not None and is_running(record) and not lost_reason(record):
            kept += 1
            continue
        info = record.get("ctl") if record is not None else None
        due = isinstance(info, dict) and info.get("cleanup_at") and info["cleanup_at"] <= now_ts
        try:
            age = now_ts - os.stat(paths["job"]).st_mtime
        except OSError:
            continue
        if due or (older is not None and age >= float(older)):
            remove_files(paths)
            erased.append(paths["job"])
    return {"changed": bool(erased), "erased": erased, "kept_running": kept,
            "async_dir": async_dir,
            "msg": "erased %d finished job(s), kept %d running" % (len(erased), kept)}


OPS = {"launch": op_launch, "supervise": op_supervise, "status": op_status,
       "cleanup": op_cleanup, "kill": op_kill, "logs": op_logs}


def main(request, async_dir):
    os.umask(0o077)
    try:
        if request["op"] == "gc":
            emit(op_gc(request, async_dir))
            return
        jid = request["jid"]
        paths = job_paths(async_dir, jid)
        if request["op"] == "launch" and not os.path.isdir(async_dir):
            try:
                os.makedirs(async_dir, 0o700)
            except OSError as exc:
                emit({"failed": True, "msg": "could not create directory: %s - %s (ctl: "
                      "check ansible_async_dir and what the login may write)"
                      % (async_dir, exc)})
                return
        emit(OPS[request["op"]](request, paths))
    except Exception as exc:
        emit({"failed": True, "msg": "%s: %s" % (type(exc).__name__, exc)})
