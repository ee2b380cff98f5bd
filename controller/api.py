"""ctl as a library: start a job on an inventory selection, poll it, wait for it, erase it.

    controller = Controller(Registry(), ConnectOptions(), forks=50, events=MyEvents())
    jid, results = await controller.run(targets, Job(["uptime"], timeout=600, poll=0))
    results = await controller.poll(jid)

Results are HostResult values; ``events`` (optional) hears each one as it arrives, for
streaming output. Nothing here prints.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping

from . import protocol
from .errors import CtlError, OptionError, PatternError
from .events import Events, NoEvents
from .hosts import HostOverrides, HostSpec
from .inventory import Inventory, load_inventory, select_hosts
from .jid import check_jid, new_jid
from .logs import LineSink, host_logs
from .registries import JobRegistry
from .registry import HostRow, JobRow, Registry
from .results import HostResult, Status, truthy
from .runner import Session, fan_out
from .settings import DEFAULTS, Settings
from .transport import ConnectOptions, Connector, open_transport
from .units import parse_signal

if TYPE_CHECKING:
    from .cluster import Cluster

log = logging.getLogger("ctl")

DEFAULT_OUTPUT_CAP = DEFAULTS["output_cap"]
KILL_GRACE = DEFAULTS["kill_grace"]  # ctl kill: seconds from the first signal to SIGKILL


@dataclass(frozen=True)
class Job:
    """What to run: an argv (Ansible's ``command``) or, with ``shell``, one ``/bin/sh -c``
    string (Ansible's ``shell``); ``timeout`` is -B, ``poll`` is -P, both seconds."""

    command: list[str] | str
    timeout: int
    poll: int = 0
    shell: bool = False
    output_cap: int = DEFAULT_OUTPUT_CAP
    cleanup_after: float | None = None  # seconds after the end; the host erases the files
    expand: bool = False  # $VAR and ~ expanded in each word on the host (Ansible's command)
    script: bytes | None = None  # -m script: the local script, run in place of command[0]
    per_host: Mapping[str, list[str] | str] | None = None  # a templated command, rendered

    def __post_init__(self) -> None:
        if self.output_cap < 1024:
            raise OptionError(f"--output-cap must be at least 1k, got {self.output_cap}")
        if self.cleanup_after is not None and self.cleanup_after < 0:
            raise OptionError("--cleanup-after must not be negative")
        if self.timeout < 1:
            raise OptionError(f"-B/--background must be at least 1 second, got {self.timeout}")
        if self.poll < 0:
            raise OptionError(f"-P/--poll must be 0 or more seconds, got {self.poll}")
        if not self.command or (isinstance(self.command, list) and not self.command[0]):
            raise OptionError("no command given: put it after --, e.g. ctl run -i hosts.yml "
                              "-B 600 -P 0 -- uptime")

    def request(self, spec: HostSpec, jid: str) -> protocol.Request:
        """The launch request for one host (its own command when -a was templated)."""
        command = self.per_host[spec.name] if self.per_host else self.command
        return protocol.launch(spec.async_dir, jid, command, self.shell, self.timeout,
                               self.output_cap, self.cleanup_after, self.expand, self.script)

    def launch_options(self) -> dict[str, Any]:
        """What the registry keeps beyond the command, shell and -B, so that ``ctl resume``
        launches the very same job (see ``recorded``)."""
        return {"output_cap": self.output_cap, "cleanup_after": self.cleanup_after,
                "expand": self.expand, "per_host": dict(self.per_host or {}) or None,
                "script": None if self.script is None else
                base64.b64encode(self.script).decode("ascii")}

    @classmethod
    def recorded(cls, row: JobRow) -> Job:
        """The job a registry row describes, detached (poll 0). A job recorded by an older
        ctl kept no launch options: it gets the defaults (``resume`` says so)."""
        kept = row.options
        script = kept.get("script")
        return cls(row.command, row.timeout, 0, row.shell,
                   kept.get("output_cap") or DEFAULT_OUTPUT_CAP, kept.get("cleanup_after"),
                   bool(kept.get("expand")), None if script is None else
                   base64.b64decode(script), kept.get("per_host"))


@dataclass(frozen=True)
class Targets:
    """The hosts an operation addresses, each with its groups (for patterns)."""

    specs: list[HostSpec]
    groups: dict[str, list[str]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    # a host's inventory variables, rendered on use (hosts read from an inventory only)
    variables: Callable[[str], Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_inventory(cls, sources: list[str], pattern: str | None = None,
                       settings: Settings | None = None,
                       extra_vars: dict[str, Any] | None = None) -> Targets:
        """The selected hosts, each with its settings resolved as Ansible does: -e, then
        the host's variables, then ``settings`` (options > ANSIBLE_* env > ansible.cfg)."""
        inv = load_inventory(sources, extra_vars=extra_vars, settings=settings, validate=False)
        names = select_hosts(inv, pattern)
        return cls([inv.specs[n] for n in names], {n: inv.groups_of(n) for n in names},
                   list(sources), getattr(inv.specs, "variables", None))

    def with_overrides(self, overrides: HostOverrides) -> Targets:
        """Command-line settings over hosts read back from the registry."""
        return Targets([s.with_overrides(overrides) for s in self.specs], self.groups,
                       self.sources)

    def with_passwords(self, sources: list[str], settings: Settings | None = None) -> Targets:
        """The passwords of hosts read back from the registry (which never stores them),
        from the inventories the job was started with when they are still there, read with
        ``settings`` (its vault secrets too): ``ansible_password``, and the become password
        of a host that becomes and has none from the command line."""
        known = _passwords(sources, {s.name for s in self.specs}, settings) if sources else {}
        specs = [_with_password(s, *known[s.name]) if s.name in known else s
                 for s in self.specs]
        return Targets(specs, self.groups, self.sources)

    @classmethod
    def from_registry(cls, rows: list[HostRow], pattern: str | None = None) -> Targets:
        inv = Inventory(sources=["the job's hosts"])
        inv.group("all").hosts = [r.host for r in rows]
        for row in rows:
            inv.host_vars[row.host] = {}
            for group in row.groups:
                inv.group(group).hosts.append(row.host)
        names = select_hosts(inv, pattern)
        specs = [r.spec for r in rows if r.host in names]
        return cls(specs, {r.host: r.groups for r in rows if r.host in names})


def _passwords(sources: list[str], names: set[str], settings: Settings | None
               ) -> dict[str, tuple[str | None, str | None]]:
    """(password, become password) per host of ``names`` that the inventories still give;
    a host they can no longer resolve (a file gone, a secret not given) gets none."""
    try:
        inv = load_inventory([s for s in sources if os.path.exists(s)], settings=settings,
                             validate=False)
    except CtlError:
        return {}
    found = {}
    for name in names & set(inv.specs):
        try:
            spec = inv.specs[name]
        except CtlError:
            continue
        found[name] = (spec.password, spec.become_password)
    return found


def _with_password(spec: HostSpec, password: str | None, become: str | None) -> HostSpec:
    changes: dict[str, Any] = {"password": password} if password and spec.password is None \
        else {}
    if become and spec.become and spec.become_password is None:
        changes["become_password"] = become
    return replace(spec, **changes) if changes else spec


SKIP = "skip"  # a state_of() answer: this result changes nothing worth recording

# Registry host states of a host that never got the job: ctl resume launches there (after
# checking), and a poll that finds the job file there records the host as started.
NEVER_LAUNCHED = ("launching", "unreachable", "failed")

# Registry host states after a launch, and what a missing job file then means.
NEVER_STARTED = {
    "launching": "the job was never started on this host: the launch was interrupted "
                 "before it reached the host",
    "unreachable": "the job was never started on this host: it was unreachable at launch",
    "failed": "the job was never started on this host: the launch failed",
    "erased": "the job's files were erased by ctl cleanup",
}


class Controller:
    def __init__(self, registry: JobRegistry | None = None, options: ConnectOptions | None = None,
                 forks: int = DEFAULTS["forks"], events: Events | None = None,
                 cluster: Cluster | None = None, connect: Connector = open_transport) -> None:
        self.registry: JobRegistry = registry or Registry()
        self.options = options or ConnectOptions()
        self.connect = connect  # how a host is reached: SSH, local, or a FakeTransport
        self.jid: str | None = None  # the job ``run`` created (known before any host is)
        self.forks = forks
        self.cluster = cluster  # the Dask cluster one-shot operations are sharded over
        self.events: Events = events or NoEvents()

    def session(self, keep_open: bool = False) -> Session:
        return Session(self.options, self.forks, keep_open, self.cluster, self.connect)

    # --- targets -----------------------------------------------------------------------

    def job_targets(self, jid: str, pattern: str | None = None,
                    settings: Settings | None = None,
                    overrides: HostOverrides | None = None) -> Targets:
        """The hosts a registered job was started on (optionally narrowed by a pattern),
        with the command line's ``overrides`` over what was recorded, then the passwords
        recovered from the job's inventories (see ``with_passwords``)."""
        check_jid(jid)
        self.registry.job(jid)
        rows = self.registry.hosts(jid)
        if not rows:
            raise PatternError(f"job {jid} has no hosts in the registry")
        targets = Targets.from_registry(rows, pattern)
        if overrides is not None:
            targets = targets.with_overrides(overrides)
        return targets.with_passwords(self.registry.job(jid).inventory, settings)

    # --- run ---------------------------------------------------------------------------

    async def run(self, targets: Targets, job: Job) -> tuple[str, list[HostResult]]:
        if self.cluster is not None:  # refused before anything is recorded
            self.cluster.check_secrets(targets.specs)
        jid = self.jid = new_jid()
        self.registry.create_job(jid, job.command, job.shell, job.timeout, job.poll,
                                 [_abspath(s) for s in targets.sources],
                                 [(s, targets.groups.get(s.name, [])) for s in targets.specs],
                                 job.launch_options())
        started_at = time.monotonic()
        self.events.begin("launch", jid, len(targets.specs))
        async with self.session(keep_open=job.poll > 0) as session:
            async def launch(spec: HostSpec) -> HostResult:
                return await _launch_on(session, spec, jid, job)

            async def relaunch(spec: HostSpec) -> HostResult:
                """A shard re-run: a host the dead attempt reached keeps its one job."""
                data = await session.call(spec, protocol.status(spec.async_dir, jid), retry=True)
                if protocol.not_found(data):
                    return await launch(spec)
                return HostResult(spec.name, Status.CHANGED, _recovered(data, jid))

            launched = await self._collect(jid, "launch", session.fan_out(
                targets.specs, launch, relaunch), _launch_state)
            if job.poll == 0:
                return jid, launched
            running = [s for s in targets.specs
                       if _by_host(launched)[s.name].status is Status.CHANGED]
            deadline = started_at + job.timeout + protocol.TIMEOUT_GRACE + 2  # + margin
            self.events.begin("poll", jid, len(running))
            final = await self._watch(session, jid, running, job.poll, erase=True,
                                      give_up=lambda: time.monotonic() > deadline,
                                      give_up_msg="async task did not complete within the "
                                                  f"requested time - {job.timeout}s",
                                      timeout_msg=job.timeout, first_check_now=False)
        merged = {**_by_host(launched), **_by_host(final)}
        return jid, [merged[s.name] for s in targets.specs]

    # --- resume ------------------------------------------------------------------------

    async def resume(self, jid: str, targets: Targets | None = None) -> list[HostResult]:
        """Finish an interrupted launch: start the registered job (same command, -B, jid and
        options) on each of its hosts that never got it (NEVER_LAUNCHED), once a status read
        there finds no job file of the jid. A host that has one is recorded started and
        answered as such, never launched twice; the wrapper's launch also refuses an
        existing job file atomically, so two resumes at once cannot both start it. The
        results are those hosts' only: the others already had the job."""
        check_jid(jid)
        row = self.registry.job(jid)
        if not row.options:
            log.warning("job %s was recorded by an older ctl, which kept only its command, "
                        "shell and -B: resumed with the default --output-cap, no "
                        "--cleanup-after", jid)
        job = Job.recorded(row)
        targets = targets or self.job_targets(jid)
        states = self._states(jid)
        pending = [s for s in targets.specs if states.get(s.name) in NEVER_LAUNCHED]
        self.jid = jid
        self.events.begin("launch", jid, len(pending))
        async with self.session(keep_open=True) as session:  # one connection: read, launch
            async def resume_on(spec: HostSpec) -> HostResult:
                found = await session.call(spec, protocol.status(spec.async_dir, jid),
                                           retry=True)
                if not protocol.not_found(found):
                    return _already_there(spec.name, jid, found)
                return await _launch_on(session, spec, jid, job)

            return await self._collect(jid, "launch", session.fan_out(pending, resume_on),
                                       _launch_state)

    # --- poll --------------------------------------------------------------------------

    async def poll(self, jid: str, targets: Targets | None = None, wait: bool = False,
                   retries: int = DEFAULTS["retries"], delay: float = DEFAULTS["delay"],
                   tail_lines: int = 0
                   ) -> list[HostResult]:
        check_jid(jid)
        targets = targets or self.job_targets(jid)
        states = self._states(jid)
        if wait and (retries < 0 or delay < 0):
            raise OptionError("--retries and --delay must be 0 or more")
        self.events.begin("poll", jid, len(targets.specs))
        async with self.session(keep_open=wait) as session:
            if not wait:
                return await self._collect(jid, "poll", session.fan_out(
                    targets.specs, self._status_op(session, jid, states, tail_lines)),
                    lambda result: _seen_state(states, result))
            rounds = {"n": 0}

            def exhausted() -> bool:
                rounds["n"] += 1
                return rounds["n"] > retries

            return await self._watch(session, jid, targets.specs, delay, erase=False,
                                     give_up=exhausted, first_check_now=True,
                                     give_up_msg=f"job still running after {retries} retries "
                                                 f"of {delay:g}s", states=states)

    def _status_op(self, session: Session, jid: str, states: dict[str, str], tail: int = 0):
        async def status(spec: HostSpec) -> HostResult:
            request = protocol.status(spec.async_dir, jid, tail)
            data = await session.call(spec, request, retry=True)
            if protocol.not_found(data) and states.get(spec.name) in NEVER_STARTED:
                data["msg"] = NEVER_STARTED[states[spec.name]]
            return HostResult.from_data(spec.name, data, status_read=True)
        return status

    # --- cleanup -----------------------------------------------------------------------

    async def cleanup(self, jid: str, targets: Targets | None = None, kill: bool = False,
                      grace: float = KILL_GRACE) -> list[HostResult]:
        """Erase the job's files on each host; a running job is refused, or with ``kill``
        stopped first (TERM, KILL after ``grace``)."""
        check_jid(jid)
        check_grace(grace)
        registered = self.registry.find_job(jid) is not None
        targets = targets or self.job_targets(jid)
        self.events.begin("cleanup", jid, len(targets.specs))
        async with self.session() as session:
            async def erase(spec: HostSpec) -> HostResult:
                request = protocol.cleanup(spec.async_dir, jid)
                data = await session.call(spec, request, retry=True)
                if kill and data.get("running"):
                    await session.call(spec, protocol.kill(spec.async_dir, jid, "SIGTERM", grace))
                    data = await session.call(spec, request, retry=True)
                return HostResult.from_data(spec.name, data)

            results = await self._collect(jid, "cleanup", session.fan_out(
                targets.specs, erase), _cleanup_state)
        if registered and all(row.state == "erased" for row in self.registry.hosts(jid)):
            self.registry.set_job_state(jid, "cleaned")  # every host of the job, erased
        return results

    # --- kill, logs, garbage collection ------------------------------------------------

    async def kill(self, jid: str, targets: Targets | None = None, signal: str = "SIGTERM",
                   grace: float = KILL_GRACE) -> list[HostResult]:
        """Stop the job on each host: ``signal`` to everything it started, SIGKILL after
        ``grace``; the job file then holds a finished record with ``"killed": true``."""
        check_jid(jid)
        signame = parse_signal(signal)
        check_grace(grace)
        targets = targets or self.job_targets(jid)
        self.events.begin("kill", jid, len(targets.specs))
        async with self.session() as session:
            async def stop(spec: HostSpec) -> HostResult:
                data = await session.call(spec, protocol.kill(spec.async_dir, jid, signame, grace))
                if data.get("killed"):  # the job failed; stopping it succeeded
                    return HostResult(spec.name, Status.CHANGED, data)
                return HostResult.from_data(spec.name, data)

            return await self._collect(jid, "kill", session.fan_out(targets.specs, stop),
                                       lambda result: None if result.data.get("killed")
                                       else SKIP)

    async def logs(self, jid: str, sink: LineSink, targets: Targets | None = None,
                   follow: bool = False, interval: float = 1.0) -> list[HostResult]:
        """Each host's output so far, line by line into ``sink(host, stream, line)``; with
        ``follow``, until the job ends on every host."""
        check_jid(jid)
        targets = targets or self.job_targets(jid)
        async with self.session(keep_open=follow) as session:
            async def read(spec: HostSpec) -> HostResult:
                return await host_logs(session, spec, jid, follow, sink, interval)

            return [r async for r in fan_out(targets.specs, read)]

    async def gc(self, targets: Targets, older_than: float | None) -> list[HostResult]:
        """Erase finished job files (ctl's and Ansible's) older than ``older_than`` seconds,
        and those past their --cleanup-after time, in each host's async dir."""
        self.events.begin("gc", None, len(targets.specs))
        async with self.session() as session:
            async def sweep(spec: HostSpec) -> HostResult:
                data = await session.call(spec, protocol.gc(spec.async_dir, older_than),
                                          retry=True)
                return HostResult.from_data(spec.name, data)

            return await self._collect(None, "gc", session.fan_out(targets.specs, sweep),
                                       lambda result: SKIP)

    def known_hosts(self) -> Targets:
        """Every distinct host (address, port, user, async dir) of every registered job."""
        seen: dict[tuple[Any, ...], HostSpec] = {}
        for job in self.registry.jobs():
            for row in self.registry.hosts(job.jid):
                s = row.spec
                seen.setdefault((s.connection, s.address, s.port, s.user, s.async_dir), s)
        if not seen:
            raise PatternError("the registry knows no hosts yet: name them with -i INVENTORY")
        return Targets(list(seen.values()))

    # --- shared machinery --------------------------------------------------------------

    def _states(self, jid: str) -> dict[str, str]:
        if self.registry.find_job(jid) is None:
            return {}
        return {row.host: row.state for row in self.registry.hosts(jid)}

    async def _collect(self, jid: str | None, op: str, results: Any, state_of: Any
                       ) -> list[HostResult]:
        """Drain a fan-out: tell the front end, and record in the registry in batches (a
        registered ``jid`` only; ``None`` records nothing)."""
        collected: list[HostResult] = []
        pending: list[tuple[HostResult, str | None]] = []
        last_flush = time.monotonic()
        recorded = jid if jid is not None and self.registry.find_job(jid) is not None else None
        try:
            async for result in results:
                collected.append(result)
                self.events.result(op, result)
                state = state_of(result)
                if state != SKIP:
                    pending.append((result, state))
                if recorded and (len(pending) >= 100 or time.monotonic() - last_flush > 0.5):
                    self.registry.record(recorded, pending)
                    pending, last_flush = [], time.monotonic()
        finally:  # interrupted or not, what we heard is recorded
            if recorded:
                self.registry.record(recorded, pending)
        return collected

    async def _watch(self, session: Session, jid: str, specs: list[HostSpec], interval: float,
                     erase: bool, give_up: Any, give_up_msg: str, first_check_now: bool,
                     timeout_msg: int | None = None, states: dict[str, str] | None = None
                     ) -> list[HostResult]:
        """Poll every ``interval`` seconds until each host's job is finished or ``give_up()``;
        print-worthy moments go to events (ASYNC POLL / ASYNC OK / ASYNC FAILED)."""
        pending = {s.name: s for s in specs}
        final: dict[str, HostResult] = {}
        status = self._status_op(session, jid, states or {})
        registered = self.registry.find_job(jid) is not None  # once, not every round
        first = True
        while pending:
            if not (first and first_check_now):
                await asyncio.sleep(interval)
            first = False
            stop = give_up()
            round_results = [r async for r in session.fan_out(list(pending.values()), status)]
            updates: list[tuple[HostResult, str | None]] = []
            for result in round_results:
                if result.status in (Status.RUNNING, Status.UNREACHABLE) and not stop:
                    self.events.poll_tick(jid, result)
                    continue
                shown = self._settled(jid, result, give_up_msg, timeout_msg)
                erased = erase and shown.finished and shown.status is not Status.UNREACHABLE \
                    and bool(shown.data.get("finished")) \
                    and await self._erase_quietly(session, pending[result.host], jid)
                final[result.host] = shown
                # a job given up on still runs there: the registry keeps what was read
                updates.append((result if result.status is Status.RUNNING else shown,
                                "erased" if erased else _seen_state(states or {}, result)))
                self.events.result("poll", shown)
                del pending[result.host]
            if registered:
                self.registry.record(jid, updates)
        return [final[s.name] for s in specs]

    def _settled(self, jid: str, result: HostResult, give_up_msg: str,
                 timeout_msg: int | None) -> HostResult:
        """A host's last word in a watch: a job still running when we give up fails for
        this command (it keeps running); a job the host timed out says Ansible's words."""
        if result.status is Status.RUNNING:
            result = HostResult.failed(result.host, give_up_msg, ansible_job_id=jid,
                                       started=1, finished=0)
        elif timeout_msg is not None and result.data.get("timeout"):
            result = HostResult(result.host, Status.FAILED, dict(result.data, msg=give_up_msg))
        if result.status is not Status.UNREACHABLE:
            self.events.async_done(jid, result)
        return result

    async def _erase_quietly(self, session: Session, spec: HostSpec, jid: str) -> bool:
        """Erase a finished job's files after ``run -P``; whether they are gone (if not,
        the result stands and ``ctl cleanup`` erases them later)."""
        try:
            data = await session.call(spec, protocol.cleanup(spec.async_dir, jid), retry=True)
        except Exception:
            return False
        return bool(data.get("erased") or data.get("missing"))


def check_grace(grace: float) -> None:
    if grace < 0:
        raise OptionError(f"--grace must be 0 or more seconds, got {grace:g}")


def _by_host(results: list[HostResult]) -> dict[str, HostResult]:
    return {r.host: r for r in results}


def _abspath(source: str) -> str:
    return os.path.abspath(source) if os.path.exists(source) else source


async def _launch_on(session: Session, spec: HostSpec, jid: str, job: Job) -> HostResult:
    data = await session.call(spec, job.request(spec, jid))
    if protocol.exists(data):  # another launch of this jid got there first (a resume)
        return _already_there(spec.name, jid, data)
    return HostResult.from_data(spec.name, data)


def _already_there(host: str, jid: str, found: dict[str, Any]) -> HostResult:
    """A host that holds the job's file already: it has the job; nothing was launched."""
    return HostResult(host, Status.OK, {
        "ansible_job_id": jid, "changed": False, "started": 1,
        "finished": int(truthy(found.get("finished"))), "results_file": found.get("results_file"),
        "msg": "the job was already started on this host (its job file is there); not "
               "started again"})


def _launch_state(result: HostResult) -> str:
    """A launched host (CHANGED), or one found to have the job already (OK), is started."""
    return {Status.CHANGED: "started", Status.OK: "started",
            Status.UNREACHABLE: "unreachable"}.get(result.status, "failed")


def _seen_state(states: dict[str, str], result: HostResult) -> str | None:
    """A status read that found the job's file on a host the registry thought never got it
    (a controller killed between the launch and its record): the host is started."""
    if states.get(result.host) not in NEVER_LAUNCHED or result.status is Status.UNREACHABLE:
        return None
    missing = protocol.not_found(result.data) or result.msg in NEVER_STARTED.values()
    return None if missing else "started"


def _recovered(status: dict[str, Any], jid: str) -> dict[str, Any]:
    """A launch's answer from the job file a dead shard attempt left: started, as then."""
    keep: dict[str, Any] = {k: status[k] for k in ("results_file", "pid") if k in status}
    return {"started": 1, "finished": 0, "ansible_job_id": jid, "changed": True,
            "recovered": True, **keep}


def _cleanup_state(result: HostResult) -> str | None:
    return "erased" if result.status in (Status.OK, Status.CHANGED) else None
