"""Connection settings from the inventory's ssh args: ProxyJump through a real sshd jump host,
UserKnownHostsFile, StrictHostKeyChecking, ConnectTimeout / ansible_ssh_timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from controller.inventory import load_inventory
from controller.inventory.hostvars import spec_from_vars
from controller.transport import ConnectOptions, ExecResult, open_transport
from tests.support.ctl import Ctl, blocks
from tests.support.sshd_lab import SshdLab


def test_ssh_args_are_read_per_host() -> None:
    spec = spec_from_vars("h", {
        "ansible_ssh_common_args": "-o ProxyJump=jump@bastion:2222 -o ConnectTimeout=7",
        "ansible_ssh_extra_args": "-oUserKnownHostsFile=/tmp/kh -o StrictHostKeyChecking=no"},
        "inv", env={})
    assert spec.jump == "jump@bastion:2222" and spec.connect_timeout == 7
    assert spec.known_hosts_file == "/tmp/kh" and spec.host_key_checking is False
    short = spec_from_vars("h", {"ansible_ssh_common_args": "-J bastion",
                                 "ansible_ssh_timeout": 3}, "inv", env={})
    assert short.jump == "bastion" and short.connect_timeout == 3


def test_run_poll_cleanup_through_a_jump_host(ctl: Ctl, lab: SshdLab, tmp_path: Path) -> None:
    jump, target = lab.hosts[0], lab.hosts[1]
    via = f"{jump.user}@{jump.address}:{jump.port}"
    inv = lab.write_inventory(tmp_path / "jump.yml", [target], extra={target.name: {
        "ansible_ssh_common_args": f"-o ProxyJump={via}"}})
    run = ctl("run", "-i", str(inv), "-B", "30", "-P", "1", "--", "echo", "via jump",
              check_code=0)
    assert blocks(run.stdout)[target.name][1]["stdout"] == "via jump"
    detached = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "--", "echo", "later",
                   check_code=0)
    jid = blocks(detached.stdout)[target.name][1]["ansible_job_id"]
    polled = ctl("poll", jid, "--wait", "--delay", "0.5", check_code=0)  # jump from registry
    assert blocks(polled.stdout)[target.name][1]["stdout"] == "later"
    cleaned = ctl("cleanup", jid, check_code=0)
    assert blocks(cleaned.stdout)[target.name][1]["erased"].endswith(jid)
    # the jump really carries the connection: a jump that is down makes the host unreachable
    broken = lab.write_inventory(tmp_path / "broken.yml", [target], extra={target.name: {
        "ansible_ssh_common_args": f"-J {jump.user}@{jump.address}:1"}})
    down = ctl("run", "-i", str(broken), "-B", "30", "-P", "0", "-T", "3", "--", "true",
               check_code=4)
    assert blocks(down.stdout)[target.name][0] == "UNREACHABLE!"


def test_user_known_hosts_file_from_ssh_args(ctl: Ctl, lab: SshdLab, tmp_path: Path) -> None:
    (ctl.home / ".ssh" / "known_hosts").write_text("")  # the default file knows nothing
    inv = lab.write_inventory(tmp_path / "kh.yml", lab.hosts[:1], extra={"h1": {
        "ansible_ssh_extra_args": f"-o UserKnownHostsFile={lab.known_hosts}"}})
    run = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "--", "true", check_code=0)
    assert blocks(run.stdout)["h1"][0] == "CHANGED"


def test_extra_vars_win_over_the_inventory(ctl: Ctl, lab: SshdLab, tmp_path: Path) -> None:
    host = lab.hosts[2]
    wanted = "/tmp/ctl-extra-vars-jobs"
    run = ctl("run", "-i", str(ctl.inventory), "-l", host.name, "-B", "30", "-P", "0",
              "-e", f"ansible_async_dir={wanted}", "--", "true", check_code=0)
    assert blocks(run.stdout)[host.name][1]["results_file"].startswith(wanted + "/")
    varsfile = tmp_path / "vars.yml"
    varsfile.write_text("ansible_port: 1\n")
    refused = ctl("run", "-i", str(ctl.inventory), "-l", host.name, "-B", "30", "-P", "0",
                  "-T", "3", "-e", f"@{varsfile}", "--", "true", check_code=4)
    assert blocks(refused.stdout)[host.name][0] == "UNREACHABLE!"  # port 1 from -e @file
    bad = ctl("run", "-i", str(ctl.inventory), "-e", "novalue", "--", "true")
    assert bad.returncode == 5 and "-e 'novalue'" in bad.stderr
    lab.sh(host, f"rm -rf {wanted}")


def test_python_is_discovered_when_the_inventory_names_none(ctl: Ctl, lab: SshdLab,
                                                            tmp_path: Path) -> None:
    inv = lab.write_inventory(tmp_path / "nopy.yml", lab.hosts[:1])
    inv.write_text(inv.read_text().replace("ansible_python_interpreter: /usr/bin/python3\n", ""))
    assert "ansible_python_interpreter" not in inv.read_text()
    run = ctl("run", "-i", str(inv), "-B", "30", "-P", "1", "--", "echo", "found", check_code=0)
    assert blocks(run.stdout)["h1"][1]["stdout"] == "found"


def test_a_host_with_no_python_says_so() -> None:
    import subprocess

    from controller import payload
    cmd = payload.remote_command("auto")
    out = subprocess.run(["/bin/sh", "-c", cmd], input=b"", capture_output=True,
                         env={"PATH": "/nonexistent"})
    reply = payload.decode_reply(out.returncode, out.stdout, out.stderr, "auto")
    assert reply.result is None
    assert reply.problem.startswith("no Python on the host: none of python3, python, "
                                    "/usr/libexec/platform-python was found")


def test_accept_new_trusts_a_first_key_and_refuses_a_changed_one(ctl: Ctl, lab: SshdLab,
                                                                 tmp_path: Path) -> None:
    known = ctl.home / ".ssh" / "known_hosts"
    known.write_text("")
    h1 = lab.hosts[0]
    inv = lab.write_inventory(tmp_path / "tofu.yml", [h1], extra={"h1": {
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=accept-new"}})
    first = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "--", "true", check_code=0)
    assert "accept-new: added the host key" in first.stderr
    recorded = known.read_text().split()
    real = (h1.workdir / "host_key.pub").read_text().split() if not lab.external else recorded
    assert recorded[0] == f"[{h1.address}]:{h1.port}" and recorded[1:3] == real[:2]
    again = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "--", "true", check_code=0)
    assert "added the host key" not in again.stderr
    fake = tmp_path / "fake"
    import subprocess
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fake)], check=True)
    known.write_text(f"[{h1.address}]:{h1.port} " + " ".join(
        fake.with_suffix(".pub").read_text().split()[:2]) + "\n")
    changed = ctl("run", "-i", str(inv), "-B", "30", "-P", "0", "--", "true", check_code=4)
    assert "ssh-keygen -R" in blocks(changed.stdout)["h1"][1]["msg"]


def test_ssh_config_options_asyncssh_ignores_are_named_once(ctl: Ctl, lab: SshdLab) -> None:
    (ctl.home / ".ssh" / "config").write_text(
        "Host *\n  ControlMaster auto\n  ControlPersist 60s\n  # ProxyCommand in a comment\n")
    run = ctl("run", "-i", str(ctl.inventory), "-B", "30", "-P", "0", "--", "true",
              check_code=0)
    lines = [line for line in run.stderr.splitlines() if "does not apply" in line]
    assert len(lines) == 1 and "controlmaster, controlpersist" in lines[0]


def test_a_command_that_ends_before_reading_its_input_is_not_an_unreachable_host(
        lab: SshdLab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flaky-under-load cause, made certain: the client is slowed between the exec
    and the write of stdin, so sshd has closed the channel of a command that exited at
    once (a missing interpreter does) before its input is written. The exit status and
    stderr are the answer; before, asyncssh's BrokenPipeError made the host UNREACHABLE."""
    spec = load_inventory([str(lab.inventory)]).specs[lab.hosts[0].name]
    create_session = asyncssh.SSHClientConnection.create_session

    async def slow_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        opened = await create_session(self, *args, **kwargs)
        await asyncio.sleep(0.5)  # a loaded machine's event loop, late to write stdin
        return opened

    monkeypatch.setattr(asyncssh.SSHClientConnection, "create_session", slow_client)

    async def run() -> list[ExecResult]:
        async with open_transport(spec, ConnectOptions(host_key_checking=False)) as transport:
            return [await transport.run("echo gone >&2; exit 127", b"request\n" * 4096)
                    for _ in range(3)]

    for result in asyncio.run(run()):
        assert (result.exit_status, result.stderr) == (127, b"gone\n")
