"""Real OpenSSH test hosts on loopback, for the test suite and the benchmark.

Each host is its own ``sshd -D`` bound to its own address (127.0.10.N). As root every host
gets its own Unix user (``ctltN``, home ``/home/ctltN``) and the default async dir; as
another user, every host logs in as that user and gets its own async dir. The lab writes a
client key, a known_hosts file and an Ansible YAML inventory, and waits for each port to
accept (it never sleeps blindly).

``CTL_TEST_INVENTORY`` names an inventory of hosts started elsewhere (for example by
``docker compose -f docker-compose.test.yml up``): the lab then starts nothing and uses
those hosts, with ``CTL_TEST_KEY`` and ``CTL_TEST_KNOWN_HOSTS``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from remote_payload.ctl_async_wrapper import descendants  # one /proc walker

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
USER_PREFIX = "ctlt"


@dataclass
class LabHost:
    name: str
    address: str
    port: int
    user: str
    home: str
    async_dir: str | None
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def real_async_dir(self) -> str:
        return self.async_dir or os.path.join(self.home, ".ansible_async")

    def inventory_vars(self, key: Path) -> dict[str, Any]:
        hostvars: dict[str, Any] = {
            "ansible_host": self.address, "ansible_port": self.port,
            "ansible_user": self.user, "ansible_ssh_private_key_file": str(key),
            "ansible_python_interpreter": "/usr/bin/python3"}
        if self.async_dir:
            hostvars["ansible_async_dir"] = self.async_dir
        return hostvars


def free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def wait_for_port(address: str, port: int, deadline: float, proc: Any = None) -> None:
    """Poll until the port accepts and sshd's banner arrives."""
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"sshd on {address}:{port} exited with {proc.returncode}")
        try:
            with socket.create_connection((address, port), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"sshd on {address}:{port} did not start in time")
        time.sleep(0.02)


def ensure_user(name: str) -> str:
    try:
        return pwd.getpwnam(name).pw_dir
    except KeyError:
        subprocess.run(["useradd", "-m", "-p", "*", "-s", "/bin/sh", name], check=True)
        return pwd.getpwnam(name).pw_dir


@dataclass
class SshdLab:
    root: Path
    count: int = 5
    subnet: str = "127.0.10"
    hosts: list[LabHost] = field(default_factory=list)
    external: bool = False
    public: Path | None = None
    user_prefix: str = USER_PREFIX  # as root: each host's user is <prefix><n>
    extra_config: str = ""  # appended to every host's sshd_config (e.g. "MaxStartups 1")

    @property
    def key(self) -> Path:
        return Path(os.environ["CTL_TEST_KEY"]) if self.external else self.root / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        if self.external:
            return Path(os.environ["CTL_TEST_KNOWN_HOSTS"])
        return self.root / "known_hosts"

    @property
    def inventory(self) -> Path:
        if self.external:
            return Path(os.environ["CTL_TEST_INVENTORY"])
        return self.root / "hosts.yml"

    # --- set-up ---------------------------------------------------------------------------

    def start(self) -> SshdLab:
        if os.environ.get("CTL_TEST_INVENTORY"):
            self.external = True
            self._load_external()
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        os.makedirs("/run/sshd", exist_ok=True) if os.geteuid() == 0 else None
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        subprocess.run(keygen + ["-f", str(self.key), "-C", "ctl-test"], check=True)
        # sshd reads authorized_keys as the target user: keep it where every user can read it
        self.public = Path(tempfile.mkdtemp(prefix="ctl-lab-"))
        self.public.chmod(0o755)
        (self.public / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        (self.public / "authorized_keys").chmod(0o644)
        self.hosts = [self._make_host(i) for i in range(1, self.count + 1)]
        deadline = time.monotonic() + 60 + self.count * 0.1
        for host in self.hosts:
            self._spawn(host)
        for host in self.hosts:
            wait_for_port(host.address, host.port, deadline, host.process)
        self._write_known_hosts()
        self.write_inventory(self.inventory)
        return self

    def address(self, i: int) -> str:
        """Host i's loopback address: 250 per /24, then the next /24 (127.0.10.x, 127.0.11.x)."""
        a, b, c = self.subnet.split(".")
        return f"{a}.{b}.{int(c) + (i - 1) // 250}.{(i - 1) % 250 + 1}"

    def _make_host(self, i: int) -> LabHost:
        address = self.address(i)
        workdir = self.root / f"h{i}"
        workdir.mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(workdir / "host_key")], check=True)
        if os.geteuid() == 0:
            user = f"{self.user_prefix}{i}"
            home, async_dir = ensure_user(user), None
        else:
            user = pwd.getpwuid(os.getuid()).pw_name
            home, async_dir = os.path.expanduser("~"), str(workdir / "async")
        host = LabHost(f"h{i}", address, free_port(address), user, home, async_dir, workdir)
        self._write_config(host)
        return host

    def _write_config(self, host: LabHost) -> None:
        w = host.workdir
        (w / "sshd_config").write_text(  # sshd takes a keyword's first value: extras first
            (self.extra_config + "\n" if self.extra_config else "") +
            f"ListenAddress {host.address}:{host.port}\n"
            f"HostKey {w / 'host_key'}\nPidFile {w / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.public / 'authorized_keys'}\n"
            f"AllowUsers {host.user}\nStrictModes no\nUsePAM no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nMaxSessions 100\n"
            "LogLevel ERROR\nPrintMotd no\nSubsystem sftp internal-sftp\n"
            + ("" if "MaxStartups" in self.extra_config else "MaxStartups 200:30:400\n"))

    def _spawn(self, host: LabHost) -> None:
        log = open(host.workdir / "sshd.log", "ab")
        host.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(host.workdir / "sshd_config")],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def _write_known_hosts(self) -> None:
        lines = []
        for host in self.hosts:
            pub = (host.workdir / "host_key.pub").read_text().split()
            lines.append(f"[{host.address}]:{host.port} {pub[0]} {pub[1]}\n")
        self.known_hosts.write_text("".join(lines))

    def write_inventory(self, path: Path, hosts: list[LabHost] | None = None,
                        extra: dict[str, dict[str, Any]] | None = None) -> Path:
        chosen = self.hosts if hosts is None else hosts
        entries = {h.name: {**h.inventory_vars(self.key), **(extra or {}).get(h.name, {})}
                   for h in chosen}
        path.write_text(yaml.safe_dump({"all": {"hosts": entries}}, sort_keys=False))
        return path

    def _load_external(self) -> None:
        data = yaml.safe_load(self.inventory.read_text())
        for name, hv in (data.get("all", {}).get("hosts") or {}).items():
            self.hosts.append(LabHost(name, hv["ansible_host"], int(hv.get("ansible_port", 22)),
                                      hv["ansible_user"], f"/home/{hv['ansible_user']}",
                                      hv.get("ansible_async_dir"), self.root))

    def sh(self, host: LabHost, command: str, timeout: float = 30
           ) -> subprocess.CompletedProcess[str]:
        """Run a shell command on a lab host with the OpenSSH client (the test's own eyes)."""
        return subprocess.run(
            ["ssh", "-i", str(self.key), "-p", str(host.port), "-o", "BatchMode=yes",
             "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "LogLevel=ERROR",
             f"{host.user}@{host.address}", command],
            capture_output=True, text=True, timeout=timeout)

    # --- faults ------------------------------------------------------------------------

    def stop_host(self, host: LabHost, drop_sessions: bool = False) -> None:
        """Stop a host's sshd; its running jobs are left alone. With ``drop_sessions`` its
        open SSH connections die too (sshd's per-connection processes, which setsid, are
        found as its descendants), as when the host's network or sshd dies under a reader."""
        if host.process and host.process.poll() is None:
            doomed = descendants(host.process.pid) if drop_sessions else []
            host.process.send_signal(signal.SIGKILL if drop_sessions else signal.SIGTERM)
            for pid in doomed:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            host.process.wait(10)

    def start_host(self, host: LabHost) -> None:
        self._spawn(host)
        wait_for_port(host.address, host.port, time.monotonic() + 30, host.process)

    def stop(self) -> None:
        for host in self.hosts:
            if host.process and host.process.poll() is None:
                host.process.terminate()
        for host in self.hosts:
            if host.process:
                try:
                    host.process.wait(10)
                except subprocess.TimeoutExpired:
                    host.process.kill()
        if self.public is not None:
            shutil.rmtree(self.public, ignore_errors=True)

    def controller_env(self, home: Path) -> dict[str, str]:
        """An environment for a ctl (or ansible) process that trusts the lab's host keys:
        its own HOME with .ssh/known_hosts, and its own registry."""
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy(self.known_hosts, ssh_dir / "known_hosts")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ANSIBLE_", "CTL_", "SSH_AUTH_SOCK"))}
        env.update(HOME=str(home), CTL_HOME=str(home / "ctl-state"),
                   ANSIBLE_LOCAL_TEMP=str(home / ".ansible-tmp"), NO_COLOR="1",
                   CTL_PERSIST="0")  # no keeper per test home (tests/e2e/test_keeper_e2e.py)
        return env


@contextmanager
def running_lab(root: Path, **settings: Any) -> Iterator[SshdLab]:
    """A lab of its own for a test module (``SshdLab(root, **settings)``), stopped at the
    end. Its own subnet and user prefix keep other test runs on the machine, which pkill
    the session lab users' processes, away from its jobs."""
    lab = SshdLab(root, **settings).start()
    try:
        yield lab
    finally:
        lab.stop()


running = running_lab  # the name the cluster tests use


def module_lab(**settings: Any) -> Any:
    """A module-scoped fixture: a lab of the module's own (``running_lab``), its directory
    named after its user prefix. A module that names it ``lab`` gets the suite's ``ctl``
    fixture on these hosts."""
    import pytest

    @pytest.fixture(scope="module")
    def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdLab]:
        name = str(settings.get("user_prefix", "lab"))
        with running_lab(tmp_path_factory.mktemp(name), **settings) as started:
            yield started
    return lab
