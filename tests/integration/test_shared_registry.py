"""The registry behind one interface: SQLite in $CTL_HOME, or PostgreSQL shared by every
controller machine that names it (CTL_REGISTRY). A second CTL_HOME on the same PostgreSQL
registry is "another machine": it sees, polls, kills and cleans up the first one's job."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from controller.errors import JidError, RegistryError
from controller.hosts import HostSpec
from controller.registries import open_registry
from controller.results import HostResult, Status
from tests.support.fast import Cli, Outcome, blocks, reap_jobs, waiting_job
from tests.support.pg import dump_tables


@pytest.fixture(autouse=True)
def reaper(tmp_path: Path) -> Iterator[None]:
    yield
    reap_jobs(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        return open_registry(None, str(tmp_path / "reg"))
    return open_registry(request.getfixturevalue("pg_registry"))


def test_registry_round_trip(registry: Any) -> None:
    specs = [HostSpec("a", address="10.0.0.1", port=2222), HostSpec("b", password="pw")]
    registry.create_job("j1.2", ["echo", "hi"], False, 60, 0, ["/inv.yml"],
                        [(specs[0], ["web"]), (specs[1], [])])
    registry.create_job("j3.4", "true", True, 9, 1, [], [(specs[1], [])])
    assert [job.jid for job in registry.jobs()] == ["j3.4", "j1.2"]
    assert [job.jid for job in registry.jobs(limit=1)] == ["j3.4"]
    job = registry.job("j1.2")
    assert (job.command, job.shell, job.timeout, job.inventory, job.state) == \
        (["echo", "hi"], False, 60, ["/inv.yml"], "active")
    assert registry.job("j3.4").command == "true" and registry.job("j3.4").shell is True
    registry.record("j1.2", [(HostResult("a", Status.CHANGED, {"finished": 0}), "started"),
                             (HostResult.failed("b", "nope"), None)])
    hosts = registry.hosts("j1.2")
    assert [(h.host, h.state, h.groups) for h in hosts] == \
        [("a", "started", ["web"]), ("b", "launching", [])]
    assert hosts[0].spec == specs[0] and hosts[1].last == {"status": "failed", "msg": "nope"}
    assert hosts[1].spec.password is None  # secrets are never stored
    assert registry.host_counts("j1.2") == {"running": 1, "ok": 0, "failed": 1,
                                            "unreachable": 0, "lost": 0}
    registry.set_job_state("j1.2", "cleaned")
    assert registry.job("j1.2").state == "cleaned"
    with pytest.raises(JidError, match="unknown jid j5.6"):
        registry.job("j5.6")
    assert registry.find_job("j5.6") is None


def test_ctl_creates_and_versions_the_schema_and_refuses_a_newer_one(pg_registry: str) -> None:
    first, second = open_registry(pg_registry), open_registry(pg_registry)
    assert first.jobs() == [] and second.jobs() == []  # both checked it; one created it
    with psycopg.connect(pg_registry, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM ctl_schema").fetchall() == [(1,)]
        columns = {r[0]: r[1] for r in conn.execute(
            "SELECT column_name, is_nullable FROM information_schema.columns "
            "WHERE table_name='jobs'")}
        assert columns["options"] == "YES"  # generic job options, nullable
        conn.execute("UPDATE ctl_schema SET version=99")
    with pytest.raises(RegistryError, match="schema version 99, made by a newer ctl"):
        open_registry(pg_registry).jobs()


def test_a_job_in_many_hosts_is_written_ahead_in_one_go(registry: Any) -> None:
    specs = [(HostSpec(f"h{i}", address=f"10.1.{i // 250}.{i % 250}"), ["all"])
             for i in range(5000)]
    started = time.monotonic()
    registry.create_job("j7.8", ["true"], False, 60, 0, [], specs)
    assert time.monotonic() - started < 5
    assert registry.host_counts("j7.8")["launching"] == 5000


class Machine(Cli):
    """One controller machine: its own HOME and CTL_HOME, the shared registry."""

    def __call__(self, *argv: str, code: int | None = None) -> Outcome:
        os.environ.update(HOME=str(self.home), CTL_HOME=str(self.home / "ctl"))
        return super().__call__(*argv, code=code)


def test_a_second_machine_sees_polls_kills_and_cleans_up_the_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_registry: str) -> None:
    monkeypatch.setenv("CTL_REGISTRY", pg_registry)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    here, there = Machine(tmp_path / "a", monkeypatch), Machine(tmp_path / "b", monkeypatch)
    inv = here.inventory(local=("l0", "l1"))
    jid = here.launch(inv, *waiting_job(tmp_path / "go")).jid
    listed = there("jobs", "--json", code=0).json_lines()
    assert [j["jid"] for j in listed] == [jid] and listed[0]["hosts"]["running"] == 2
    assert "l0" in there("show", jid, code=0).out
    polled = blocks(there("poll", jid, "--all-hosts", code=0).out)
    assert {h: data["finished"] for h, (_, data) in polled.items()} == {"l0": 0, "l1": 0}
    killed = blocks(there("kill", jid, "--grace", "1", code=0).out)
    assert all(data.get("killed") for _, data in killed.values())
    there("cleanup", jid, code=0)
    assert not (here.async_dir("l0") / jid).exists() and not (here.async_dir("l1") / jid).exists()
    assert here("show", jid, "--json", code=0).json_lines()[0]["state"] == "cleaned"
    assert not (tmp_path / "a" / "home" / "ctl" / "registry.db").exists()


@pytest.mark.parametrize("url", ["postgresql://ctl@127.0.0.1:1/ctl",
                                 "postgresql://ctl:hunter2@192.0.2.1:5432/ctl"])
def test_an_unreachable_registry_is_one_line_naming_it_and_no_host_is_contacted(
        cli: Cli, url: str) -> None:
    inv = cli.inventory(local=("l0",))
    started = time.monotonic()
    failed = cli("run", "-i", inv, "--registry", url, "-B", "9", "-P", "0", "--", "true", code=1)
    assert time.monotonic() - started < 10
    line = failed.error_line()
    assert "cannot reach the job registry postgresql://ctl" in line and "hunter2" not in line
    assert not cli.async_dir("l0").exists()  # no host contacted
    assert "cannot reach the job registry" in cli("jobs", "--registry", url, code=1).error_line()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path, monkeypatch)


def test_no_secret_reaches_the_registry(cli: Cli, pg_registry: str, tmp_path: Path) -> None:
    secret = "become-secret-4242"
    (tmp_path / "pw").write_text(secret + "\n")
    inv = cli.inventory(local=("l0",), l0={"ansible_password": "conn-secret-4343"})
    cli("run", "-i", inv, "--registry", pg_registry, "--become-password-file",
        str(tmp_path / "pw"), "-B", "9", "-P", "0", "--", "true")
    stored = dump_tables(pg_registry)
    assert b"l0" in stored and secret.encode() not in stored
    assert b"conn-secret-4343" not in stored
