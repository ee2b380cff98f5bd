"""Sharding over a Dask cluster, proved on LocalClusters of worker processes (the e2e tier
runs a real ``dask scheduler`` and ``dask worker`` against sshd): results stream back as
hosts finish, a worker killed mid-launch loses no host and doubles no job, passwords never
go to a plain tcp:// cluster, and an unreachable cluster is one line, with no host
contacted. The hosts are FakeHosts running the real wrapper on this machine."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from controller.api import Controller, Job, Targets
from controller.cluster import Cluster, cut
from controller.errors import OptionError
from controller.hosts import HostSpec
from controller.registry import Registry
from controller.results import Status
from controller.transport.base import ExecResult
from controller.transport.fake import FakeHosts, run_here
from tests.support.fast import Cli, Heard, fake_specs, job_files, reap_jobs


@pytest.fixture(autouse=True)
def reaper(tmp_path: Path) -> Iterator[None]:
    yield
    reap_jobs(tmp_path)


@dataclass
class Marked:
    """A host handler a worker runs (pickled to it): notes which process served each
    host, waits ``delay`` seconds, or until ``go`` exists for the hosts in ``gated``, then
    runs the command here."""

    notes: str
    delay: float = 0.0
    go: str = ""
    gated: tuple[str, ...] = ()

    async def __call__(self, spec: HostSpec, command: str, stdin: bytes) -> ExecResult:
        Path(self.notes, f"{spec.name}.{os.getpid()}").touch()
        deadline = time.monotonic() + 20
        while spec.name in self.gated and not os.path.exists(self.go):
            if time.monotonic() > deadline:
                return ExecResult(1, b"", b"gate never opened")
            await asyncio.sleep(0.02)
        await asyncio.sleep(self.delay)
        return await run_here(spec, command, stdin)


def served_by(notes: Path) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for path in notes.iterdir():
        host, pid = path.name.rsplit(".", 1)
        found.setdefault(host, set()).add(int(pid))
    return found


def controller(tmp: Path, handler: Marked, cluster: Cluster, events: Heard, forks: int = 50
               ) -> Controller:
    return Controller(Registry(str(tmp / "registry")), connect=FakeHosts(handler),
                      events=events, forks=forks, cluster=cluster)


def test_hosts_are_cut_into_many_shards_of_at_most_the_shard_size() -> None:
    specs = [HostSpec(f"h{i}") for i in range(10_000)]
    shards = cut(specs, workers=4, most=1000, per_worker=4)
    assert len(shards) == 16 and max(map(len, shards)) == 625
    assert [s.name for shard in shards for s in shard] == [s.name for s in specs]
    assert len(cut(specs, workers=2, most=1000, per_worker=4)) == 10
    assert [len(s) for s in cut(specs[:5], workers=2)] == [1] * 5


@pytest.mark.parametrize("address", ["local:0", "local:x", "http://sched:8786", "sched:8786"])
def test_a_cluster_address_ctl_cannot_use_is_bad_input(address: str) -> None:
    with pytest.raises(OptionError, match="--cluster"):
        Cluster(address)


async def test_a_launch_streams_each_result_back_as_its_host_finishes(tmp_path: Path) -> None:
    """h1 waits until the CLI has heard h0, which is in the same shard: only a result
    streamed before its shard ends lets the launch finish."""
    (tmp_path / "notes").mkdir()
    go = tmp_path / "go"
    handler = Marked(str(tmp_path / "notes"), go=str(go), gated=("h1", "h3"))
    heard = Heard(on_result=lambda op, r: go.touch() if r.host == "h0" else None)
    cluster = Cluster("local:2", shard_size=1000, shards_per_worker=1)
    try:
        jid, results = await controller(tmp_path, handler, cluster, heard).run(
            Targets(fake_specs(tmp_path, 4)), Job(["true"], timeout=30))
    finally:
        await cluster.close()
    assert [r.status for r in results] == [Status.CHANGED] * 4
    launched = [host for kind, op, host, _ in
                [e for e in heard.events if e[0] == "result"] if op == "launch"]
    assert sorted(launched) == ["h0", "h1", "h2", "h3"] and launched.index("h0") < \
        launched.index("h1")
    pids = served_by(tmp_path / "notes")
    assert len(set().union(*pids.values())) == 2 and os.getpid() not in pids["h0"]


def sleepers(mark: str) -> dict[str, int]:
    """How many processes run each ``sleep 60.<mark>NNN`` command on this machine (the mark
    is this run's own: another suite, or this one a minute ago, runs sleeps of its own)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    counts: dict[str, int] = {}
    for line in out.splitlines():
        _, _, args = line.strip().partition(" ")
        if args.startswith(f"sleep 60.{mark}"):
            counts[args.strip()] = counts.get(args.strip(), 0) + 1
    return counts


def end_sleepers(mark: str) -> None:
    subprocess.run(["pkill", "-f", f"^sleep 60.{mark}"], capture_output=True)


async def kill_a_worker_after(cluster: Cluster, hosts: Path, launched: int) -> int:
    """SIGKILL one worker process once ``launched`` job files exist."""
    while sum(1 for _ in hosts.rglob("j*.*") if "." not in _.name.split(".", 1)[1]) < launched:
        await asyncio.sleep(0.01)
    client = await cluster.client()
    pid = sorted((await client.run(os.getpid)).values())[0]  # type: ignore[misc]
    os.kill(pid, signal.SIGKILL)
    return pid


async def test_a_worker_killed_mid_launch_loses_no_host_and_doubles_no_job(tmp_path: Path
                                                                           ) -> None:
    (tmp_path / "notes").mkdir()
    specs = fake_specs(tmp_path, 120)
    mark = f"{secrets.randbelow(10**6):06d}"
    commands = {s.name: ["sleep", f"60.{mark}{i:03d}"] for i, s in enumerate(specs)}
    heard = Heard()
    cluster = Cluster("local:2")
    ctl = controller(tmp_path, Marked(str(tmp_path / "notes"), delay=0.05), cluster, heard,
                     forks=3)
    try:
        await cluster.client()
        killer = asyncio.ensure_future(kill_a_worker_after(cluster, tmp_path / "hosts", 20))
        jid, results = await ctl.run(Targets(specs), Job(["sleep"], timeout=90,
                                                         per_host=commands))
        assert killer.done() and not killer.exception()
    finally:
        await cluster.close()
    assert [r.status for r in results] == [Status.CHANGED] * 120, \
        [r.msg for r in results if r.status is not Status.CHANGED][:3]
    assert sorted(e[2] for e in heard.events if e[:2] == ("result", "launch")) == \
        sorted(commands)  # every host heard once
    assert any(r.data.get("recovered") for r in results)  # the re-run read, did not launch
    for spec in specs:
        assert [f for f in job_files(spec.async_dir, jid) if f.count(".") == 1] == [jid]
    try:
        assert sleepers(mark) == {" ".join(c): 1 for c in commands.values()}
    finally:
        end_sleepers(mark)
    assert {row.state for row in ctl.registry.hosts(jid)} == {"started"}


# --- through the CLI -----------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path, monkeypatch)


def test_workers_is_gone_and_points_to_a_local_cluster(cli: Cli) -> None:
    line = cli("run", "-i", cli.inventory(), "--workers", "2", "--", "true", code=5).error_line()
    assert "--cluster local:2" in line


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:1", "tls://192.0.2.1:8786"])
def test_an_unreachable_cluster_is_one_line_naming_it_and_nothing_is_touched(
        cli: Cli, address: str) -> None:
    started = time.monotonic()
    line = cli("run", "-i", cli.inventory(local=("l0",)), "--cluster", address, "-B", "9",
               "-P", "0", "--", "true", code=1).error_line()
    assert time.monotonic() - started < 10
    assert f"cannot reach the Dask cluster {address}" in line
    assert not cli.async_dir("l0").exists() and cli.registry.jobs() == []


def test_passwords_are_not_sent_to_a_plain_tcp_cluster(cli: Cli, tmp_path: Path) -> None:
    with socket.socket() as listener:  # something answers: the refusal is ctl's own
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        (tmp_path / "pw").write_text("s3cret\n")
        line = cli("run", "-i", cli.inventory(local=("l0",)), "--cluster", address, "-b",
                   "--become-password-file", str(tmp_path / "pw"), "--", "true",
                   code=5).error_line()
    assert "will not send the passwords of l0" in line and "--allow-insecure-cluster" in line
    assert cli.registry.jobs() == [] and not cli.async_dir("l0").exists()


def test_a_local_cluster_gives_the_same_json_as_one_process(cli: Cli) -> None:
    inv = cli.inventory(local=("l0", "l1", "l2"))
    one = cli("run", "-i", inv, "--json", "-B", "9", "-P", "1", "--", "echo", "x", code=0)
    many = cli("run", "-i", inv, "--json", "--cluster", "local:2", "-B", "9", "-P", "1",
               "--", "echo", "x", code=0)

    def shape(lines: list[dict]) -> list[tuple]:  # type: ignore[type-arg]
        return sorted((d["host"], d["op"], d["status"], sorted(d), sorted(d["data"]))
                      for d in lines if d["event"] == "result")  # ticks depend on timing

    assert shape(many.json_lines()) == shape(one.json_lines())
    jid = cli("run", "-i", inv, "--cluster", "local:2", "-B", "9", "-P", "0", "--", "true",
              code=0).jid
    polled = cli("poll", jid, "--json", "--wait", "--delay", "0.2", "--cluster", "local:2",
                 code=0).json_lines()
    assert {d["host"] for d in polled if d["op"] == "poll"} == {"l0", "l1", "l2"}
    cli("cleanup", jid, "--cluster", "local:2", code=0)
    assert cli.registry.job(jid).state == "cleaned"


def test_keys_and_known_hosts_travel_with_the_shard_into_a_private_directory(
        tmp_path: Path) -> None:
    from controller.cluster import Credentials

    key, known = tmp_path / "id", tmp_path / "kh"
    key.write_bytes(b"KEY")
    known.write_bytes(b"KNOWN")
    specs = [HostSpec("a", private_key=str(key)), HostSpec("b", known_hosts_file=str(known))]
    shipped = Credentials.of(specs)
    assert repr(shipped) == "Credentials()"  # never shown
    there = shipped.install(specs)
    assert Path(there[0].private_key or "").read_bytes() == b"KEY"
    assert Path(there[1].known_hosts_file or "").read_bytes() == b"KNOWN"
    assert oct(Path(there[0].private_key or "").stat().st_mode & 0o777) == "0o600"
    assert oct(Path(there[0].private_key or "").parent.stat().st_mode & 0o777) == "0o700"
    assert there[0].known_hosts_file and there[0].known_hosts_file != str(known)
    with pytest.raises(OptionError, match="private keys of a over it.*--cluster-own-keys"):
        Cluster("tcp://sched:8786").check_secrets(specs)
    Cluster("tcp://sched:8786", own_keys=True).check_secrets(specs)  # the workers' own
    Cluster("tls://sched:8786").check_secrets(specs)


def test_a_plain_run_imports_nothing_of_dask_or_psycopg(cli: Cli, tmp_path: Path) -> None:
    code = ("import sys\nfrom controller.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit as e:\n    print('CODE', e.code, file=sys.stderr)\n"
            "print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & "
            "{'dask', 'distributed', 'psycopg', 'cloudpickle'}), file=sys.stderr)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTL_")}
    env.update(CTL_HOME=str(tmp_path / "state"), PYTHONPATH=str(Path(__file__).parents[2]))
    proc = subprocess.run([sys.executable, "-c", code, "run", "-i", cli.inventory(local=("l0",)),
                           "-B", "9", "-P", "1", "--", "true"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert "CODE 0" in proc.stderr and "HEAVY []" in proc.stderr, proc.stderr
