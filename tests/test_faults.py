"""Faults: a bad host or a bad network costs that host alone, and nothing is lost."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import Ctl, blocks, jid_of
from tests.sshd_lab import SshdLab


@pytest.fixture
def crowded(tmp_path_factory: pytest.TempPathFactory):
    """One sshd that drops every unauthenticated connection beyond the second (MaxStartups
    2), as a busy server does under a burst."""
    lab = SshdLab(tmp_path_factory.mktemp("crowded"), count=1, subnet="127.0.50",
                  extra_config="MaxStartups 2").start()
    yield lab
    lab.stop()


def test_maxstartups_refusals_are_retried_with_backoff(crowded: SshdLab, ctl: Ctl,
                                                       tmp_path: Path) -> None:
    host = crowded.hosts[0]
    hv = host.inventory_vars(crowded.key)
    if not host.async_dir:
        hv["ansible_async_dir"] = "~/.ansible_async_crowded"
    aliases = {f"alias{i}": dict(hv, ansible_async_dir=f"{hv.get('ansible_async_dir')}/{i}")
               for i in range(8)}
    inv = tmp_path / "crowded.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": aliases}}))
    (ctl.home / ".ssh" / "known_hosts").write_text(crowded.known_hosts.read_text())
    run = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "-v", "--", "true")
    out = blocks(run.stdout)
    assert sorted(out) == sorted(aliases)
    assert all(label == "CHANGED" for label, _ in out.values()), run.stdout
    assert "retry" in run.stderr  # the burst was refused at first, and retried


def test_a_silent_host_costs_its_timeout_once_not_per_host(ctl: Ctl, lab: SshdLab,
                                                           tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.60.1", 0))
    silent.listen(50)  # accepts TCP, never speaks SSH
    try:
        inv = lab.write_inventory(tmp_path / "silent.yml")
        text = inv.read_text()
        for i in range(3):
            text += (f"    silent{i}:\n      ansible_host: 127.0.60.1\n"
                     f"      ansible_port: {silent.getsockname()[1]}\n")
        inv.write_text(text)
        start = time.monotonic()
        run = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "-T", "3", "--", "true",
                  check_code=4)
        wall = time.monotonic() - start
    finally:
        silent.close()
    out = blocks(run.stdout)
    assert all(out[h.name][0] == "CHANGED" for h in lab.hosts)
    assert all(out[f"silent{i}"][0] == "UNREACHABLE!" for i in range(3))
    assert all("timed out" in out[f"silent{i}"][1]["msg"] for i in range(3))
    assert wall < 3 * 3  # the three silent hosts waited in parallel, not one after another


def test_sshd_down_between_launch_and_poll_then_back(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[4]
    run = ctl("run", "-i", str(ctl.inventory), "-l", host.name, "-B", "60", "-P", "0", "--",
              "sh", "-c", "sleep 3; echo still here", check_code=0)
    jid = jid_of(run.stdout)
    lab.stop_host(host)
    try:
        down = ctl("poll", jid, "-T", "3", check_code=4)
        assert blocks(down.stdout)[host.name][0] == "UNREACHABLE!"
    finally:
        lab.start_host(host)
    back = ctl("poll", jid, "--wait", "--delay", "1", "--retries", "15", check_code=0)
    label, data = blocks(back.stdout)[host.name]
    assert label == "CHANGED" and data["stdout"] == "still here"  # the job kept running
