"""The wire format between the controller and the remote wrapper.

A remote call is one exec of ``<python> -c <bootstrap>`` whose stdin carries one JSON
request line, optionally followed by the wrapper's source. The bootstrap runs the wrapper
stored at ``<async_dir>/.ctl/wrapper-<sha256>.py`` when its hash matches; otherwise it
stores the source it was sent (verified, written to a temp file, fsynced, renamed) or, when
none was sent, exits with ``NEED_WRAPPER_RC`` so the controller sends it on a second exec.
A half-written or tampered copy never runs: the hash is checked before every run. Pushing
a new version removes the older ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from remote_payload import ctl_async_wrapper as wrapper

from . import su
from .errors import HostFailed
from .hosts import HostSpec
from .settings import DEFAULTS
from .transport import ExecResult, Transport

NEED_WRAPPER_RC = 90
DISCOVERY = ("python3", "python", "/usr/libexec/platform-python")
NO_PYTHON = "CTL-NO-PYTHON"
RESULT_PREFIX = wrapper.RESULT_PREFIX

BOOTSTRAP = """\
import sys,os,pwd,marshal
try:
    from _json import make_scanner
    class C:
        strict=True;object_hook=object_pairs_hook=None;parse_float=parse_constant=float
        parse_int=int;memo={}
    L=lambda t,S=make_scanner(C()):S(t,0)[0]
except Exception:
    from json import loads as L
try:
    from _sha256 import sha256
except ImportError:
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256
os.umask(0o077)
e=os.environ.pop("CTL_REQUEST",None)
if e is None:
    d=sys.stdin.buffer.read()
    i=d.find(b"CTL-REQUEST ")
    n=d.find(b"\\n",i)
    q=L(d[i+12:n].decode("utf-8"))
    s=d[n+1:]
else:
    q=L(e)
    s=b""
a=q["async_dir"]
if a=="~" or a[:2]=="~/":
    a=pwd.getpwuid(os.getuid()).pw_dir+a[1:]
a=os.path.abspath(os.path.expanduser(a))
w=os.path.join(a,".ctl")
h=q["wrapper_sha256"]
p=os.path.join(w,"wrapper-"+h+".py")
def F(m):
    from json import dumps
    sys.stdout.write("CTL-RESULT "+dumps({"failed":True,"msg":m})+"\\n")
    sys.exit(0)
try:  # code is run from w (the code cache): only a directory of ours that only we may write
    o=os.lstat(w)
    if o.st_uid!=os.getuid() or o.st_mode&0o170022!=0o040000:
        F("%s is not a directory of this user that only it may write: ctl runs no code from "
          "it (remove it, or choose another ansible_async_dir)"%w)
except FileNotFoundError:
    pass
try:
    with open(p,"rb") as f:
        c=f.read()
except OSError:
    c=b""
if sha256(c).hexdigest()!=h:
    if sha256(s).hexdigest()!=h:
        sys.stdout.write("CTL-NEED-WRAPPER\\n")
        sys.exit(90)
    try:
        os.path.isdir(w) or os.makedirs(w,0o700)
    except OSError as x:
        F("could not create directory: %s - %s (ctl: check ansible_async_dir and what the "
          "login may write)"%(a,x))
    t="%s.%d.tmp"%(p,os.getpid())
    try:
        with open(t,"wb") as f:
            f.write(s)
            f.flush()
            os.fsync(f.fileno())
        os.rename(t,p)
    except OSError as x:
        try:
            os.unlink(t)
        except OSError:
            pass
        F("could not store ctl's wrapper in %s: %s"%(w,x))
    n=os.path.basename(p)
    for o in os.listdir(w):  # older versions and code caches; not a concurrent push's file
        if o.startswith("wrapper-") and o!=n and not o.startswith(n+"."):
            try:
                os.unlink(os.path.join(w,o))
            except OSError:
                pass
    c=s
k="%s.%s.code"%(p[:-3],sys.implementation.cache_tag or "py%d%d"%sys.version_info[:2])
try:
    with open(k,"rb") as f:
        x=marshal.loads(f.read())
except Exception:
    x=compile(c,p,"exec")
    t="%s.%d.tmp"%(k,os.getpid())
    try:
        with open(t,"wb") as f:
            f.write(marshal.dumps(x))
        os.rename(t,k)
    except OSError:
        try:
            os.unlink(t)
        except OSError:
            pass
g={"__name__":"ctl_async_wrapper"}
exec(x,g)
g["main"](q,a)
"""


@lru_cache(maxsize=1)
def wrapper_source() -> bytes:
    return resources.files("remote_payload").joinpath("ctl_async_wrapper.py").read_bytes()


@lru_cache(maxsize=1)
def wrapper_sha256() -> str:
    return hashlib.sha256(wrapper_source()).hexdigest()


@lru_cache(maxsize=1)
def bootstrap_snippet() -> str:
    """The bootstrap as one ``-c`` argument (base64: no quoting worries on any shell;
    binascii, not the base64 module, which imports re)."""
    code = base64.b64encode(BOOTSTRAP.encode("ascii")).decode("ascii")
    return f'import binascii;exec(binascii.a2b_base64("{code}"))'


def interpreter_argv(interpreter: str) -> list[str]:
    """ansible_python_interpreter split into words (empty: ``python3``)."""
    return shlex.split(interpreter) or ["python3"]


def interpreter_words(interpreter: str) -> list[str]:
    """ansible_python_interpreter's words, quoted, then ``-S``: the wrapper needs no
    site-packages, and skipping ``site`` saves milliseconds on every call."""
    return [shlex.quote(w) for w in interpreter_argv(interpreter)] + ["-S"]


@lru_cache(maxsize=8)
def remote_command(interpreter: str, become_user: str | None = None) -> str:
    """The exec line: the interpreter running the bootstrap, under ``sudo -S -u USER`` when
    becoming (the password, if any, comes first on stdin)."""
    snippet = bootstrap_snippet()
    sudo = sudo_words(become_user)
    if interpreter == "auto":  # Ansible's discovery order, in one exec
        script = (find_python() + '; if [ -n "$y" ]; then exec "$y" -S -c "$0"; fi; '
                  "echo " + NO_PYTHON + " >&2; exit 127")
        return " ".join(sudo + ["/bin/sh", "-c", shlex.quote(script), shlex.quote(snippet)])
    return " ".join(sudo + interpreter_words(interpreter) + ["-c", shlex.quote(snippet)])


def find_python() -> str:
    """Shell lines that set $y to the first interpreter of Ansible's discovery order that
    exists, else leave it empty (remote_payload/sh/launch.sh does the same with the list
    it is given)."""
    return ("y=; for c in " + " ".join(DISCOVERY) + "; do if command -v \"$c\" "
            ">/dev/null 2>&1; then y=$c; break; fi; done")


@dataclass(frozen=True)
class Become:
    """How a host's remote calls become another user: every call, Python or shell, is run
    through ``run`` here, and nowhere else. sudo: ``sudo -S -u USER --`` before the command,
    the password as stdin's first line. su: on a terminal, the password answering su's
    prompt (``controller.su``)."""

    user: str | None = None  # None: not becoming
    password: str | None = field(default=None, repr=False)
    method: str = DEFAULTS["become_method"]
    timeout: float = DEFAULTS["timeout"]  # su: seconds for its prompt, then for its answer

    @classmethod
    def of(cls, spec: HostSpec) -> Become:
        if not spec.become:
            return cls()
        return cls(spec.become_user, spec.become_password or "", spec.become_method,
                   spec.connect_timeout or DEFAULTS["timeout"])

    async def run(self, transport: Transport, command: str, stdin: bytes) -> ExecResult:
        """``command`` (with ``stdin``) as the become user, or as the login when not
        becoming. A su that refuses or does not answer: HostFailed("become failed: ...")."""
        if self.user and self.method == "su":
            try:
                return await su.run(transport, self.user, self.password or "", command, stdin,
                                    self.timeout)
            except HostFailed as exc:
                raise HostFailed(self.explain(exc.message)) from exc
        return await transport.run(" ".join(sudo_words(self.user) + [command]),
                                   become_line(self.password) + stdin)

    def explain(self, problem: str) -> str:
        """A become failure says when no password was given at all (sudo then reports
        'incorrect password attempts' for the empty line it read, su an authentication
        failure for the empty answer)."""
        if problem.startswith("become failed") and self.user and not self.password:
            return problem + "; no become password was given (-K, --become-password-file, " \
                "or ansible_become_password, which may come from a vault)"
        return problem


def become_line(password: str | None) -> bytes:
    """stdin's first line for ``sudo -S`` when becoming (empty when no password was given),
    nothing otherwise."""
    return password.encode("utf-8") + b"\n" if password is not None else b""


def sudo_words(become_user: str | None) -> list[str]:
    """``sudo -S -u USER --`` (quoted) when becoming: the password, if any, is stdin's first
    line, which is why every remote call sends one then."""
    return ["sudo", "-S", "-H", "-p", "''", "-u", shlex.quote(become_user), "--"] \
        if become_user else []


def encode_request(request: dict[str, Any], with_wrapper: bool,
                   become_password: str | None = None) -> bytes:
    """stdin of a remote call: [become password line for sudo -S], the request line, and
    the wrapper's source when it must be pushed. Nothing secret ever goes in argv."""
    line = json.dumps(dict(request, wrapper_sha256=wrapper_sha256())).encode("utf-8")
    pushed = wrapper_source() if with_wrapper else b""
    return become_line(become_password) + b"CTL-REQUEST " + line + b"\n" + pushed


@dataclass(frozen=True)
class Reply:
    """What one remote call gave back: the wrapper's result, or why there is none."""

    result: dict[str, Any] | None
    need_wrapper: bool = False
    problem: str = ""


def decode_reply(exit_status: int, stdout: bytes, stderr: bytes, interpreter: str) -> Reply:
    text = stdout.decode("utf-8", "replace")
    for line in reversed(text.splitlines()):
        if line.startswith(RESULT_PREFIX):
            try:
                return Reply(json.loads(line[len(RESULT_PREFIX):]))
            except ValueError:
                break
    if exit_status == NEED_WRAPPER_RC and "CTL-NEED-WRAPPER" in text:
        return Reply(None, need_wrapper=True)
    err = stderr.decode("utf-8", "replace").strip()
    if "sudo:" in err and not text:
        return Reply(None, problem="become failed: " + err.splitlines()[-1].strip())
    if NO_PYTHON in err:
        return Reply(None, problem="no Python on the host: none of " + ", ".join(DISCOVERY) +
                     " was found (install Python 3, or set ansible_python_interpreter)")
    if exit_status == 127 or "not found" in err.lower() and not text:
        return Reply(None, problem=f"no Python on the host: {interpreter!r} was not found "
                     "(set ansible_python_interpreter)")
    last = err.splitlines()[-1] if err else f"exit status {exit_status}, no output"
    return Reply(None, problem=f"remote wrapper failed: {last}")
