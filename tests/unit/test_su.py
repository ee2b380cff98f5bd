"""become_method su: the prompt and answer over a fake transport whose terminal is a scripted
su (``FakeSu``), and the su command's shape. tests/integration/test_su_tty.py runs it on a
real pseudo-terminal with the real wrapper; tests/e2e/test_become_su.py against real su."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import time
from typing import AsyncIterator, Callable

import pytest

from controller import su
from controller.errors import HostFailed
from controller.hosts import HostSpec
from controller.inventory.hostvars import spec_from_vars
from controller.payload import Become
from controller.settings import Settings
from controller.transport.base import ConnectOptions, ExecResult, Tty
from controller.transport.fake import FakeHosts, FakeTransport

SECRET = "s3cr'et pw"
FAILURE = b"\r\nsu: Authentication failure\r\n"


class FakeSu:
    """A scripted su on a terminal: prints ``prompts`` (one per password asked; none: the
    login is root), checks each line written against ``password``, and on success prints
    the ready line the command names, reads the stdin bytes it counts, and prints
    ``reply(stdin)``. ``after`` is what it says after a wrong line (None: nothing, ever);
    ``refuse``, what it says before exiting at once, asking nothing."""

    def __init__(self, password: str = SECRET, prompts: tuple[bytes, ...] = (b"Password: ",),
                 after: bytes | None = FAILURE, refuse: bytes | None = None,
                 reply: Callable[[bytes], bytes] = lambda stdin: b"got:" + stdin) -> None:
        self.password, self.prompts, self.after, self.reply = password, list(prompts), after, reply
        self.refuse = refuse
        self.written: list[bytes] = []
        self.commands: list[str] = []
        self.closed = False

    def hosts(self) -> FakeHosts:
        def refuse(spec: HostSpec, command: str, stdin: bytes) -> ExecResult:
            raise AssertionError("su runs on a terminal")
        return FakeHosts(refuse, tty=lambda spec, command: self.tty(command))

    @contextlib.asynccontextmanager
    async def tty(self, command: str) -> AsyncIterator[Tty]:
        self.commands.append(command)
        found = re.search(r"echo (CTL-BECOME-\w+) && dd bs=1 count=(\d+)", command)
        assert found, command
        self.ready, self.size = found.group(1).encode() + b"\n", int(found.group(2))
        self.out: asyncio.Queue[bytes] = asyncio.Queue()
        self.stdin, self.status, self.becoming = b"", -1, True
        if self.refuse is not None:
            self.end(1, self.refuse)
        else:
            self.ask() if self.prompts else self.accept()
        try:
            yield self
        finally:
            self.closed = True

    def ask(self) -> None:
        for piece in self.prompts.pop(0).split(b"|"):  # "|": the prompt comes in pieces
            self.out.put_nowait(piece)

    def accept(self) -> None:
        self.becoming = False
        self.out.put_nowait(b"\r\n" + self.ready)
        if self.size == 0:
            self.end(0, self.reply(b""))

    def end(self, status: int, output: bytes) -> None:
        self.status = status
        self.out.put_nowait(output)
        self.out.put_nowait(b"")

    async def read(self) -> bytes:
        return await self.out.get()

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if not self.becoming:
            self.stdin += data
            if len(self.stdin) >= self.size:
                self.end(0, self.reply(self.stdin))
        elif data == self.password.encode() + b"\n":
            self.accept()
        elif self.prompts:
            self.ask()
        elif self.after is not None:
            self.end(1, self.after)

    async def wait(self) -> int:
        return self.status


def become(password: str | None = SECRET, timeout: float = 2) -> Become:
    return Become("app", password, "su", timeout)


def run(fake: FakeSu, stdin: bytes = b"CTL-REQUEST {}\n", password: str | None = SECRET,
        timeout: float = 2) -> ExecResult:
    transport = fake.hosts()(HostSpec("h1"), ConnectOptions())
    return asyncio.run(become(password, timeout).run(transport, "python3 -S -c x", stdin))


def failure(fake: FakeSu, password: str | None = SECRET, timeout: float = 2) -> str:
    with pytest.raises(HostFailed) as caught:
        run(fake, password=password, timeout=timeout)
    assert fake.closed  # the terminal is let go of: nothing runs on
    return caught.value.message


def test_the_prompt_is_answered_once_and_stdin_follows_the_ready_line() -> None:
    fake = FakeSu()
    out = run(fake, b"CTL-REQUEST {\"op\": \"status\"}\n" + bytes(range(256)))
    stdin = b"CTL-REQUEST {\"op\": \"status\"}\n" + bytes(range(256))
    assert fake.written == [SECRET.encode() + b"\n", stdin]  # the password, then stdin
    assert out == ExecResult(0, b"got:" + stdin, b"got:" + stdin)  # only what followed ready


def test_the_su_command_is_ansibles_shape_and_never_holds_the_password() -> None:
    fake = FakeSu()
    run(fake, b"12345")
    [command] = fake.commands
    words = shlex.split(command)
    assert words[:3] == ["su", "app", "-c"] and len(words) == 4
    inner = shlex.split(words[3])
    assert inner[:2] == ["/bin/sh", "-c"] and len(inner) == 3
    assert re.fullmatch(r"stty raw -echo && echo CTL-BECOME-[0-9a-f]{16} && "
                        r"dd bs=1 count=5 2>/dev/null \| python3 -S -c x", inner[2])
    assert SECRET not in command and "s3cr" not in command


RUSSIAN = "Пароль: ".encode()


@pytest.mark.parametrize("prompt", [b"Password: ", b"password:", b"PASSWORD :",
                                    b"Pass|word: ", b"Mot de passe : ", RUSSIAN,
                                    "密码：".encode(),  # a fullwidth colon
                                    RUSSIAN[:3] + b"|" + RUSSIAN[3:]])  # cut inside a letter
def test_ansibles_prompts_are_recognised_in_any_case_and_in_pieces(prompt: bytes) -> None:
    fake = FakeSu(prompts=(prompt,))
    assert run(fake).exit_status == 0
    assert fake.written[0] == SECRET.encode() + b"\n"


def test_no_prompt_when_the_login_is_root_and_no_password_is_sent() -> None:
    fake = FakeSu(prompts=())
    out = run(fake, b"x", password=None)
    assert out.stdout == b"got:x" and fake.written == [b"x"]


def test_empty_stdin_ends_at_once() -> None:
    fake = FakeSu()
    assert run(fake, b"").stdout == b"got:"
    assert fake.written == [SECRET.encode() + b"\n", b""]


def test_a_wrong_password_fails_with_sus_words() -> None:
    message = failure(FakeSu(password="other"))
    assert message == "become failed: su: Authentication failure"


def test_no_password_fails_with_sus_words_and_says_none_was_given() -> None:
    message = failure(FakeSu(), password=None)
    assert message.startswith("become failed: su: Authentication failure; no become password "
                              "was given (-K, --become-password-file")


def test_a_prompt_that_never_comes_times_out_in_seconds() -> None:
    began = time.monotonic()
    message = failure(FakeSu(prompts=(b"Welcome\r\n",)), timeout=0.3)
    assert time.monotonic() - began < 2
    assert message == "become failed: timed out after 0.3s waiting for su's password prompt"


def test_output_that_trickles_without_a_prompt_still_times_out() -> None:
    class Trickle(FakeSu):
        async def read(self) -> bytes:
            await asyncio.sleep(0.05)
            return b"."

    began = time.monotonic()
    message = failure(Trickle(), timeout=0.3)
    assert time.monotonic() - began < 2 and message.startswith("become failed: timed out")


def test_a_second_prompt_after_a_wrong_password_fails_at_once() -> None:
    began = time.monotonic()
    message = failure(FakeSu(password="other", prompts=(b"Password: ", b"\r\nPassword: ")),
                      timeout=30)
    assert time.monotonic() - began < 2
    assert message == "become failed: su asked for the password again (a wrong one?)"


def test_silence_after_the_password_times_out() -> None:
    message = failure(FakeSu(password="other", after=None), timeout=0.3)
    assert message == ("become failed: timed out after 0.3s waiting for su to accept the "
                       "password (a wrong one?)")


def test_su_refusing_before_any_prompt_says_why() -> None:
    fake = FakeSu(refuse=b"su: user app does not exist or the user entry does not contain "
                  b"all the required fields\r\n")
    assert failure(fake) == ("become failed: su: user app does not exist or the user entry "
                             "does not contain all the required fields")
    assert fake.written == []


def test_a_password_in_sus_last_words_is_masked() -> None:
    fake = FakeSu(password="other", after=f"\r\nsu: bad {SECRET}\r\n".encode())
    message = failure(fake)
    assert SECRET not in message and message == "become failed: su: bad ********"


def test_a_silent_exit_names_the_status() -> None:
    fake = FakeSu(password="other", after=b"")
    assert failure(fake) == "become failed: su exited with status 1 before running the command"


def test_sudo_and_no_become_take_the_plain_exec() -> None:
    seen: list[tuple[str, bytes]] = []

    def record(spec: HostSpec, command: str, stdin: bytes) -> ExecResult:
        seen.append((command, stdin))
        return ExecResult(0, b"", b"")

    transport = FakeTransport(HostSpec("h1"), record)
    asyncio.run(Become("app", "pw", "sudo").run(transport, "cmd", b"in"))
    asyncio.run(Become().run(transport, "cmd", b"in"))
    assert seen == [("sudo -S -H -p '' -u app -- cmd", b"pw\nin"), ("cmd", b"in")]


def test_become_method_su_is_read_from_the_inventory_and_others_are_refused() -> None:
    spec = spec_from_vars("h1", {"ansible_become": True, "ansible_become_method": "su",
                                 "ansible_ssh_timeout": 7}, "inv", Settings())
    assert Become.of(spec) == Become("root", "", "su", 7)
    with pytest.raises(Exception, match="'doas' is not supported \\(use sudo, su\\)"):
        spec_from_vars("h1", {"ansible_become_method": "doas"}, "inv", Settings())
    assert su.PROMPT.pattern.startswith("(?:Password|")
