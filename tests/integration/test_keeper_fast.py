"""The connection keeper without sshd: its messages, its socket (mode, uid check, stale
files), its idle exit, and which commands use it (``--persist``, ``CTL_PERSIST``, local
hosts). The keeper against real sshd: tests/e2e/test_keeper_e2e.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import AsyncIterator, Iterator

import asyncssh
import pytest

from controller.cli.app import connector
from controller.cli.options import persist_layer
from controller.errors import HostUnreachable, OptionError
from controller.hosts import HostSpec
from controller.keeper import pool, wire
from controller.keeper.client import KeeperClient, KeeperTransport, hello, keeper_connector
from controller.keeper.server import Keeper, bind
from controller.settings import Settings, Sourced
from controller.transport import ConnectOptions, open_transport
from controller.transport.base import ExecResult
from controller.transport.local import LocalTransport

HOMES: list[Path] = []


def short_home() -> Path:
    """A Unix socket's path has at most 107 bytes: pytest's tmp_path may be longer."""
    HOMES.append(Path(tempfile.mkdtemp(prefix="kf", dir="/tmp")))
    return HOMES[-1]


@pytest.fixture(autouse=True)
def no_homes_left() -> Iterator[None]:
    yield
    while HOMES:
        shutil.rmtree(HOMES.pop(), ignore_errors=True)


def streams() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


async def test_a_message_and_its_parts_cross_the_wire_whole() -> None:
    left, right = streams()
    _, writer = await asyncio.open_unix_connection(sock=left)
    reader, _ = await asyncio.open_unix_connection(sock=right)
    await wire.send(writer, {"op": "run", "command": "true"}, b"in\x00put", b"", b"x" * 70000)
    head, parts = await wire.receive(reader)
    assert head["op"] == "run" and head["command"] == "true"
    assert parts == [b"in\x00put", b"", b"x" * 70000]
    writer.close()


@pytest.mark.parametrize("raw", [
    struct.pack(">II", wire.MAX_HEAD + 1, 0),
    struct.pack(">II", 2, 5) + b"{}" + b"12345",  # no sizes, yet a body
    struct.pack(">II", 3, 0) + b"{x}",
])
async def test_a_message_that_is_not_a_keepers_is_refused(raw: bytes) -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    with pytest.raises(wire.WireError):
        await wire.receive(reader)


def test_the_socket_is_bound_with_mode_0600_and_a_stale_one_is_replaced() -> None:
    home = short_home()
    path = str(home / wire.SOCKET_NAME)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # bound, never listening: what a killed keeper leaves
    stale.close()
    sock = bind(path)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        with pytest.raises(FileExistsError):
            bind(path)  # a live keeper's socket is left alone
    finally:
        sock.close()


@pytest.fixture
async def keeper() -> AsyncIterator[Keeper]:
    home = short_home()
    path = wire.socket_path(str(home))
    served = Keeper(path, idle=300, max_sessions=10)
    task = asyncio.ensure_future(served.serve(bind(path)))
    yield served
    served.done.set()
    await asyncio.wait_for(task, 10)


async def test_the_keeper_says_its_version_and_takes_the_newest_persist(keeper: Keeper
                                                                        ) -> None:
    found = await hello(keeper.path, 7)
    assert found is not None
    reply, pid = found
    assert reply["version"] == wire.version() and pid == os.getpid()
    assert reply["env"] == wire.env_tag()
    assert keeper.idle == 7


NOBODY = 65534
PROBE = """
import socket, struct, sys
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
data = b'{"op": "hello", "sizes": []}'
try:
    sock.sendall(struct.pack(">II", len(data), 0) + data)
    got = sock.recv(8)
except OSError:  # closed before our hello, or with it unread
    got = b""
print("REPLY" if got else "EOF")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a probe as another user")
async def test_the_keeper_answers_no_other_user(keeper: Keeper) -> None:
    """The socket's mode already keeps others out; widened here, the uid check still does."""
    os.chmod(os.path.dirname(keeper.path), 0o711)
    os.chmod(keeper.path, 0o666)
    for user, expected in ((NOBODY, "EOF"), (os.getuid(), "REPLY")):
        proc = await asyncio.create_subprocess_exec(
            "/usr/bin/python3", "-c", PROBE, keeper.path, user=user, cwd="/",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert out.decode().strip() == expected, err


async def test_the_keeper_exits_once_idle_and_removes_its_socket() -> None:
    home = short_home()
    path = wire.socket_path(str(home))
    served = Keeper(path, idle=0.2, max_sessions=10)
    await asyncio.wait_for(served.serve(bind(path)), 30)  # returns by itself
    assert not os.path.exists(path)


async def test_a_stats_request_says_what_the_keeper_holds(keeper: Keeper) -> None:
    reader, writer = await asyncio.open_unix_connection(keeper.path)
    await wire.send(writer, {"op": "stats"})
    reply, _ = await wire.receive(reader)
    assert reply["pid"] == os.getpid()
    assert (reply["open"], reply["connects"], reply["runs"]) == (0, 0, 0)
    assert reply["clients"] == 1
    writer.close()


async def test_a_socket_path_too_long_means_direct_connections(
        caplog: pytest.LogCaptureFixture) -> None:
    client = KeeperClient("/tmp/" + "x" * 120, 60)
    caplog.set_level("INFO", logger="ctl")
    assert await client.ready() is False
    assert "too long for a Unix socket" in caplog.text and "connecting directly" in caplog.text


def test_persist_comes_from_the_option_else_ctl_persist(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setenv("CTL_PERSIST", "5")
    assert persist_layer(None) == {"persist": (5.0, "CTL_PERSIST")}
    assert persist_layer(0) == {"persist": (0, "--persist")}
    monkeypatch.setenv("CTL_PERSIST", "")
    assert persist_layer(None) == {}
    monkeypatch.setenv("CTL_PERSIST", "soon")
    with pytest.raises(OptionError, match="CTL_PERSIST"):
        persist_layer(None)


def test_persist_0_connects_directly_and_local_hosts_never_use_the_keeper() -> None:
    def settings(value: float) -> Settings:
        return Settings({"persist": Sourced(value, "--persist")})

    assert connector(settings(0), None) is open_transport
    assert connector(settings(60), object()) is open_transport  # type: ignore[arg-type]
    warm = connector(settings(60), None)
    assert warm is not open_transport
    local = warm(HostSpec("l", connection="local"), ConnectOptions())
    assert isinstance(local, LocalTransport)
    assert type(warm(HostSpec("s", address="a"), ConnectOptions())).__name__ == \
        "KeeperTransport"


def test_the_keeper_connector_reaches_ssh_hosts_through_the_keeper() -> None:
    connect = keeper_connector("/tmp/nowhere", 60)
    assert type(connect(HostSpec("s", address="a"), ConnectOptions())).__name__ == \
        "KeeperTransport"


def test_the_default_persist_is_60_seconds() -> None:
    assert Settings()["persist"] == 60
    assert json.loads(json.dumps(Settings().rows(changed_only=False)))  # ctl config lists it


class FlakySsh:
    """An SshTransport stand-in (fault injection): ``script`` says what each run does."""

    opened: list[FlakySsh] = []
    script: list[str] = []
    sent: list[str] = []

    def __init__(self, spec: HostSpec, options: ConnectOptions) -> None:
        self.spec, self.dead = spec, False
        FlakySsh.opened.append(self)

    async def __aenter__(self) -> FlakySsh:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.dead = True

    def closed(self) -> bool:
        return self.dead

    async def run(self, command: str, stdin: bytes) -> ExecResult:
        what = FlakySsh.script.pop(0)
        if what == "dropped":  # the connection had closed: the session never opened
            self.dead = True
            raise HostUnreachable("cannot open a session") from asyncssh.ChannelOpenError(
                2, "SSH connection closed")
        if what == "lost":  # the connection died while the command ran
            self.dead = True
            raise HostUnreachable("connection lost") from ConnectionResetError()
        FlakySsh.sent.append(command)
        return ExecResult(0, b"ok", b"")


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> type[FlakySsh]:
    monkeypatch.setattr(pool, "SshTransport", FlakySsh)
    FlakySsh.opened, FlakySsh.script, FlakySsh.sent = [], [], []
    return FlakySsh


async def test_a_command_whose_session_never_opened_is_sent_on_a_reopened_connection(
        flaky: type[FlakySsh]) -> None:
    kept = pool.Pool(10)
    flaky.script = ["ok", "dropped", "ok"]
    spec = HostSpec("h", address="10.0.0.1")
    for _ in range(2):
        assert (await kept.run(spec, ConnectOptions(), "launch", b"")).stdout == b"ok"
    assert flaky.sent == ["launch", "launch"] and len(flaky.opened) == 2


async def test_a_command_that_may_have_started_is_never_run_again(flaky: type[FlakySsh]
                                                                   ) -> None:
    kept = pool.Pool(10)
    flaky.script = ["lost", "ok"]
    with pytest.raises(HostUnreachable, match="connection lost"):
        await kept.run(HostSpec("h", address="10.0.0.1"), ConnectOptions(), "launch", b"")
    assert flaky.script == ["ok"]  # not retried


async def test_two_identities_never_share_a_connection(flaky: type[FlakySsh]) -> None:
    kept = pool.Pool(10)
    flaky.script = ["ok"] * 4
    base = HostSpec("h", address="10.0.0.1", user="a")
    for spec in (base, replace(base, name="alias"), replace(base, user="b"),
                 replace(base, password="other")):
        await kept.run(spec, ConnectOptions(), "true", b"")
    assert len(flaky.opened) == 3  # the alias shares a's; another user, another password not


@contextlib.asynccontextmanager
async def scripted_keeper(home: str, beats: int | None) -> AsyncIterator[None]:
    """A keeper that answers hello as this ctl's would, then to a run: ``beats`` beats and
    the result, or (None) nothing at all, as a wedged one, until the test ends."""
    ending = asyncio.Event()
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        with contextlib.suppress(EOFError, OSError), contextlib.closing(writer):
            while True:
                head, _ = await wire.receive(reader)
                if head["op"] == "hello":
                    await wire.send(writer, {"version": wire.version(), "env": wire.env_tag()})
                    continue
                for _ in range(beats or 0):
                    await asyncio.sleep(0.05)
                    await wire.send(writer, {"op": "beat"})
                if beats is None:
                    await ending.wait()
                    return
                await wire.send(writer, {"exit_status": 3}, b"out", b"err")

    server = await asyncio.start_unix_server(handle, path=wire.socket_path(home))
    try:
        yield
    finally:
        ending.set()
        server.close()
        await asyncio.gather(*handlers)


@pytest.mark.parametrize("beats", [0, 12])
async def test_a_long_command_is_told_from_a_wedged_keeper_by_its_beats(
        beats: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "SILENCE", 0.3)  # 12 beats 0.05 s apart outlast it
    home = str(short_home())
    async with scripted_keeper(home, beats):
        connect = keeper_connector(home, 60)
        async with connect(HostSpec("h", address="10.0.0.1"), ConnectOptions()) as transport:
            result = await transport.run("true", b"")
    assert (result.exit_status, result.stdout, result.stderr) == (3, b"out", b"err")


async def test_a_keeper_wedged_mid_command_costs_that_host_and_the_rest_connect_directly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "SILENCE", 0.3)
    home = str(short_home())
    client = KeeperClient(home, 60)
    async with scripted_keeper(home, None):
        transport = KeeperTransport(HostSpec("h", address="10.0.0.1"), ConnectOptions(), client)
        async with transport:
            with pytest.raises(HostUnreachable, match="stopped answering"):
                await transport.run("true", b"")
        assert await client.ready() is False


class NarrowHost:
    """A live connection whose host opens at most ``allowed`` sessions at once, as sshd's
    MaxSessions does: one more is refused (asyncssh's ChannelOpenError) and never runs."""

    def __init__(self, allowed: int) -> None:
        self.allowed, self.open, self.most, self.ran = allowed, 0, 0, 0

    def closed(self) -> bool:
        return False

    async def run(self, command: str, stdin: bytes) -> ExecResult:
        if self.open >= self.allowed:
            try:
                raise asyncssh.ChannelOpenError(1, "open failed")
            except asyncssh.ChannelOpenError as exc:
                raise HostUnreachable("cannot open a session: open failed") from exc
        self.open += 1
        self.most = max(self.most, self.open)
        await asyncio.sleep(0.05)
        self.open -= 1
        self.ran += 1
        return ExecResult(0, b"", b"")


@pytest.mark.parametrize("allowed", [1, 2, 3])
async def test_sessions_a_host_refuses_wait_for_a_slot_and_the_limit_learns_maxsessions(
        allowed: int) -> None:
    """Many commands at once on one kept connection: those refused were never sent, so
    they wait and run; the connection's limit ends at what the host allows (several
    refusals at once must not drive it lower than that, nor give up on a command)."""
    kept, host = pool.Pool(max_sessions=10), NarrowHost(allowed)

    async def the_host(entry: object, spec: object, options: object) -> NarrowHost:
        return host

    kept._transport = the_host  # type: ignore[assignment,method-assign]
    spec = HostSpec(name="h", address="127.0.0.1")
    results = await asyncio.gather(*(kept.run(spec, ConnectOptions(), "true", b"")
                                     for _ in range(12)))
    assert [r.exit_status for r in results] == [0] * 12 and host.ran == 12
    assert host.most == allowed
    (entry,) = kept.entries.values()
    assert entry.limit == allowed and entry.active == 0


async def test_a_host_that_refuses_every_session_fails_the_command_after_a_few_tries() -> None:
    kept, host = pool.Pool(max_sessions=10), NarrowHost(0)

    async def the_host(entry: object, spec: object, options: object) -> NarrowHost:
        return host

    kept._transport = the_host  # type: ignore[assignment,method-assign]
    with pytest.raises(HostUnreachable, match="open failed"):
        await kept.run(HostSpec(name="h", address="127.0.0.1"), ConnectOptions(), "true", b"")
    (entry,) = kept.entries.values()
    assert entry.active == 0 and host.ran == 0


def test_the_keepers_version_tag_covers_every_module_it_runs() -> None:
    """A keeper started from older code is replaced only if its tag differs: every ctl
    module the keeper process loads must be in the tag's hash (pool.py was not, so a fix
    to it left old keepers running)."""
    code = ("import sys, controller.keeper.__main__\nfrom pathlib import Path\n"
            "root = Path(controller.keeper.__main__.__file__).resolve().parents[1]\n"
            "print('\\n'.join(str(Path(m.__file__).resolve().relative_to(root)) for n, m in "
            "list(sys.modules.items()) if n.startswith('controller') and "
            "getattr(m, '__file__', None)))\n")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert set(loaded) - {"__init__.py"} <= set(wire._SOURCES), loaded  # __init__: __version__
