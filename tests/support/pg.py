"""A real PostgreSQL server from Debian's packages, for the test suite: ``initdb`` into a
temp dir and ``pg_ctl start`` on 127.0.0.1 and a free port (as the ``postgres`` user when
run as root, since PostgreSQL refuses to run as root), stopped at the end."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.sshd_lab import free_port


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@dataclass
class PgServer:
    bindir: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ctl-pg-")))
    port: int = 0
    user: str = ""

    def _as_owner(self, *argv: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(prefix + list(argv), capture_output=True, text=True, check=True,
                              timeout=60)

    def start(self) -> PgServer:
        self.root.chmod(0o755)
        data, sock = self.root / "data", self.root / "sock"
        data.mkdir()
        sock.mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (data, sock):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        self._as_owner(str(self.bindir / "initdb"), "--no-sync", "-A", "trust", "-U", self.user,
                       "-D", str(data))
        self.port = free_port("127.0.0.1")
        self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(data), "-l",
                       str(sock / "server.log"), "-o",
                       f"-h 127.0.0.1 -p {self.port} -k {sock} -F", "start", "-w")
        return self

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                           "immediate", "stop", "-w")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def dump_tables(url: str) -> bytes:
    """Every row of every table of the database, as text: what a secret scan reads."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public'")]
        rows = [str(r[0]) for t in tables for r in conn.execute(f'SELECT t::text FROM "{t}" t')]
    return "\n".join(rows).encode()
