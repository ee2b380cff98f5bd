"""The fast tier's tools: fake hosts that run the real wrapper on this machine (no sshd), a
front end that records what it hears, and the real ``ctl`` CLI called in-process.

    specs = fake_specs(tmp_path, 3)                       # h0..h2, each with its own async dir
    hosts = FakeHosts()                                   # or FakeHosts(handler) to inject faults
    ctl = fake_controller(tmp_path, hosts, Heard())
    jid, results = await ctl.run(Targets(specs), Job(["true"], timeout=10, poll=0))

    cli = Cli(tmp_path, monkeypatch)                      # HOME, CTL_HOME, cwd: all in tmp_path
    inv = cli.inventory(local=("l0", "l1"), down=("down",))
    out = cli("run", "-i", inv, "-B", "10", "-P", "0", "--", "true", code=4)

Jobs that may still run when a test ends are stopped by ``reap_jobs`` (the ``reaper`` fixture
of each module calls it).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from controller import payload
from controller.api import Controller
from controller.cli import main
from controller.hosts import HostSpec
from controller.registry import Registry
from controller.render import Output
from controller.results import HostResult, Status
from controller.transport.base import ExecResult
from controller.transport.fake import FakeHosts
from tests.support.ctl import blocks  # noqa: F401  (the one output parser)

PYTHON = sys.executable
JID_IN_CLOSING_LINE = re.compile(r"ctl: job (j?\d+\.\d+)\b")


# --- fake hosts (the library API) ----------------------------------------------------------

def seed_wrapper(async_dir: Path) -> None:
    """Put this wrapper version where a host keeps it, as a first launch would: later
    launches then take the one-exec shell path."""
    store = async_dir / ".ctl"
    store.mkdir(parents=True, mode=0o700, exist_ok=True)
    async_dir.chmod(0o700)
    (store / f"wrapper-{payload.wrapper_sha256()}.py").write_bytes(payload.wrapper_source())


def fake_specs(tmp: Path, count: int, prefix: str = "h", seeded: bool = True
               ) -> list[HostSpec]:
    """``count`` fake hosts, each with its own async dir under ``tmp``; ``seeded``: the
    wrapper is already there (one exec per launch)."""
    specs = []
    for i in range(count):
        async_dir = tmp / "hosts" / f"{prefix}{i}"
        if seeded:
            seed_wrapper(async_dir)
        specs.append(HostSpec(f"{prefix}{i}", address=f"10.0.0.{i + 1}",
                              async_dir=str(async_dir), python=PYTHON))
    return specs


def fake_controller(tmp: Path, hosts: FakeHosts, events: Output | None = None,
                    forks: int = 50) -> Controller:
    return Controller(Registry(str(tmp / "registry")), connect=hosts, events=events,
                      forks=forks)


def op_of(command: str, stdin: bytes) -> str:
    """The operation a remote call makes: launch, status, cleanup, kill, logs, gc
    (whether by the shell fast path or by the wrapper)."""
    found = re.search(rb'CTL-REQUEST \{"op": "(\w+)"', stdin)
    if found:
        op = found.group(1).decode()
        return "launch" if op == "supervise" else op
    if "grep -q" in command:
        return "cleanup"
    return "status" if "CTL-FAST" in command else "unknown"


async def with_env(spec: HostSpec, command: str, stdin: bytes) -> ExecResult:
    """Like the default handler, but every process on the host sees ``FAKE_HOST=<name>``:
    jobs can then give each host its own output."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", command, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, FAKE_HOST=spec.name))
    out, err = await proc.communicate(stdin)
    return ExecResult(proc.returncode or 0, out, err)


@dataclass
class Heard(Output):
    """A front end that keeps every event: ``("result", op, host, status)``,
    ``("tick", host, status)``, ``("done", host, status)``, ``("begin", op, jid, total)``;
    ``on_tick`` is called at each ASYNC POLL moment (to let a job go on, say)."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    results: list[tuple[str, HostResult]] = field(default_factory=list)
    on_tick: Callable[[HostResult], None] | None = None
    on_result: Callable[[str, HostResult], None] | None = None

    def begin(self, op: str, jid: str | None, total: int) -> None:
        self.events.append(("begin", op, jid, total))

    def result(self, op: str, result: HostResult) -> None:
        self.events.append(("result", op, result.host, result.status))
        self.results.append((op, result))
        if self.on_result is not None:
            self.on_result(op, result)

    def poll_tick(self, jid: str, result: HostResult) -> None:
        self.events.append(("tick", result.host, result.status))
        if self.on_tick is not None:
            self.on_tick(result)

    def async_done(self, jid: str, result: HostResult) -> None:
        self.events.append(("done", result.host, result.status))

    def kinds(self, host: str) -> list[str]:
        """What one host went through: ``["result", "tick", "done", "result"]``..."""
        return [e[0] for e in self.events if e[0] != "begin" and
                (e[2] if e[0] == "result" else e[1]) == host]


def waiting_job(go: Path, then: str = "echo done") -> list[str]:
    """A job that waits (bounded by its -B) until the file ``go`` exists, then runs ``then``."""
    return ["sh", "-c", f'while [ ! -e "{go}" ]; do sleep 0.02; done; {then}']


def by_host(results: list[HostResult]) -> dict[str, HostResult]:
    return {r.host: r for r in results}


def job_files(async_dir: str | Path, jid: str) -> list[str]:
    return sorted(n for n in os.listdir(async_dir) if n.startswith(jid))


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> Any:
    """A tiny bounded poll: the predicate's first true value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {predicate}")
        time.sleep(step)


def finished_record(async_dir: str | Path, jid: str) -> dict[str, Any] | None:
    """The job's final record once it is written, else None."""
    try:
        record = json.loads((Path(async_dir) / jid).read_text())
    except (OSError, ValueError):
        return None
    return record if "started" not in record else None


def reap_jobs(root: Path) -> None:
    """Stop every job still running under ``root`` (its wrapper and its process group)."""
    for path in root.rglob("j*"):
        if path.suffix in (".stdout", ".stderr", ".tmp", ".kill") or not path.is_file():
            continue
        try:
            info = json.loads(path.read_text()).get("ctl") or {}
        except (OSError, ValueError, AttributeError):
            continue
        for kill, pid in ((os.killpg, info.get("job_pgid")), (os.kill, info.get("wrapper_pid"))):
            if isinstance(pid, int) and pid > 1:
                with contextlib.suppress(OSError):
                    kill(pid, signal.SIGKILL)


# --- the CLI, in-process -------------------------------------------------------------------

@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def jid(self) -> str:
        found = JID_IN_CLOSING_LINE.search(self.err)
        assert found, self.err
        return found.group(1)

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]

    def error_line(self) -> str:
        """The one ``ctl: error:`` line a bad input gives (and nothing on stdout)."""
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("ctl: error: "), self.err
        assert self.out == "", self.out
        return lines[0]


class Cli:
    """The real ``ctl`` entry point in this process, with HOME, CTL_HOME and the current
    directory in ``tmp`` (no ansible.cfg, known_hosts or registry of the machine leaks in)."""

    def __init__(self, tmp: Path, monkeypatch: Any) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.home.mkdir(exist_ok=True)
        for name in list(os.environ):
            if name.startswith("ANSIBLE_") or name in ("NO_COLOR", "XDG_STATE_HOME"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("HOME", str(self.home))
        monkeypatch.setenv("CTL_HOME", str(self.home / "ctl"))
        monkeypatch.chdir(tmp)
        self.registry = Registry(str(self.home / "ctl"))

    def __call__(self, *argv: str, code: int | None = None) -> Outcome:
        out, err = io.StringIO(), io.StringIO()
        root = logging.getLogger()
        saved = (root.handlers[:], root.level, logging.getLogger("ctl").level)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    main(list(argv))
                    exit_code = 0
                except SystemExit as exc:
                    exit_code = exc.code if isinstance(exc.code, int) else 1
        finally:
            root.handlers[:], root.level = saved[0], saved[1]
            logging.getLogger("ctl").setLevel(saved[2])
        done = Outcome(exit_code, out.getvalue(), err.getvalue())
        assert "Traceback" not in done.err and "internal error" not in done.err, done.err
        if code is not None:
            assert done.code == code, (done.code, done.out, done.err)
        return done

    def async_dir(self, name: str) -> Path:
        return self.tmp / "hosts" / name

    def inventory(self, name: str = "hosts.yml", local: tuple[str, ...] = ("l0", "l1"),
                  down: tuple[str, ...] = (), **host_vars: dict[str, Any]) -> str:
        """A YAML inventory: ``local`` hosts run the real wrapper here (the local
        connection, each with its own async dir); ``down`` hosts refuse SSH at once."""
        hosts: dict[str, Any] = {}
        for host in local:
            hosts[host] = {"ansible_connection": "local", "ansible_python_interpreter": PYTHON,
                           "ansible_async_dir": str(self.async_dir(host))}
        for host in down:
            hosts[host] = {"ansible_host": "127.0.0.1", "ansible_port": 1}
        for host, extra in host_vars.items():
            hosts.setdefault(host, {}).update(extra)
        path = self.tmp / name
        path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
        return str(path)

    def launch(self, inventory: str, *command: str, code: int = 0, extra: tuple[str, ...] = ()
               ) -> Outcome:
        """``ctl run -i INV -B 20 -P 0 [extra] -- COMMAND`` (-T 2: a down host costs nothing)."""
        return self("run", "-i", inventory, "-T", "2", "-B", "20", "-P", "0", *extra, "--",
                    *command, code=code)

    def finish(self, jid: str, *hosts: str) -> None:
        """Wait (bounded) until the job's final record is written on each local host."""
        for host in hosts:
            wait_for(lambda h=host: finished_record(self.async_dir(h), jid))


def statuses(results: list[HostResult]) -> dict[str, Status]:
    return {r.host: r.status for r in results}
