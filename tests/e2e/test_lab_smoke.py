"""The lab itself: every host answers SSH with its own identity."""

from __future__ import annotations

import subprocess

from tests.support.sshd_lab import SshdLab


def test_each_host_is_reachable_with_ssh(lab: SshdLab, tmp_path) -> None:
    env = lab.controller_env(tmp_path / "home")
    for host in lab.hosts:
        out = subprocess.run(
            ["ssh", "-i", str(lab.key), "-p", str(host.port), "-o", "BatchMode=yes",
             "-o", f"UserKnownHostsFile={lab.known_hosts}",
             f"{host.user}@{host.address}", "id -un; echo $HOME"],
            env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [host.user, host.home]
