"""The job registry in PostgreSQL, shared by every controller machine that names it
(``--registry`` / ``CTL_REGISTRY``). Same rows, same write-ahead and same rule as the SQLite
registry (``controller.registry``): a job and all its hosts are committed before any host is
contacted; no secret is ever stored (HostSpec.to_dict holds none).

ctl creates and versions the schema itself (table ``ctl_schema``, under an advisory lock, so
two controllers starting at once agree); a registry made by a newer ctl is refused rather
than misread. ``jobs.options`` (JSONB, nullable) holds job options a later ctl may add.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit

import psycopg

from .errors import JidError, RegistryError
from .hosts import HostSpec
from .registry import HostRow, JobRow, count_outcomes, summary
from .results import HostResult
from .settings import DEFAULTS

SCHEMA_VERSION = 1
LOCK_ID = 0x63746C  # "ctl": pg_advisory_xact_lock while the schema is checked or created
SCHEMA = """
CREATE TABLE IF NOT EXISTS ctl_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    jid TEXT PRIMARY KEY, command JSONB NOT NULL, shell BOOLEAN NOT NULL,
    created DOUBLE PRECISION NOT NULL, timeout INTEGER NOT NULL, poll INTEGER NOT NULL,
    inventory JSONB NOT NULL, state TEXT NOT NULL, controller TEXT NOT NULL, options JSONB);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created);
CREATE TABLE IF NOT EXISTS hosts (
    jid TEXT NOT NULL REFERENCES jobs(jid) ON DELETE CASCADE, host TEXT NOT NULL,
    position INTEGER NOT NULL, spec JSONB NOT NULL, groups JSONB NOT NULL,
    state TEXT NOT NULL, last JSONB NOT NULL, updated DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (jid, host));
"""
JOB_COLUMNS = "jid, command, shell, created, timeout, poll, inventory, state, options"


def job_row(row: Any) -> JobRow:
    """A jobs row (JOB_COLUMNS, in order) as a JobRow."""
    jid, command, shell, created, timeout, poll, inventory, state, options = row
    return JobRow(jid, command, shell, created, timeout, poll, inventory, state, options or {})


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


class PgRegistry:
    def __init__(self, url: str,
                 connect_timeout: float = DEFAULTS["registry_connect_timeout"]) -> None:
        self.url = url
        self.path = redacted(url)
        self.connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            try:
                conn = psycopg.connect(self.url, autocommit=True,
                                       connect_timeout=max(1, int(self.connect_timeout)),
                                       application_name="ctl")
            except psycopg.Error as exc:
                reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
                raise RegistryError(f"cannot reach the job registry {self.path}: "
                                    f"{reason}") from None
            self._conn = conn
            self._ensure_schema(conn)
        return self._conn

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        with self._tx(conn):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
            conn.execute(SCHEMA)
            row = conn.execute("SELECT max(version) FROM ctl_schema").fetchone()
            version = row[0] if row else None
            if version is None:
                conn.execute("INSERT INTO ctl_schema VALUES (%s)", (SCHEMA_VERSION,))
            elif version > SCHEMA_VERSION:
                raise RegistryError(f"the job registry {self.path} has schema version "
                                    f"{version}, made by a newer ctl (this one knows "
                                    f"{SCHEMA_VERSION}): upgrade ctl")

    @contextmanager
    def _tx(self, conn: psycopg.Connection[Any] | None = None
            ) -> Iterator[psycopg.Connection[Any]]:
        conn = conn or self._connect()
        try:
            with conn.transaction():
                yield conn
        except psycopg.OperationalError as exc:
            raise RegistryError(f"job registry {self.path}: {exc}") from None
        except psycopg.Error as exc:
            raise RegistryError(f"job registry {self.path}: {exc}") from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def create_job(self, jid: str, command: list[str] | str, shell: bool, timeout: int,
                   poll: int, inventory: list[str], hosts: Iterable[tuple[HostSpec, list[str]]],
                   options: Mapping[str, Any] | None = None) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT INTO jobs VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                       (jid, json.dumps(command), shell, now, timeout, poll,
                        json.dumps(inventory), "active", f"{socket.gethostname()}:{os.getpid()}",
                        None if options is None else json.dumps(options)))
            with db.cursor().copy("COPY hosts (jid, host, position, spec, groups, state, last, "
                                  "updated) FROM STDIN") as copy:
                for i, (spec, groups) in enumerate(hosts):
                    copy.write_row((jid, spec.name, i, json.dumps(spec.to_dict()),
                                    json.dumps(groups), "launching", "{}", now))

    def record(self, jid: str, updates: Iterable[tuple[HostResult, str | None]]) -> None:
        rows = [(state, json.dumps(summary(r)), time.time(), jid, r.host) for r, state in updates]
        if rows:
            with self._tx() as db:
                db.cursor().executemany(
                    "UPDATE hosts SET state=COALESCE(%s, state), last=%s, updated=%s "
                    "WHERE jid=%s AND host=%s", rows)

    def set_job_state(self, jid: str, state: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET state=%s WHERE jid=%s", (state, jid))

    def find_job(self, jid: str) -> JobRow | None:
        with self._tx() as db:
            row = db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE jid=%s", (jid,)).fetchone()
        return None if row is None else job_row(row)

    def job(self, jid: str) -> JobRow:
        found = self.find_job(jid)
        if found is None:
            raise JidError(f"unknown jid {jid}: not in the registry {self.path} "
                           "(for a job started elsewhere, name its hosts with -i INVENTORY)")
        return found

    def hosts(self, jid: str) -> list[HostRow]:
        with self._tx() as db:
            rows = db.execute("SELECT host, spec, groups, state, last FROM hosts WHERE jid=%s "
                              "ORDER BY position", (jid,)).fetchall()
        return [HostRow(r[0], HostSpec.from_dict(r[1]), r[2], r[3], r[4]) for r in rows]

    def jobs(self, limit: int | None = None) -> list[JobRow]:
        with self._tx() as db:
            rows = db.execute(f"SELECT {JOB_COLUMNS} FROM jobs ORDER BY created DESC" +
                              (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        return [job_row(row) for row in rows]

    def host_counts(self, jid: str) -> dict[str, int]:
        return count_outcomes(self.hosts(jid))
