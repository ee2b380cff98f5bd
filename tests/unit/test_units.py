"""Pure units: jids, result classification, exit codes, the wire format."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from controller import payload
from controller.errors import JidError, OptionError
from controller.hostlist import fold
from controller.jid import check_jid, new_jid
from controller.results import HostResult, Status, exit_code
from controller.units import parse_extra_vars


def test_new_jids_have_ansibles_form_and_differ() -> None:
    jids = {new_jid() for _ in range(200)}
    assert len(jids) > 190
    for jid in jids:
        assert re.fullmatch(rf"j\d{{1,12}}\.{os.getpid()}", jid)
        assert check_jid(jid) == jid


@pytest.mark.parametrize("bad", ["", "j", "j1", "j1.", ".1", "j1.2/", "../j1.2", "j1.2\n",
                                 "j1.2\x00", "j1234567890123.1", "J1.2", "j-1.2", "j1 .2"])
def test_check_jid_refuses(bad: str) -> None:
    with pytest.raises(JidError):
        check_jid(bad)


def test_old_ansible_jids_without_j_are_accepted() -> None:
    assert check_jid("123456.789") == "123456.789"


@pytest.mark.parametrize("data, status_read, expected", [
    ({"changed": True, "started": 1, "finished": 0}, False, Status.CHANGED),
    ({"started": 1, "finished": 0}, True, Status.RUNNING),
    ({"started": True, "finished": False}, True, Status.RUNNING),
    ({"started": "1", "finished": "0"}, True, Status.RUNNING),
    ({"finished": 1, "rc": 0, "changed": True}, True, Status.CHANGED),
    ({"finished": True, "failed": True}, True, Status.FAILED),
    ({"unreachable": True}, False, Status.UNREACHABLE),
    ({"erased": "/x", "changed": False}, False, Status.OK),
])
def test_classification(data, status_read, expected) -> None:
    assert HostResult.from_data("h", data, status_read).status is expected


def test_exit_codes_follow_the_ansible_cli() -> None:
    ok = HostResult("a", Status.CHANGED)
    running = HostResult("b", Status.RUNNING)
    failed = HostResult.failed("c", "boom")
    dead = HostResult.unreachable("d", "down")
    assert exit_code([ok, running]) == 0
    assert exit_code([ok, failed]) == 2
    assert exit_code([ok, failed, dead]) == 4


def test_remote_command_quotes_the_interpreter() -> None:
    cmd = payload.remote_command("'/opt/my python/bin/python3' -E")
    assert cmd.startswith("'/opt/my python/bin/python3' -E -S -c ")
    hostile = payload.remote_command("python3; touch /tmp/x $(id)")
    assert hostile.startswith("'python3;' touch /tmp/x '$(id)' -S -c ")


def test_bootstrap_refuses_a_wrapper_whose_hash_does_not_match(tmp_path) -> None:
    """The bootstrap, run for real: a stored copy with the wrong content is never executed,
    and the copy it was sent replaces it only when that copy's hash matches."""
    request = {"op": "status", "jid": "j1.1", "async_dir": str(tmp_path)}
    stored = tmp_path / ".ctl" / f"wrapper-{payload.wrapper_sha256()}.py"
    stored.parent.mkdir()
    stored.write_text(f"import os; os.system('touch {tmp_path}/pwned')\n")
    cmd = payload.remote_command("python3")

    def call(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["/bin/sh", "-c", cmd], input=stdin, capture_output=True)

    line = b"CTL-REQUEST " + json.dumps(dict(request, wrapper_sha256=payload.wrapper_sha256())
                                        ).encode()
    need = call(line + b"\n")
    assert need.returncode == payload.NEED_WRAPPER_RC
    forged = call(line + b"\nprint('forged')\n")
    assert forged.returncode == payload.NEED_WRAPPER_RC
    assert not (tmp_path / "pwned").exists()
    good = call(payload.encode_request(request, with_wrapper=True))
    reply = payload.decode_reply(good.returncode, good.stdout, good.stderr, "python3")
    assert reply.result is not None and reply.result["msg"] == "could not find job"
    assert stored.read_bytes() == payload.wrapper_source()
    assert oct(stored.stat().st_mode & 0o777) == "0o600"


def run_bootstrap(tmp_path, with_wrapper: bool = True) -> payload.Reply:
    request = {"op": "status", "jid": "j1.1", "async_dir": str(tmp_path)}
    done = subprocess.run(["/bin/sh", "-c", payload.remote_command("python3")],
                          input=payload.encode_request(request, with_wrapper=with_wrapper),
                          capture_output=True)
    return payload.decode_reply(done.returncode, done.stdout, done.stderr, "python3")


def forged_code_cache(store) -> None:
    """A code cache of the current wrapper whose code is not the wrapper's."""
    import marshal
    import sys

    forged = compile(f"import os; os.system('touch {store}/../pwned')", "x", "exec")
    name = f"wrapper-{payload.wrapper_sha256()}.{sys.implementation.cache_tag}.code"
    (store / name).write_bytes(marshal.dumps(forged))
    (store / f"wrapper-{payload.wrapper_sha256()}.py").write_bytes(payload.wrapper_source())


@pytest.mark.parametrize("unsafe", ["another user's", "group-writable", "a link"])
def test_the_bootstrap_runs_no_code_from_a_directory_others_may_write(tmp_path,
                                                                        unsafe) -> None:
    """The code cache is run without a hash check, so the directory holding it must be the
    user's own, writable by it alone, and no link: a shared async dir where someone else
    made .ctl first (or a link to theirs) must not run their code as this user."""
    store = tmp_path / (".ctl" if unsafe != "a link" else "theirs")
    store.mkdir(mode=0o700)
    forged_code_cache(store)
    if unsafe == "another user's":
        os.chown(store, 65534, 65534)
    elif unsafe == "group-writable":
        store.chmod(0o770)
    else:
        (tmp_path / ".ctl").symlink_to(store)
    reply = run_bootstrap(tmp_path)
    assert reply.result is not None and reply.result["failed"] is True, reply.problem
    assert "ctl runs no code from it" in reply.result["msg"]
    assert not (tmp_path / "pwned").exists()


def test_the_users_own_code_cache_is_used(tmp_path) -> None:
    """The other side: in the user's own 0700 directory the cache is what runs (which is
    why the directory check above matters)."""
    store = tmp_path / ".ctl"
    store.mkdir(mode=0o700)
    forged_code_cache(store)
    run_bootstrap(tmp_path)
    assert (tmp_path / "pwned").exists()


def test_concurrent_pushes_of_the_wrapper_all_succeed(tmp_path) -> None:
    """Several ctl runs meeting a fresh host at once each push the wrapper: a push removes
    older versions, never another push's temp file of this version (it did, and the
    other push failed with FileNotFoundError), and an older version's files do go."""
    store = tmp_path / ".ctl"
    store.mkdir()
    (store / "wrapper-0ld.py").write_text("old")
    (store / "wrapper-0ld.cpython-311.code").write_text("old")
    in_flight = store / f"wrapper-{payload.wrapper_sha256()}.py.99999.tmp"  # another push's
    in_flight.write_text("half")
    request = payload.encode_request({"op": "status", "jid": "j1.1", "async_dir": str(tmp_path)},
                                     with_wrapper=True)
    cmd = payload.remote_command("python3")
    procs = [subprocess.Popen(["/bin/sh", "-c", cmd], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(12)]
    for proc in procs:
        proc.stdin.write(request)  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    for proc in procs:
        out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
        proc.wait()
        reply = payload.decode_reply(proc.returncode, out, err, "python3")
        assert reply.result is not None and reply.result["msg"] == "could not find job", \
            reply.problem
    names = {p.name for p in store.iterdir()} - {in_flight.name}
    assert f"wrapper-{payload.wrapper_sha256()}.py" in names
    assert not any("0ld" in n or n.endswith(".tmp") for n in names), names
    assert in_flight.read_text() == "half"  # left to the push that is writing it


@pytest.mark.parametrize("names, folded", [
    (["web01", "web02", "web03", "web07", "db2"], "db2, web[01-03,07]"),
    (["h1", "h2", "h3", "h10"], "h[1-3,10]"),
    (["solo"], "solo"),
    (["x9y", "x10y", "a"], "a, x[9-10]y"),
    (["n1", "n1", "n2"], "n[1-2]"),
    (["h0", "h1", "h2"], "h[0-2]"),  # a lone 0 is not zero-padding
    (["web099", "web100", "web101", "web7"], "web7, web[099-101]"),
])
def test_host_lists_fold_like_clush(names, folded) -> None:
    assert fold(names) == folded


def test_extra_vars_words_keep_templates_and_lose_quotes() -> None:
    from controller.units import split_words

    assert split_words("user={{ a | default('b c') }} x=\"1 2\" y=3") == [
        "user={{ a | default('b c') }}", "x=1 2", "y=3"]
    assert parse_extra_vars(["who={{ x }} n=1"]) == {"who": "{{ x }}", "n": "1"}
    with pytest.raises(OptionError, match="unbalanced"):
        split_words("a='open")
