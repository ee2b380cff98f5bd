"""The wrapper's job-file writes under contention and on a full disk, run here: a job file
is claimed by one launch only, a record that has no room for a new file is written over the
old one's blocks, and a lost job on a full filesystem says so. (The same on a real small
tmpfs through sshd: tests/e2e/test_chaos.py.)"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from controller import fastpath
from remote_payload import ctl_async_wrapper as wrapper

JID = "j123456789.42"


def paths(tmp_path: Path) -> dict[str, str]:
    return wrapper.job_paths(str(tmp_path), JID)


def running(pid: int) -> dict[str, Any]:
    return {"ctl": {"wrapper_pid": pid, "version": 1}, "started": 1, "finished": 0,
            "ansible_job_id": JID}


def test_a_job_file_is_claimed_once_and_no_temp_file_is_left(tmp_path: Path) -> None:
    p = paths(tmp_path)
    assert wrapper.claim_record(p, running(1)) is True
    assert wrapper.claim_record(p, running(2)) is False
    assert json.loads(Path(p["job"]).read_text())["ctl"]["wrapper_pid"] == 1
    assert Path(p["job"]).read_text().startswith(wrapper.RUNNING_PREFIX)
    assert sorted(os.listdir(tmp_path)) == [JID]


def test_eight_processes_racing_for_one_job_file_claim_it_once(tmp_path: Path) -> None:
    p = paths(tmp_path)
    read_fd, write_fd = os.pipe()
    children = []
    for _ in range(8):
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child)
            os.close(read_fd)
            won = wrapper.claim_record(p, running(os.getpid()))
            os.write(write_fd, b"1" if won else b"0")
            os._exit(0)
        children.append(pid)
    os.close(write_fd)
    for pid in children:
        os.waitpid(pid, 0)
    answers = os.read(read_fd, 64)
    os.close(read_fd)
    assert sorted(answers) == sorted(b"10000000")
    winner = json.loads(Path(p["job"]).read_text())["ctl"]["wrapper_pid"]
    assert winner in children
    assert os.listdir(tmp_path) == [JID]


def test_a_record_with_no_room_for_a_new_file_is_written_over_the_old_ones_blocks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = paths(tmp_path)
    wrapper.claim_record(p, running(7))

    def full(path: str, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(wrapper, "write_file", full)
    final = {"ansible_job_id": JID, "failed": True, "rc": 1, "msg": "x" * 2000}
    wrapper.save_record(p, final)  # longer than the old record, within its 4 KiB block
    assert wrapper.read_record(p) == (final, None)
    with pytest.raises(OSError) as too_big:
        wrapper.save_record(p, dict(final, msg="x" * 100_000))
    assert too_big.value.errno == errno.ENOSPC
    assert wrapper.read_record(p) == (final, None)  # untouched by the refused write
    monkeypatch.setattr(wrapper, "write_file", lambda path, data: (_ for _ in ()).throw(
        OSError(errno.EACCES, "Permission denied")))
    with pytest.raises(OSError):  # only a full disk or quota takes the fallback
        wrapper.save_record(p, {"ansible_job_id": JID})
    assert wrapper.read_record(p) == (final, None)


class Gone(wrapper.HostFacts):
    """A host where the record's wrapper is gone and the filesystem is full."""

    def __init__(self, room: str | None) -> None:
        self.room = room

    def boot_id(self) -> str | None:
        return None

    def alive(self, pid: int) -> bool:
        return False

    def start(self, pid: int) -> int | None:
        return None

    def no_room(self, path: str) -> str | None:
        return self.room


def test_a_lost_job_on_a_full_filesystem_says_so_and_a_plain_lost_job_does_not() -> None:
    full = wrapper.status_result(JID, "/d/" + JID, running(9), None,
                                 Gone("No space left on device"))
    assert full["lost"] is True and full["finished"] == 1
    assert full["msg"] == ("job lost: its wrapper (pid 9) is gone, but its record still says "
                           "running; the async dir's filesystem says: No space left on device "
                           "(the job's record could not be written there)")
    plain = wrapper.status_result(JID, "/d/" + JID, running(9), None, Gone(None))
    assert plain["msg"] == \
        "job lost: its wrapper (pid 9) is gone, but its record still says running"


def test_the_shell_status_read_leaves_a_lost_job_to_the_wrapper() -> None:
    """The shell sends no filesystem facts: a lost record is decided by the wrapper, which
    can look (os.statvfs) at the async dir."""
    found = {"dir": b"/d", "pid": b"9", "boot": b"", "stat": b"",
             "record": json.dumps(running(9)).encode()}
    with pytest.raises(fastpath.Undecided):
        fastpath.answer({"op": "status", "jid": JID}, found)


def test_no_room_reads_the_filesystem(tmp_path: Path) -> None:
    assert wrapper.no_room("/proc") is None  # no blocks at all is not a full disk
    assert wrapper.no_room("/no/such/dir") is None
    assert wrapper.no_room(str(tmp_path)) is None


def test_a_supervisor_that_cannot_write_the_final_record_writes_a_short_failed_one(
        tmp_path: Path) -> None:
    """In a child process (the supervisor signals its own descendants): the job ends, the
    whole record finds no room, the short one says why in the system's words."""
    p = paths(tmp_path)
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 1
        try:
            wrapper.claim_record(p, running(os.getpid()))
            out, err = wrapper.open_output(p["stdout"]), wrapper.open_output(p["stderr"])
            big = "head -c 20000 /dev/zero | tr '\\0' x; echo; echo partial; exit 3"
            proc = wrapper.Job(["sh", "-c", big], out, err)
            os.close(out)
            os.close(err)
            proc.wait()
            base = {"ansible_job_id": JID, "cmd": ["sh"], "start": str(wrapper.now())}
            supervisor = wrapper.Supervisor(proc, {"timeout": 10}, p, base, wrapper.now())

            def full(path: str, data: bytes) -> None:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            wrapper.write_file = full  # type: ignore[assignment]
            supervisor.write(supervisor.ended())
            code = 0
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
    record, problem = wrapper.read_record(p)
    assert problem is None and record is not None and "started" not in record
    assert record["failed"] is True and record["rc"] == 3
    assert record["msg"].startswith(f"could not write the job's record {p['job']}: [Errno 28] "
                                    "No space left on device (its output so far is in")
    assert Path(p["stdout"]).read_text().endswith("x\npartial\n")  # the output is kept


def test_a_launcher_gone_before_it_heard_the_answer_does_not_kill_the_supervisor() -> None:
    """The controller killed mid-launch takes the launching process with it: telling it
    "started" then meets a broken pipe, which must not end the job's supervisor."""
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    wrapper.notify(write_fd, {"started": 1})  # no BrokenPipeError
    with pytest.raises(OSError):
        os.close(write_fd)  # notify closed it, as before
