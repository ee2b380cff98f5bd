"""Warm connections against real sshd: the keeper one command starts serves the next ones
of the same user, is replaced when it is from another ctl or dead, is bypassed when wedged,
reopens a dropped connection, and ends by itself leaving nothing behind. ``--persist 0``
starts none. Each test's ctl has its own short $CTL_HOME (a socket path has at most 107
bytes) and the default persistence (no CTL_PERSIST); every keeper a test started is
killed at its end."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from controller.keeper import wire
from tests.support.ctl import ROOT, Ctl, blocks, jid_of
from tests.support.sshd_lab import SshdLab, ensure_user, running_lab

HOSTS = 3


@pytest.fixture(scope="module")
def lab77(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdLab]:
    with running_lab(tmp_path_factory.mktemp("keeper"), count=HOSTS, subnet="127.0.77",
                     user_prefix="ctlk") as lab:
        yield lab


@pytest.fixture
def warm(lab77: SshdLab) -> Iterator[Ctl]:
    home = Path(tempfile.mkdtemp(prefix="kw", dir="/tmp"))
    env = lab77.controller_env(home)
    del env["CTL_PERSIST"]  # the default: a keeper, 60 s
    env["CTL_KEEPER_TIMEOUT"] = "5"  # not 1 s: this machine may be loaded (a wedged one: 5 s)
    env["PYTHONPATH"] = str(ROOT)
    yield Ctl(env, home, lab77.inventory)
    for pid in keeper_pids(state_of(env)):
        for signum in (signal.SIGCONT, signal.SIGKILL):
            os.kill(pid, signum)
        assert wait_gone(pid)
    shutil.rmtree(home, ignore_errors=True)


def state_of(env: dict[str, str]) -> Path:
    return Path(env["CTL_HOME"])


def keeper_pids(state: Path) -> list[int]:
    """Every live keeper process of this $CTL_HOME (a /proc scan)."""
    needle = f"controller.keeper\0--home\0{state}\0".encode()
    found = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and needle in Path(f"/proc/{name}/cmdline").read_bytes():
                found.append(int(name))
        except OSError:
            pass
    return found


def alive(pid: int) -> bool:
    """Running (a zombie has ended: this machine's init reaps orphans lazily)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, seconds: float = 60) -> bool:
    """Wait, a bounded time, for a process that is not our child to end (never a proof by
    sleeping: it polls until the process is gone)."""
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def launch(ctl: Ctl, *options: str) -> str:
    run = ctl("run", "-i", str(ctl.inventory), "-B", "60", "-P", "0", *options, "--", "true",
              check_code=0)
    assert len(blocks(run.stdout)) == HOSTS
    return jid_of(run.stdout)


def status(ctl: Ctl) -> dict[str, Any] | None:
    found: dict[str, Any] | None = json.loads(ctl("keeper", "status", "--json",
                                                  check_code=0).stdout)
    return found


def socket_of(ctl: Ctl) -> Path:
    return state_of(ctl.env) / wire.SOCKET_NAME


def test_a_second_command_reuses_the_first_ones_connections(warm: Ctl) -> None:
    jid = launch(dataclasses.replace(warm, env={**warm.env, "ANSIBLE_SECRET_X": "hunter2"}))
    first = status(warm)
    assert first is not None and (first["connects"], first["open"]) == (HOSTS, HOSTS)
    poll = warm("poll", jid, check_code=0)
    assert len(blocks(poll.stdout)) == HOSTS
    second = status(warm)
    assert second is not None and second["pid"] == first["pid"]
    assert second["connects"] == HOSTS  # no new SSH connection for the poll
    assert second["runs"] > first["runs"]
    assert keeper_pids(state_of(warm.env)) == [first["pid"]]
    argv = Path(f"/proc/{first['pid']}/cmdline").read_bytes().split(b"\0")
    assert argv[1:-1] == [b"-m", b"controller.keeper", b"--home",
                          str(state_of(warm.env)).encode(), b"--idle", b"60"]  # no secret
    environ = Path(f"/proc/{first['pid']}/environ").read_bytes()
    assert b"hunter2" not in environ and b"CTL_HOME" not in environ  # HOME, PATH, agent


def test_the_socket_and_the_log_are_the_users_alone(warm: Ctl) -> None:
    launch(warm)
    for path in (socket_of(warm), state_of(warm.env) / wire.LOG_NAME):
        info = os.stat(path)
        assert stat.S_IMODE(info.st_mode) == 0o600, path
        assert info.st_uid == os.getuid()
    assert stat.S_ISSOCK(os.stat(socket_of(warm)).st_mode)


OLD_KEEPER = """
import json, os, socket, struct, sys
sock = socket.socket(socket.AF_UNIX)
sock.bind(sys.argv[1])
sock.listen(8)
print("ready", flush=True)
while True:
    conn, _ = sock.accept()
    try:
        head = conn.recv(65536)
        if head:
            data = json.dumps({"version": "0.0.1/0/old", "pid": os.getpid(),
                               "sizes": []}).encode()
            conn.sendall(struct.pack(">II", len(data), 0) + data)
    finally:
        conn.close()
"""


def test_a_keeper_of_another_ctl_version_is_replaced_without_error(warm: Ctl) -> None:
    socket_of(warm).parent.mkdir(mode=0o700, parents=True)
    old = subprocess.Popen([sys.executable, "-c", OLD_KEEPER, str(socket_of(warm))],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert old.stdout is not None and old.stdout.readline().strip() == "ready"
        run = warm("run", "-i", str(warm.inventory), "-B", "60", "-P", "0", "-v", "--", "true",
                   check_code=0)
        assert "replacing the ctl keeper" in run.stderr and "0.0.1/0/old" in run.stderr
        assert old.wait(30) == -signal.SIGTERM
    finally:
        old.kill()
        old.wait()
    found = status(warm)
    assert found is not None and found["version"] == wire.version()
    assert found["connects"] == HOSTS


def test_a_killed_keeper_and_its_stale_socket_are_replaced(warm: Ctl) -> None:
    launch(warm)
    first = status(warm)
    assert first is not None
    os.kill(first["pid"], signal.SIGKILL)
    assert wait_gone(first["pid"])
    assert socket_of(warm).exists()  # left behind: nothing listens on it
    run = warm("run", "-i", str(warm.inventory), "-B", "60", "-P", "0", "-v", "--", "true",
               check_code=0)
    assert "started a ctl keeper" in run.stderr
    second = status(warm)
    assert second is not None and second["pid"] != first["pid"]
    assert keeper_pids(state_of(warm.env)) == [second["pid"]]


@pytest.mark.parametrize("how", ["--persist", "CTL_PERSIST"])
def test_persist_0_starts_no_keeper(warm: Ctl, how: str) -> None:
    if how == "--persist":
        launch(warm, "--persist", "0")
    else:
        launch(dataclasses.replace(warm, env={**warm.env, "CTL_PERSIST": "0"}))
    assert not socket_of(warm).exists()
    assert keeper_pids(state_of(warm.env)) == []


def test_the_keeper_exits_once_idle_and_leaves_nothing(warm: Ctl) -> None:
    launch(warm, "--persist", "1")
    log = state_of(warm.env) / wire.LOG_NAME
    started = re.search(r"keeper\[(\d+)\] keeper \S+ listening \(idle exit after 1s\)",
                        log.read_text())
    assert started, log.read_text()  # the pid from its log: it may be gone already
    assert wait_gone(int(started.group(1)))
    assert not socket_of(warm).exists()
    assert keeper_pids(state_of(warm.env)) == []
    assert "idle for 1s: exiting" in log.read_text()
    assert f"{HOSTS} connections opened" in log.read_text()


def test_a_dropped_connection_is_reopened_transparently(warm: Ctl, lab77: SshdLab) -> None:
    jid = launch(warm)
    host = lab77.hosts[0]
    lab77.stop_host(host, drop_sessions=True)  # its sshd and the keeper's session die
    lab77.start_host(host)
    poll = warm("poll", jid, check_code=0)
    assert sorted(blocks(poll.stdout)) == sorted(h.name for h in lab77.hosts)
    found = status(warm)
    assert found is not None and found["connects"] == HOSTS + 1  # that host's, reopened


def test_a_wedged_keeper_is_bypassed_and_said_at_v(warm: Ctl) -> None:
    jid = launch(warm)
    found = status(warm)
    assert found is not None
    os.kill(found["pid"], signal.SIGSTOP)
    poll = warm("poll", jid, "-v", check_code=0)
    assert len(blocks(poll.stdout)) == HOSTS
    assert "did not answer within" in poll.stderr and "connecting directly" in poll.stderr
    quiet = warm("poll", jid, check_code=0)
    assert "keeper" not in quiet.stderr  # said at -v only
    warm("keeper", "stop", check_code=0)  # it cannot answer: killed
    assert wait_gone(found["pid"]) and not socket_of(warm).exists()


def test_keeper_stop_ends_it_now(warm: Ctl) -> None:
    launch(warm)
    found = status(warm)
    assert found is not None
    stop = warm("keeper", "stop", check_code=0)
    assert f"pid {found['pid']}" in stop.stdout
    assert wait_gone(found["pid"], 1)  # stop waited for it
    assert not socket_of(warm).exists()
    assert status(warm) is None


def test_a_hosts_lower_maxsessions_is_respected(warm: Ctl, tmp_path: Path) -> None:
    """Six inventory names of one host share one kept connection; its sshd allows two
    sessions at once (MaxSessions 2), ctl's default is sshd's 10: the refused ones were
    never sent, so they wait for a session to end and run; every name gets its job."""
    with running_lab(tmp_path / "narrow", count=1, subnet="127.0.77", user_prefix="ctlm",
                     extra_config="MaxSessions 2") as narrow:
        host = narrow.hosts[0]
        names = {f"alias{i}": dict(host.inventory_vars(narrow.key),
                                   ansible_async_dir=f"{host.real_async_dir}/{i}")
                 for i in range(6)}
        inventory = tmp_path / "aliases.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": names}}))
        known = warm.home / ".ssh" / "known_hosts"
        known.write_text(known.read_text() + narrow.known_hosts.read_text())
        run = warm("run", "-i", str(inventory), "-B", "60", "-P", "0", "--", "true",
                   check_code=0)
        out = blocks(run.stdout)
        assert sorted(out) == sorted(names)
        assert all(label == "CHANGED" for label, _ in out.values()), run.stdout
        found = status(warm)
        assert found is not None and found["connects"] == 1
        log = (state_of(warm.env) / wire.LOG_NAME).read_text()
        assert "refused a session: at most" in log  # it was tried, and it adapted


def test_an_unreachable_host_reads_the_same_through_the_keeper(warm: Ctl) -> None:
    said = []
    for persist in ("60", "0"):
        run = warm("run", "-i", str(warm.inventory), "-l", "h1", "-B", "60", "-P", "0",
                   "--persist", persist, "-e", "ansible_port=1", "--", "true", check_code=4)
        label, data = blocks(run.stdout)["h1"]
        said.append((label, data["msg"]))
    assert said[0] == said[1] and said[0][0] == "UNREACHABLE!"
    assert "Failed to connect to the host via ssh" in said[0][1]
    found = status(warm)
    assert found is not None and found["runs"] == 1  # the first went through the keeper


BECOME = "ctlkbecome"


@pytest.fixture
def sudo_h1(lab77: SshdLab) -> Iterator[str]:
    """h1's user may become BECOME with its password (a sudoers file of this module's)."""
    if os.geteuid() != 0:
        pytest.skip("configures sudo and Unix passwords: needs root (CI runs as root)")
    ensure_user(BECOME)
    secret = f"sudo-{uuid.uuid4().hex}"
    subprocess.run(["chpasswd"], input=f"{lab77.hosts[0].user}:{secret}\n", text=True,
                   check=True)
    rules = Path("/etc/sudoers.d/ctl-keeper-test")
    rules.write_text(f"{lab77.hosts[0].user} ALL=({BECOME}) ALL\n")
    rules.chmod(0o440)
    try:
        yield secret
    finally:
        rules.unlink()


def test_a_become_password_crosses_only_the_socket(warm: Ctl, sudo_h1: str,
                                                   tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text(sudo_h1 + "\n")
    run = warm("run", "-i", str(warm.inventory), "-l", "h1", "-B", "30", "-P", "1", "-b",
               "--become-user", BECOME, "--become-password-file", str(password), "--",
               "id", "-un", check_code=0)
    assert blocks(run.stdout)["h1"][1]["stdout"] == BECOME
    found = status(warm)
    assert found is not None and found["runs"] >= 2  # the launch and a poll, both kept
    argv = Path(f"/proc/{found['pid']}/cmdline").read_bytes()
    environ = Path(f"/proc/{found['pid']}/environ").read_bytes()
    assert sudo_h1.encode() not in argv + environ
    for path in state_of(warm.env).rglob("*"):
        if path.is_file():
            assert sudo_h1.encode() not in path.read_bytes(), path


def test_commands_started_together_share_one_keeper(warm: Ctl) -> None:
    argv = ["run", "-i", str(warm.inventory), "-B", "60", "-P", "0", "--", "true"]
    procs = [warm.popen(*argv) for _ in range(3)]  # none finds a keeper: all would start one
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert len(blocks(out)) == HOSTS
    pids = keeper_pids(state_of(warm.env))
    found = status(warm)
    assert found is not None and pids == [found["pid"]]
    assert found["connects"] == HOSTS  # one connection per host, shared by the three
