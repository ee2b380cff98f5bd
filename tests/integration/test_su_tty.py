"""become_method su on a real pseudo-terminal of this machine, with the real wrapper: fake
hosts whose ``su`` is a script that asks for the password on the terminal, then runs the
command as this same user. The whole wire (the request line, the pushed wrapper, the shell
fast paths' framed sections, the CTL-RESULT line) goes through a terminal made raw."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import AsyncContextManager, Iterator

import pytest

from controller import payload
from controller.api import Job, Targets
from controller.hosts import HostSpec
from controller.results import Status
from controller.transport.base import ConnectOptions, Tty
from controller.transport.fake import FakeHosts
from controller.transport.local import local_tty
from tests.support.fast import fake_controller, fake_specs, job_files, reap_jobs

SECRET = "tty 'pw' \\ $HOME"
FAKE_SU = """\
[ "$2" = -c ] || exit 2
printf 'Password: '
IFS= read -r pw || exit 1
printf '\\r\\n'
[ "$pw" = "$(cat "$0.pw")" ] || { sleep 0.1; echo 'su: Authentication failure'; exit 1; }
exec /bin/sh -c "$3"
"""


@pytest.fixture(autouse=True)
def reaper(tmp_path: Path) -> Iterator[None]:
    yield
    reap_jobs(tmp_path)


def su_hosts(tmp_path: Path) -> FakeHosts:
    """Fake hosts that run every command here, on a terminal through the fake su."""
    fake = tmp_path / "su"
    fake.write_text(FAKE_SU)
    Path(f"{fake}.pw").write_text(SECRET)

    def tty(spec: HostSpec, command: str) -> AsyncContextManager[Tty]:
        assert command.startswith("su ")
        return local_tty(f"/bin/sh {fake} {command[3:]}")

    def no_plain_exec(spec: HostSpec, command: str, stdin: bytes) -> None:
        raise AssertionError(f"under su every call is on a terminal: {command}")

    return FakeHosts(no_plain_exec, tty=tty)  # type: ignore[arg-type]


def becoming(specs: list[HostSpec], password: str | None) -> list[HostSpec]:
    return [replace(s, become=True, become_method="su", become_user="app",
                    become_password=password, connect_timeout=5) for s in specs]


async def test_a_job_runs_through_su_and_the_wrapper_is_pushed_byte_for_byte(
        tmp_path: Path) -> None:
    hosts = su_hosts(tmp_path)
    ctl = fake_controller(tmp_path, hosts)
    specs = becoming(fake_specs(tmp_path, 2, seeded=False), SECRET)  # the wrapper is pushed
    job = Job(["sh", "-c", "printf 'out\\r\\n\\001\\004'; echo err >&2; exit 3"], timeout=10,
              poll=1)
    _, results = await ctl.run(Targets(specs), job)
    for result in results:
        assert result.status == Status.FAILED and result.data["rc"] == 3, result.data
        assert (result.data["stdout"], result.data["stderr"]) == ("out\r\n\x01\x04", "err")
    for spec in specs:  # byte for byte, or the bootstrap would have refused it
        stored = Path(spec.async_dir) / ".ctl" / f"wrapper-{payload.wrapper_sha256()}.py"
        assert stored.read_bytes() == payload.wrapper_source()
    assert hosts.calls["h0"] >= 4  # need, push, polls, erase: every one through su


async def test_a_detached_job_is_launched_polled_and_cleaned_through_su(tmp_path: Path
                                                                        ) -> None:
    hosts = su_hosts(tmp_path)
    ctl = fake_controller(tmp_path, hosts)
    specs = becoming(fake_specs(tmp_path, 1), SECRET)  # the wrapper is there already
    jid, [started] = await ctl.run(Targets(specs), Job(["echo", "hi"], timeout=10))
    assert started.status == Status.CHANGED and hosts.calls["h0"] == 1  # the shell fast path
    [done] = await ctl.poll(jid, Targets(specs), wait=True, retries=100, delay=0.05)
    assert done.data["stdout"] == "hi"
    [cleaned] = await ctl.cleanup(jid, Targets(specs))
    assert cleaned.status == Status.OK and job_files(specs[0].async_dir, jid) == []


@pytest.mark.parametrize("password, hint", [("wrong", False), (None, True)])
async def test_a_wrong_or_missing_password_fails_each_host(tmp_path: Path, password: str | None,
                                                           hint: bool) -> None:
    ctl = fake_controller(tmp_path, su_hosts(tmp_path))
    specs = becoming(fake_specs(tmp_path, 2), password)
    _, results = await ctl.run(Targets(specs), Job(["true"], timeout=10))
    for result in results:
        assert result.status == Status.FAILED
        message = result.data["msg"]
        assert message.startswith("become failed: su: Authentication failure")
        assert ("no become password was given" in message) is hint
    assert all(job_files(s.async_dir, "j") == [] for s in specs)  # nothing was started


async def test_every_byte_value_crosses_the_terminal_as_sent(tmp_path: Path) -> None:
    """^C, ^D, ^Q, ^S, ^U, ^V, DEL, \\r and lines past 4096 bytes: a raw terminal passes
    them all, and the command's output comes back with no \\r added."""
    stdin = bytes(range(256)) * 40 + b"x" * 5000  # no newline for 5000 bytes
    transport = su_hosts(tmp_path)(HostSpec("h0"), ConnectOptions())
    become = payload.Become("app", SECRET, "su", 5)
    out = await become.run(transport, "sha256sum; printf 'a\\nb'", stdin)
    assert out.exit_status == 0
    assert out.stdout == hashlib.sha256(stdin).hexdigest().encode() + b"  -\na\nb"


async def test_leaving_the_terminal_early_ends_what_runs_on_it(tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    async with local_tty(f"sleep 0.5; touch {marker}") as tty:
        tty.write(b"ignored\n")
    await asyncio.sleep(1)
    assert not marker.exists()
