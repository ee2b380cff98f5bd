"""The speed paths give the same answers as the slow ones, through real sshd hosts:
shell-only status reads and cleanups (controller/fastpath.py) against the wrapper's own
answer for the same request on the same host, the shell launcher."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from controller import fastpath, payload
from controller.hosts import HostSpec
from controller.inventory import load_inventory
from controller.transport import ConnectOptions, open_transport
from remote_payload import ctl_async_wrapper as wrapper
from tests.e2e.test_job_control import start, wait_for
from tests.support.ctl import Ctl, blocks, jid_of
from tests.support.sshd_lab import SshdLab


def spec_of(lab: SshdLab, name: str) -> HostSpec:
    return load_inventory([str(lab.inventory)]).specs[name]


def both(spec: HostSpec, request: dict[str, Any]) -> tuple[Any, Any]:
    """(the shell's answer or None, the wrapper's answer) for one request on one host."""
    async def ask() -> tuple[Any, Any]:
        async with open_transport(spec, ConnectOptions(host_key_checking=False)) as t:
            fast = await fastpath.call(t, spec, request)
            out = await t.run(payload.remote_command(spec.python),
                              payload.encode_request(request, with_wrapper=True))
        slow = payload.decode_reply(out.exit_status, out.stdout, out.stderr, spec.python)
        return fast, slow.result
    return asyncio.run(ask())


def status(jid: str, spec: HostSpec, tail: int = 0) -> dict[str, Any]:
    return {"op": "status", "jid": jid, "async_dir": spec.async_dir, "tail_lines": tail}


def record_of(lab: SshdLab, host: Any, jid: str) -> dict[str, Any]:
    return json.loads(lab.sh(host, f"cat {host.real_async_dir}/{jid}").stdout)


def test_shell_status_reads_equal_the_wrapper_answers(ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[3]
    spec = spec_of(lab, host.name)
    jid = start(ctl, host.name, "echo out; echo err >&2; sleep 60", shell=True)
    assert wait_for(lambda: "job_pid" in record_of(lab, host, jid).get("ctl", {}))
    for tail in (0, 3):  # running, without and with the output's last lines
        fast, slow = both(spec, status(jid, spec, tail))
        assert fast is not None and fast == slow and fast["finished"] == 0
    assert fast["stdout_tail"] == ["out"] and fast["stderr_tail"] == ["err"]
    cleanup = {"op": "cleanup", "jid": jid, "async_dir": spec.async_dir}
    fast, slow = both(spec, cleanup)  # may be running: the shell leaves it to the wrapper
    assert fast is None and slow["running"] is True
    pid = record_of(lab, host, jid)["ctl"]["wrapper_pid"]
    lab.sh(host, f"kill -9 {pid}")
    assert wait_for(lambda: lab.sh(host, f"test -d /proc/{pid}").returncode != 0)
    fast, slow = both(spec, status(jid, spec))  # lost: the wrapper looks at the filesystem
    assert fast is None and slow["lost"] is True
    assert f"its wrapper (pid {pid}) is gone" in slow["msg"]


def test_shell_cleanup_and_reads_of_finished_missing_and_broken_records(
        ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[3]
    spec = spec_of(lab, host.name)
    jid = start(ctl, host.name, "echo", "done")
    ctl("poll", jid, "--wait", "--delay", "0.2", check_code=0)
    fast, slow = both(spec, status(jid, spec, tail=5))
    assert fast is not None and fast == slow and fast["stdout_lines"] == ["done"]
    cleanup = {"op": "cleanup", "jid": jid, "async_dir": spec.async_dir}
    fast = both(spec, cleanup)[0]
    assert fast == wrapper.cleanup_result(jid, f"{host.real_async_dir}/{jid}", erased=True)
    assert lab.sh(host, f"ls {host.real_async_dir}/{jid}*").returncode != 0  # all erased
    fast, slow = both(spec, cleanup)
    assert fast == slow and fast["missing"] is True
    fast, slow = both(spec, status(jid, spec))
    assert fast == slow and fast["msg"] == "could not find job"
    lab.sh(host, f"printf 'not json' > {host.real_async_dir}/{jid}")
    fast, slow = both(spec, status(jid, spec))
    assert fast == slow and fast["unreadable"] is True


def test_shell_launcher_starts_supervises_and_can_be_killed_at_once(
        ctl: Ctl, lab: SshdLab) -> None:
    host = lab.hosts[2]
    start(ctl, host.name, "true")  # the wrapper is on the host after this one
    run = ctl("run", "-i", str(ctl.inventory), "-l", host.name, "-B", "60", "-P", "0", "-vv",
              "--", "sleep", "50", check_code=0)
    assert "did not settle" not in run.stderr  # the shell launcher answered
    jid = jid_of(run.stdout)
    # at once: the supervisor may not have started the job yet
    killed = ctl("kill", jid, "--grace", "1", check_code=0)
    label, data = blocks(killed.stdout)[host.name]
    assert label == "CHANGED" and data["killed"] is True
    record = record_of(lab, host, jid)
    assert record["killed"] is True and "started" not in record
    assert lab.sh(host, "pgrep -u $(id -u) -f '^sleep 50$'").returncode == 1


def test_missing_command_is_reported_by_poll_after_a_shell_launch(ctl: Ctl, lab: SshdLab
                                                                 ) -> None:
    host = lab.hosts[2]
    start(ctl, host.name, "true")
    jid = start(ctl, host.name, "/no/such/command")
    poll = ctl("poll", jid, "--wait", "--delay", "0.2", check_code=2)
    label, data = blocks(poll.stdout)[host.name]
    assert label == "FAILED!" and data["rc"] == 2  # the errno, as Ansible's command module
    assert data["msg"].startswith("Error executing command. ")
    assert "No such file or directory" in data["msg"]


def test_wrapper_json_without_the_json_package_matches_json() -> None:
    values = [{"b": [1, 2.5, None, True, False, "é\n\u2028\ud800"], "a": {"x": -0.0}},
              [], "", 10**30, {"nested": [[{}]]}]
    for value in values:
        for sort in (False, True):
            assert wrapper.dumps(value, sort_keys=sort) == json.dumps(value, sort_keys=sort)
        assert wrapper.loads(wrapper.dumps(value)) == json.loads(json.dumps(value))
    for bad in ("", "{", '{"a": 1} x', "nope"):
        try:
            wrapper.loads(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
