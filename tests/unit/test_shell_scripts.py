"""The host-side shell (remote_payload/sh/*.sh): shellcheck-clean as files and as sent, and
giving the wrapper's own answers. Run here through the local transport, which execs the
same ``/bin/sh -c COMMAND`` a host's sshd does; tests/test_fast_paths.py asks real sshd hosts.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from controller import fastpath, payload, protocol
from controller.hosts import HostSpec
from controller.transport.local import LocalTransport
from remote_payload import ctl_async_wrapper as wrapper

SH = Path(wrapper.__file__).parent / "sh"
JID = "j123456.1"
SPEC = HostSpec(name="here")  # ssh's defaults (python auto, no become); run locally below


def shell_only(request: dict[str, Any], spec: HostSpec = SPEC) -> Any:
    """The shell's answer, or None where it leaves the request to the wrapper."""
    return asyncio.run(fastpath.call(LocalTransport(spec), spec, request))


def wrapper_only(request: dict[str, Any], spec: HostSpec = SPEC) -> Any:
    command = payload.remote_command(spec.python)
    out = asyncio.run(LocalTransport(spec).run(
        command, payload.encode_request(request, with_wrapper=True)))
    return payload.decode_reply(out.exit_status, out.stdout, out.stderr, spec.python).result


def ask(request: dict[str, Any]) -> tuple[Any, Any]:
    """(the shell's answer or None, the wrapper's answer) for one request, in that order."""
    return shell_only(request), wrapper_only(request)


def write_running(async_dir: Path, pid: int) -> None:
    """A running record as the wrapper writes it, naming ``pid`` as its wrapper."""
    info = {"wrapper_pid": pid, "wrapper_start": wrapper.proc_start(pid),
            "boot_id": wrapper.boot_id(), "version": wrapper.VERSION, "job_pid": pid}
    record = {"ctl": info, "started": 1, "finished": 0, "ansible_job_id": JID}
    wrapper.write_record(wrapper.job_paths(str(async_dir), JID), record, sort_keys=False)


def until(predicate: Callable[[], Any], within: float = 15) -> Any:
    deadline = time.monotonic() + within
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def test_every_script_passes_shellcheck_as_a_file_and_as_sent(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (scripts/setup.sh installs it)"
    files = sorted(SH.glob("*.sh"))
    assert {f.name for f in files} == {"head.sh", *(f"{op}.sh" for op in fastpath.OPS)}
    for op in fastpath.OPS:
        (tmp_path / f"sent-{op}.sh").write_text(fastpath.script(op))
    out = subprocess.run([shellcheck, "-s", "sh", *files, *sorted(tmp_path.glob("*.sh"))],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_script_never_holds_a_request_value(tmp_path: Path) -> None:
    request = protocol.status(str(tmp_path / "it's $(odd)"), JID, 3)
    command = fastpath.command(SPEC, request, "t0ken")
    assert f"/bin/sh -c {shlex.quote(fastpath.script('status'))} ctl t0ken " in command
    assert shell_only(request)["results_file"] == f"{tmp_path}/it's $(odd)/{JID}"


def test_status_reads_give_the_wrappers_answers(tmp_path: Path) -> None:
    async_dir = str(tmp_path)
    paths = wrapper.job_paths(async_dir, JID)
    fast, slow = ask(protocol.status(async_dir, JID))
    assert fast == slow and protocol.not_found(fast)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        write_running(tmp_path, sleeper.pid)
        Path(paths["stdout"]).write_text("one\ntwo\nthree\n")
        Path(paths["stderr"]).write_text("err\n")
        for tail in (0, 2):
            fast, slow = ask(protocol.status(async_dir, JID, tail))
            assert fast is not None and fast == slow and fast["finished"] == 0
        assert fast["stdout_tail"] == ["two", "three"] and fast["stderr_tail"] == ["err"]
    finally:
        sleeper.kill()
        sleeper.wait()
    fast, slow = ask(protocol.status(async_dir, JID))  # lost: the wrapper looks at the disk
    assert fast is None and slow["lost"] is True and "filesystem" not in slow["msg"]
    wrapper.write_record(paths, {"ansible_job_id": JID, "rc": 0, "stdout": "done"})
    fast, slow = ask(protocol.status(async_dir, JID))
    assert fast == slow and fast["stdout_lines"] == ["done"]
    Path(paths["job"]).write_text("not json")
    fast, slow = ask(protocol.status(async_dir, JID))
    assert fast == slow and fast["unreadable"] is True


def test_cleanup_erases_a_finished_job_and_leaves_a_running_one_to_the_wrapper(
        tmp_path: Path) -> None:
    async_dir = str(tmp_path)
    paths = wrapper.job_paths(async_dir, JID)
    write_running(tmp_path, os.getpid())
    fast, slow = ask(protocol.cleanup(async_dir, JID))
    assert fast is None and slow["running"] is True
    wrapper.write_record(paths, {"ansible_job_id": JID, "rc": 0})
    Path(paths["stdout"]).write_text("out")
    assert shell_only(protocol.cleanup(async_dir, JID)) == \
        wrapper.cleanup_result(JID, paths["job"], erased=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ctl"]  # the pushed wrapper only
    fast, slow = ask(protocol.cleanup(async_dir, JID))
    assert fast == slow and fast["missing"] is True


def test_the_async_dir_in_the_home_resolves_to_home(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # as sshd (and sudo -H) set it
    for async_dir, job_file in (("~", f"{tmp_path}/{JID}"), ("~/", f"{tmp_path}/{JID}"),
                                ("~/a b/", f"{tmp_path}/a b/{JID}")):
        assert shell_only(protocol.status(async_dir, JID))["results_file"] == job_file
    assert not fastpath.applies(SPEC, protocol.status("~other/x", JID))
    assert not fastpath.applies(SPEC, protocol.status("relative", JID))


def launch(async_dir: str, cmd: list[str]) -> dict[str, Any]:
    return protocol.launch(async_dir, JID, cmd, False, 60, 4096, None)


def store_wrapper(async_dir: Path) -> None:
    (async_dir / ".ctl").mkdir(parents=True)
    (async_dir / ".ctl" / f"wrapper-{payload.wrapper_sha256()}.py").write_bytes(
        payload.wrapper_source())


def test_the_launcher_answers_started_and_its_supervisor_runs_the_job(tmp_path: Path) -> None:
    async_dir = str(tmp_path)
    assert shell_only(launch(async_dir, ["echo", "hi"])) is None  # no wrapper here yet
    store_wrapper(tmp_path)
    started = shell_only(launch(async_dir, ["echo", "hi"]))
    assert started == wrapper.started_result(JID, f"{async_dir}/{JID}")
    paths = wrapper.job_paths(async_dir, JID)
    done = until(lambda: (r := wrapper.op_status({"jid": JID}, paths))["finished"] and r)
    assert done and done["rc"] == 0 and done["stdout"] == "hi"
    assert shell_only(launch(async_dir, ["echo", "again"])) is None  # the job file is there


def test_the_launchers_running_record_is_the_wrappers(tmp_path: Path) -> None:
    """With an 'interpreter' that exits at once, the shell's record stays as it wrote it."""
    store_wrapper(tmp_path)
    spec = HostSpec(name="here", python="/bin/true")
    assert shell_only(launch(str(tmp_path), ["true"]), spec) is not None
    text = (tmp_path / JID).read_text()
    record = json.loads(text)
    assert text.startswith(wrapper.RUNNING_PREFIX) and text == wrapper.dumps(record)
    assert record == {"ctl": {"wrapper_pid": record["ctl"]["wrapper_pid"],
                              "wrapper_start": record["ctl"]["wrapper_start"],
                              "boot_id": wrapper.boot_id(), "version": wrapper.VERSION},
                      "started": 1, "finished": 0, "ansible_job_id": JID}
    assert isinstance(record["ctl"]["wrapper_start"], int)
    fast, slow = ask(protocol.status(str(tmp_path), JID))
    assert fast is None and slow["lost"] is True  # its "supervisor" is gone


def test_a_launch_whose_session_dies_after_the_record_still_starts_the_job(
        tmp_path: Path) -> None:
    """The session's shell killed (the controller or sshd gone) between the running record
    and the launcher's "started": the job must still start (its record says it runs).
    A slow ``rm`` holds the launcher in that moment; before, "started" met the dead
    reader's pipe and SIGPIPE ended the launcher: a record saying running, no job."""
    store_wrapper(tmp_path)
    slow = tmp_path / "bin"
    slow.mkdir()
    (slow / "rm").write_text('#!/bin/sh\nsleep 0.5\nexec /bin/rm "$@"\n')
    (slow / "rm").chmod(0o755)
    request = launch(str(tmp_path), ["sh", "-c", "echo ran"])
    session = subprocess.Popen(
        ["/bin/sh", "-c", fastpath.command(SPEC, request, "t0ken")], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, env=dict(os.environ, PATH=f"{slow}:{os.environ['PATH']}"))
    session.stdin.write(payload.encode_request(protocol.supervise(request), False))  # type: ignore[union-attr]
    session.stdin.close()  # type: ignore[union-attr]
    assert until(lambda: (tmp_path / JID).exists())
    for pid in [*wrapper.descendants(session.pid), session.pid]:  # as sshd's end kills them
        os.kill(pid, signal.SIGKILL)
    session.wait()
    paths = wrapper.job_paths(str(tmp_path), JID)
    done = until(lambda: (r := wrapper.op_status({"jid": JID}, paths))["finished"] and r)
    assert done and done.get("lost") is None and done["stdout"] == "ran", done
