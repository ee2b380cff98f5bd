"""An Ansible project directory ("shop") built from a lab, and both tools run from inside it.

The shop is what an Ansible team keeps in git: ``ansible.cfg`` (inventory, remote_user,
private_key_file, vault identities, ssh args, become settings), a production and a staging
inventory with ``group_vars`` (templated connection variables, a whole-file vaulted
``vault.yml``) and ``host_vars`` (an inline ``!vault`` value with a vault-id label). Files are
encrypted by the real ``ansible-vault``.

``Shop.ansible(...)`` and ``Shop.ctl(...)`` run the real ``ansible`` and the real ctl CLI with
the SAME working directory (the shop) and the same environment: ``ANSIBLE_CONFIG`` unset, so
both find ``./ansible.cfg``; HOME in tmp, whose ``~/.ssh/known_hosts`` is EMPTY, so a host key
can only be verified through the cfg's ``-o UserKnownHostsFile=``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.ctl import ROOT
from tests.support.sshd_lab import LabHost, SshdLab

BIN = Path(sys.executable).parent
BECOME_TARGET = "ctlshopbecome"

# inventory name -> lab host index. Production: web1, web2 in [web] (ansible_user from a
# template on their name), db1 in [db] (no ansible_user: the cfg's remote_user); staging:
# stage1, with plain connection variables.
PRODUCTION = {"web1.prod": 0, "web2.prod": 1, "db1.prod": 2}
STAGING = {"stage1.stage": 3}


@dataclass
class Shop:
    root: Path
    lab: SshdLab
    env: dict[str, str]
    vault_password: str
    prod_password: str
    become_password: str
    decoy_ip: str
    files: dict[str, Path] = field(default_factory=dict)

    # --- hosts -----------------------------------------------------------------------------

    def host(self, name: str) -> LabHost:
        table = {**PRODUCTION, **STAGING}
        return self.lab.hosts[table[name]]

    # --- the two tools -----------------------------------------------------------------------

    bin = BIN

    @staticmethod
    def ctl_argv() -> list[str]:
        return [sys.executable, "-m", "controller.cli"]

    def environ(self, home: Path | None = None, **extra: str | None) -> dict[str, str]:
        env = dict(self.env)
        if home is not None:
            env["CTL_HOME"] = str(home)
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def ansible(self, *args: str, tool: str = "ansible", env: dict[str, str] | None = None,
                timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / tool), *args], cwd=self.root,
                              env=env or self.env, capture_output=True, text=True,
                              timeout=timeout)

    def ctl(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
            ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*self.ctl_argv(), *args], cwd=self.root,
                              env=env or self.env, capture_output=True, text=True,
                              timeout=timeout)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def ctl_popen(self, *args: str, env: dict[str, str] | None = None
                  ) -> subprocess.Popen[str]:
        return subprocess.Popen([*self.ctl_argv(), *args], cwd=self.root,
                                env=env or self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    # --- what is on the hosts ---------------------------------------------------------------

    def job_files(self) -> set[str]:
        """Every job file in the async dirs of the shop's users and the become user."""
        homes = {h.home for h in self.lab.hosts} | {f"/home/{BECOME_TARGET}"}
        found = set()
        for home in homes:
            adir = Path(home) / ".ansible_async"
            if adir.is_dir():
                found |= {str(p) for p in adir.iterdir() if p.is_file()}
        return found


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _vault(env: dict[str, str], cwd: Path, *args: str, input: str | None = None) -> str:
    """ansible-vault, run outside the shop (so the shop's cfg adds no vault ids)."""
    proc = subprocess.run([str(BIN / "ansible-vault"), *args], cwd=cwd, env=env, input=input,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


def build_shop(root: Path, lab: SshdLab, home: Path) -> Shop:
    """Write the shop under ``root`` for the first four lab hosts."""
    assert len(lab.hosts) >= 4, "the shop needs four lab hosts"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # Ansible ignores ./ansible.cfg in a world-writable directory
    env = lab.controller_env(home)
    (home / ".ssh" / "known_hosts").write_text("")  # only the cfg's UserKnownHostsFile counts
    env.update(PYTHONPATH=str(ROOT), LC_ALL="C.UTF-8", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="0")
    env.pop("ANSIBLE_CONFIG", None)

    shop = Shop(root, lab, env, vault_password=f"vault-{uuid.uuid4().hex}",
                prod_password=f"prod-{uuid.uuid4().hex}",
                become_password=f"sudo-{uuid.uuid4().hex}", decoy_ip="127.0.30.250")
    f = shop.files
    keys = root / "keys"
    keys.mkdir()
    shutil.copy(lab.key, keys / "id_ed25519")
    (keys / "id_ed25519").chmod(0o600)
    f["known_hosts"] = _write(root / "ssh" / "known_hosts", lab.known_hosts.read_text())
    f["vault_pw"] = _write(root / "secrets" / "vault.pw", shop.vault_password + "\n", 0o600)
    f["prod_pw"] = _write(root / "secrets" / "prod.pw", shop.prod_password + "\n", 0o600)

    db = shop.host("db1.prod")
    f["cfg"] = _write(root / "ansible.cfg", "\n".join([
        "# the shop's ansible.cfg",
        "[defaults]",
        "inventory = inventories/production",
        f"remote_user = {db.user}",
        "private_key_file = keys/id_ed25519",
        "forks = 7",
        "timeout = 12",
        "host_key_checking = True",
        "interpreter_python = /usr/bin/python3",
        "allow_world_readable_tmpfiles = True",  # Ansible's become to an unprivileged user
        "vault_password_file = secrets/vault.pw",
        "vault_identity_list = prod@secrets/prod.pw",
        "",
        "[ssh_connection]",
        "ssh_args = -C -o ControlMaster=auto -o ControlPersist=10s",
        f"ssh_common_args = -o UserKnownHostsFile={f['known_hosts']} "
        "-o StrictHostKeyChecking=yes",
        "",
        "[privilege_escalation]",
        "become = False",
        "become_method = sudo",
        f"become_user = {BECOME_TARGET}",
        ""]))

    # production: web2's lab_ip in hosts.ini is a decoy; its host_vars file (inline vault,
    # label prod, format 1.2) wins, as host_vars/ wins over the inventory file's host vars.
    # db1's port is read from a file by lookup('file') in its host_vars file.
    prod = root / "inventories" / "production"
    web1, web2 = shop.host("web1.prod"), shop.host("web2.prod")
    f["prod_hosts"] = _write(prod / "hosts.ini", "\n".join([
        "[web]",
        f"web1.prod lab_ip={web1.address} ansible_port={web1.port}",
        f"web2.prod lab_ip={shop.decoy_ip} ansible_port={web2.port}",
        "", "[db]", f"db1.prod lab_ip={db.address}",
        "", "[prod:children]", "web", "db", ""]))
    f["all_main"] = _write(prod / "group_vars" / "all" / "main.yml", "\n".join([
        "---",
        "ansible_host: \"{{ lab_ip }}\"",
        "ansible_become_password: \"{{ vault_become_pass }}\"",
        f"user_prefix: {lab.user_prefix.upper()}",
        ""]))
    f["web_vars"] = _write(prod / "group_vars" / "web.yml", "\n".join([
        "---",
        "ansible_user: \"{{ lookup('env', 'SHOP_LOGIN') | default(inventory_hostname_short"
        " | replace('web', user_prefix | lower), true) }}\"",
        "motd: \"{{ lookup('file', 'motd.txt') | trim }}\"",
        ""]))
    _write(root / "motd.txt", "welcome to the shop\n")
    _write(root / "ports" / "db1.port", f"{db.port}\n")
    f["db1_vars"] = _write(prod / "host_vars" / "db1.prod.yml", "\n".join([
        "---", "ansible_port: \"{{ lookup('file', 'ports/db1.port') | int }}\"", ""]))
    f["vault"] = _write(prod / "group_vars" / "all" / "vault.yml", "\n".join([
        "---", f"vault_become_pass: {shop.become_password}", ""]))
    _vault(env, home, "encrypt", str(f["vault"]), "--vault-password-file", str(f["vault_pw"]))
    inline = _vault(env, home, "encrypt_string", "--vault-id", f"prod@{f['prod_pw']}",
                    "--name", "lab_ip", web2.address)
    assert inline.lstrip().startswith("lab_ip: !vault |"), inline
    assert "$ANSIBLE_VAULT;1.2;AES256;prod" in inline, inline
    f["web2_vars"] = _write(prod / "host_vars" / "web2.prod.yml", "---\n" + inline)
    assert f["vault"].read_text().startswith("$ANSIBLE_VAULT;1.1;AES256\n")

    staging = root / "inventories" / "staging"
    st = shop.host("stage1.stage")
    f["stage_hosts"] = _write(staging / "hosts.ini", "\n".join([
        "[web]", f"stage1.stage ansible_host={st.address} ansible_port={st.port} "
        f"ansible_user={st.user}", ""]))
    return shop


def server_address(ssh_connection: str) -> str:
    """$SSH_CONNECTION is 'client_ip client_port server_ip server_port'."""
    return ssh_connection.split()[2]


def wait_record(path: str, timeout: float = 30) -> dict[str, Any]:
    """A job file's finished record (read as root, straight from the host's disk)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            data = {}
        if "rc" in data:
            return data
        assert time.monotonic() < deadline, f"{path} never finished: {data}"
        time.sleep(0.1)


def argv_holding_any(secrets: list[str], seconds: float) -> dict[str, list[str]]:
    """Watch every process's command line for ``seconds``: secret -> pids whose argv held it
    (tests.support.ctl.argv_holding, for several secrets at once)."""
    seen: dict[str, list[str]] = {}
    wanted = [(s, s.encode()) for s in secrets]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for pid in os.listdir("/proc"):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            for secret, raw in wanted:
                if raw in cmdline:
                    seen.setdefault(secret, []).append(pid)
        time.sleep(0.05)
    return seen
