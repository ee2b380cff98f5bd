"""The local job registry: SQLite under ``$CTL_HOME`` or ``$XDG_STATE_HOME/ctl``.

Write-ahead: a job and all its hosts (state ``launching``) are committed before any host
is contacted, so a controller killed mid-run forgets no host that may have a job. WAL mode
and a busy timeout let several ``ctl`` processes read and write at once. Secrets are never
stored: only HostSpec fields, which hold none.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from .errors import JidError, RegistryError
from .hosts import HostSpec
from .results import HostResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    jid TEXT PRIMARY KEY, command TEXT NOT NULL, shell INTEGER NOT NULL, created REAL NOT NULL,
    timeout INTEGER NOT NULL, poll INTEGER NOT NULL, inventory TEXT NOT NULL,
    state TEXT NOT NULL, controller_pid INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (
    jid TEXT NOT NULL REFERENCES jobs(jid), host TEXT NOT NULL, position INTEGER NOT NULL,
    spec TEXT NOT NULL, groups TEXT NOT NULL, state TEXT NOT NULL, last TEXT NOT NULL,
    updated REAL NOT NULL, PRIMARY KEY (jid, host));
CREATE TABLE IF NOT EXISTS launch_options (
    jid TEXT PRIMARY KEY REFERENCES jobs(jid), options TEXT NOT NULL);
"""
# launch_options: what else a launch needs to be repeated by ``ctl resume`` (output cap,
# --cleanup-after, $VAR expansion, a -m script, per-host commands), as JSON. A table of its
# own, not a column: a registry of an older ctl gains it when opened, and an older ctl
# sharing the registry keeps writing its jobs rows as before. A job with no row: {}.

# Host lifecycle states: launching (recorded, maybe contacted), then the launch's outcome
# (started, failed, unreachable), then erased (cleaned up). ``last`` holds the last result.


@dataclass(frozen=True)
class JobRow:
    jid: str
    command: list[str] | str
    shell: bool
    created: float
    timeout: int
    poll: int
    inventory: list[str]
    state: str
    options: dict[str, Any] = field(default_factory=dict)  # launch_options ({}: none kept)


@dataclass(frozen=True)
class HostRow:
    host: str
    spec: HostSpec
    groups: list[str]
    state: str
    last: dict[str, Any]


TABLES = ("jobs", "hosts", "launch_options")
OPEN_TRIES = 40  # at most about 10 s of pauses in all


def _prepare(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    have = db.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
                      "(?,?,?)", TABLES).fetchone()[0]
    if have < len(TABLES):  # a new registry, or one of an older ctl: one writer creates
        db.execute("BEGIN IMMEDIATE")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("COMMIT")


def default_home(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    if env.get("CTL_HOME"):
        return env["CTL_HOME"]
    state = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "ctl")


def summary(result: HostResult) -> dict[str, Any]:
    """What the registry keeps of a result: never the output, which may hold secrets."""
    keep = ("rc", "msg", "finished", "lost", "unreadable", "timeout", "erased", "killed")
    return {"status": result.status.value, **{k: result.data[k] for k in keep if k in result.data}}


class Registry:
    def __init__(self, home: str | None = None) -> None:
        self.home = home or default_home()
        self.path = os.path.join(self.home, "registry.db")

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            db = self._open()
        except (OSError, sqlite3.Error) as exc:
            raise RegistryError(f"cannot open the job registry {self.path}: {exc}") from exc
        try:
            if write:
                db.execute("BEGIN IMMEDIATE")
            yield db
            if write:
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise RegistryError(f"job registry {self.path}: {exc}") from exc
        finally:
            db.close()

    def _open(self) -> sqlite3.Connection:
        """A connection in WAL mode to a registry with every table. Many processes opening
        a new registry at once: SQLite answers some "database is locked" at once, without
        waiting out the busy timeout (a journal-mode change, a lock upgrade): retried, with
        a growing jittered pause, a bounded number of times."""
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        old = os.umask(0o077)
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        finally:
            os.umask(old)
        try:
            for attempt in range(OPEN_TRIES):
                try:
                    _prepare(db)
                    return db
                except sqlite3.OperationalError as exc:
                    if attempt == OPEN_TRIES - 1 or "locked" not in str(exc):
                        raise
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
            raise AssertionError("unreachable")
        except BaseException:
            db.close()
            raise

    def create_job(self, jid: str, command: list[str] | str, shell: bool, timeout: int,
                   poll: int, inventory: list[str], hosts: Iterable[tuple[HostSpec, list[str]]],
                   options: Mapping[str, Any] | None = None) -> None:
        now = time.time()
        with self._db(write=True) as db:
            db.execute("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?)",
                       (jid, json.dumps(command), int(shell), now, timeout, poll,
                        json.dumps(inventory), "active", os.getpid()))
            if options:
                db.execute("INSERT INTO launch_options VALUES (?,?)", (jid, json.dumps(options)))
            db.executemany(
                "INSERT INTO hosts VALUES (?,?,?,?,?,?,?,?)",
                [(jid, spec.name, i, json.dumps(spec.to_dict()), json.dumps(groups),
                  "launching", "{}", now) for i, (spec, groups) in enumerate(hosts)])

    def record(self, jid: str, updates: Iterable[tuple[HostResult, str | None]]) -> None:
        """Store each host's last result and, when not None, its new lifecycle state
        (launching, started, failed, unreachable, erased), in one transaction."""
        rows = [(state, json.dumps(summary(r)), time.time(), jid, r.host) for r, state in updates]
        if rows:
            with self._db(write=True) as db:
                db.executemany("UPDATE hosts SET state=COALESCE(?, state), last=?, updated=? "
                               "WHERE jid=? AND host=?", rows)

    def set_job_state(self, jid: str, state: str) -> None:
        with self._db(write=True) as db:
            db.execute("UPDATE jobs SET state=? WHERE jid=?", (state, jid))

    def job(self, jid: str) -> JobRow:
        with self._db() as db:
            row = db.execute("SELECT jobs.jid, command, shell, created, timeout, poll, "
                             "inventory, state, options FROM jobs LEFT JOIN launch_options "
                             "USING (jid) WHERE jobs.jid=?", (jid,)).fetchone()
        if row is None:
            raise JidError(f"unknown jid {jid}: not in the registry {self.path} "
                           "(for a job started elsewhere, name its hosts with -i INVENTORY)")
        return JobRow(row[0], json.loads(row[1]), bool(row[2]), row[3], row[4], row[5],
                      json.loads(row[6]), row[7], json.loads(row[8] or "{}"))

    def find_job(self, jid: str) -> JobRow | None:
        try:
            return self.job(jid)
        except JidError:
            return None

    def hosts(self, jid: str) -> list[HostRow]:
        with self._db() as db:
            rows = db.execute("SELECT host, spec, groups, state, last FROM hosts WHERE jid=? "
                              "ORDER BY position", (jid,)).fetchall()
        return [HostRow(r[0], HostSpec.from_dict(json.loads(r[1])), json.loads(r[2]), r[3],
                        json.loads(r[4])) for r in rows]

    def jobs(self, limit: int | None = None) -> list[JobRow]:
        with self._db() as db:
            rows = db.execute("SELECT jid FROM jobs ORDER BY created DESC" +
                              (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        return [self.job(r[0]) for r in rows]

    def host_counts(self, jid: str) -> dict[str, int]:
        """Hosts per outcome at the last look: running, ok, failed, unreachable, lost (and
        launching, for hosts a killed controller never heard back from)."""
        return count_outcomes(self.hosts(jid))


COUNT_KEYS = ("running", "ok", "failed", "unreachable", "lost")


def count_outcomes(rows: Iterable[HostRow]) -> dict[str, int]:
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for row in rows:
        key = outcome(row)
        counts[key] = counts.get(key, 0) + 1
    return counts


def outcome(row: HostRow) -> str:
    if row.state == "erased":  # cleaned up: its last result is the erase, not the job's
        return "erased"
    last = row.last
    status = last.get("status")
    if last.get("lost"):
        return "lost"
    if last.get("killed"):  # stopping it succeeded; the job did not
        return "failed"
    if status in ("failed", "unreachable"):
        return str(status)
    if status == "running" or (status and last.get("finished") in (0, False)):
        return "running"
    if status in ("ok", "changed"):
        return "ok"
    return row.state
