"""Shared fixtures: a session-wide lab of real sshd hosts (started only when a test asks for
it), and a ctl runner per test. Helpers live in ``tests/support``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.ctl import ROOT, Ctl, argv_holding, blocks, jid_of  # noqa: F401
from tests.support.sshd_lab import SshdLab

LAB_HOSTS = int(os.environ.get("CTL_TEST_HOSTS", "5"))
# ctl run in this process or its children keeps no connections between commands: a keeper
# per test home would outlive the test. The keeper's own tests turn it on explicitly.
os.environ["CTL_PERSIST"] = "0"
FAST_TIER = ("tests/unit", "tests/integration")


def fast_tier_only(config: pytest.Config) -> bool:
    """Were only fast-tier tests asked for (paths under tests/unit or tests/integration)?"""
    args = [a.split("::")[0] for a in config.args]
    root = Path(str(config.rootpath))
    return bool(args) and all(
        any(Path(a).resolve().is_relative_to(root / tier) for tier in FAST_TIER) for a in args)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The fast tier runs on two processes when pytest-xdist is there and no ``-n`` was
    given: half its time is spent waiting (poll intervals, a local Dask cluster's start),
    which a second process fills. ``-n 0`` runs it in one. The e2e tier stays in one
    process: its labs of sshd hosts use machine-wide test users and fixed subnets."""
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    option = config.option
    if option.numprocesses is None and option.dist == "no" and not option.tx \
            and fast_tier_only(config):
        option.numprocesses = option.maxprocesses = 2
        option.dist, option.tx = "load", ["popen"] * 2


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdLab]:
    lab = SshdLab(tmp_path_factory.mktemp("lab"), count=LAB_HOSTS).start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def ctl(lab: SshdLab, tmp_path: Path) -> Ctl:
    home = tmp_path / "home"
    env = lab.controller_env(home)
    env["PYTHONPATH"] = str(ROOT)
    return Ctl(env, home, lab.inventory)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """PostgreSQL for the shared-registry tests (scripts/setup.sh installs it)."""
    from tests.support.pg import PgServer, pg_bin

    bindir = pg_bin()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed: run scripts/setup.sh as root "
                    "(apt-get install postgresql)")
    server = PgServer(bindir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_registry(pg_server: object) -> str:
    """The URL of an empty ctl registry database on the session's PostgreSQL."""
    import psycopg

    url = pg_server.url("ctl") if _PG_DB["made"] else pg_server.create_db("ctl")  # type: ignore[attr-defined]
    _PG_DB["made"] = True
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS hosts, jobs, ctl_schema")
    return url


_PG_DB = {"made": False}
