"""The SSH connection, over asyncssh. The one place where asyncssh's errors become ours."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
from typing import Any, AsyncIterator, Iterator

import asyncssh

from ..defaults import DEFAULTS
from ..errors import HostUnreachable
from ..hosts import HostSpec
from .base import ConnectOptions, ExecResult

log = logging.getLogger("ctl")
_KEYS: dict[str, asyncssh.SSHKey] = {}


def load_key(path: str) -> asyncssh.SSHKey:
    """Read a private key once per process: asyncssh re-parses paths on every connect."""
    if path not in _KEYS:
        try:
            _KEYS[path] = asyncssh.read_private_key(path)
        except (OSError, asyncssh.KeyImportError) as exc:
            raise HostUnreachable(f"cannot load private key {path}: {exc}") from exc
    return _KEYS[path]


KNOWN_HOSTS_FILES = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")
DEFAULT_FILES = ("<the default known_hosts files>",)  # _KNOWN's key for them
_KNOWN: dict[tuple[str, ...], Any] = {}


IGNORED_CONFIG = ("controlmaster", "controlpath", "controlpersist", "stricthostkeychecking")
_WARNED: set[str] = set()


@functools.lru_cache(maxsize=1)
def ssh_config_text() -> str:
    """~/.ssh/config, read once per process (it was read on every connect)."""
    try:
        with open(os.path.expanduser("~/.ssh/config"), encoding="utf-8",
                  errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def warn_ignored_config() -> None:
    """Once per process: name the ~/.ssh/config options that asyncssh does not apply (use
    the inventory's ansible_ssh_common_args for the ones ctl honours)."""
    if "config" in _WARNED:
        return
    _WARNED.add("config")
    words = {line.split()[0].lower() for line in ssh_config_text().splitlines()
             if line.split() and not line.lstrip().startswith("#")}
    ignored = sorted(w for w in words if w in IGNORED_CONFIG)
    if ignored:
        log.warning("~/.ssh/config sets %s, which ctl's SSH client (asyncssh) does not apply; "
                    "StrictHostKeyChecking can be set in ansible_ssh_common_args",
                    ", ".join(ignored))


def preloaded_known_hosts() -> Any:
    """The default known_hosts files, parsed once per process and handed to asyncssh as an
    object: given paths (its default), asyncssh re-reads them on every connect, which grows
    as hosts x lines. None (asyncssh's default handling) when ~/.ssh/config names its own
    known_hosts files, so that setting keeps working."""
    if "knownhostsfile" in ssh_config_text().lower():
        return None
    if DEFAULT_FILES not in _KNOWN:  # which files exist, looked at once too (accept-new clears)
        files = tuple(p for p in map(os.path.expanduser, KNOWN_HOSTS_FILES) if os.path.isfile(p))
        try:
            _KNOWN[DEFAULT_FILES] = asyncssh.read_known_hosts(list(files)) if files else ()
        except (OSError, ValueError) as exc:
            raise HostUnreachable(f"cannot read known_hosts {', '.join(files)}: {exc}") from exc
    return _KNOWN[DEFAULT_FILES]


def known_hosts_from(path: str) -> Any:
    """A UserKnownHostsFile, parsed once per process."""
    key = (path,)
    if key not in _KNOWN:
        try:
            _KNOWN[key] = asyncssh.read_known_hosts(path)
        except (OSError, ValueError) as exc:
            raise HostUnreachable(f"cannot read known_hosts {path}: {exc}") from exc
    return _KNOWN[key]


def host_label(spec: HostSpec) -> str:
    return f"[{spec.address}]:{spec.port}" if spec.port and spec.port != 22 else spec.address


@contextlib.contextmanager
def ssh_errors(spec: HostSpec, stage: str) -> Iterator[None]:
    """Translate asyncssh and socket errors into HostUnreachable / HostFailed, with a hint."""
    prefix = "Failed to connect to the host via ssh: " if stage == "connect" else ""
    target = f"{spec.user + '@' if spec.user else ''}{spec.address}" + (
        f":{spec.port}" if spec.port else "")
    try:
        yield
    except asyncssh.HostKeyNotVerifiable as exc:
        raise HostUnreachable(
            f"{prefix}host key of {target} is not trusted ({exc.reason}). If the host was "
            f"reinstalled, remove the old key with: ssh-keygen -R '{host_label(spec)}', then "
            "add the new one to known_hosts") from exc
    except asyncssh.PermissionDenied as exc:
        key = f" with key {spec.private_key}" if spec.private_key else ""
        raise HostUnreachable(f"{prefix}permission denied for {target}{key} "
                              f"({exc.reason})") from exc
    except asyncssh.ChannelOpenError as exc:  # the connection closed under us, or MaxSessions
        raise HostUnreachable(f"cannot open a session on {target}: {exc.reason}") from exc
    except asyncssh.Error as exc:
        raise HostUnreachable(f"{prefix}{target}: {exc.reason}") from exc
    except (asyncio.TimeoutError, TimeoutError) as exc:
        raise HostUnreachable(f"{prefix}{target}: timed out") from exc
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise HostUnreachable(f"{prefix}{target}: {reason}") from exc


def dropped(exc: BaseException | None) -> bool:
    """A connection closed by the server before login: what sshd's MaxStartups refusal and
    a burst of connects look like. Refused ports, timeouts and auth failures are not."""
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, asyncssh.ConnectionLost)):
        return True
    return isinstance(exc, asyncssh.DisconnectError) and "closed" in str(exc.reason).lower()


class SshTransport:
    def __init__(self, spec: HostSpec, options: ConnectOptions) -> None:
        self.spec = spec
        self.options = options
        self._conn: asyncssh.SSHClientConnection | None = None
        self._jump: asyncssh.SSHClientConnection | None = None

    def connect_kwargs(self) -> dict[str, Any]:
        warn_ignored_config()
        spec = self.spec
        timeout = spec.connect_timeout or DEFAULTS["timeout"]  # older registry rows: None
        kwargs: dict[str, Any] = {
            "connect_timeout": timeout,
            "login_timeout": timeout,
            "keepalive_interval": 30,
        }
        if spec.port:
            kwargs["port"] = spec.port
        if spec.user:
            kwargs["username"] = spec.user
        if spec.private_key:
            kwargs["client_keys"] = [load_key(spec.private_key)]
        if spec.password is not None:
            kwargs["password"] = spec.password
        if not (self.options.host_key_checking and spec.host_key_checking):
            kwargs["known_hosts"] = None
        elif spec.accept_new and not self.known_key():
            kwargs["known_hosts"] = None  # trust on first use; record() adds the key after
        elif spec.known_hosts_file:
            kwargs["known_hosts"] = known_hosts_from(spec.known_hosts_file)
        else:
            known = preloaded_known_hosts()
            if known is not None:
                kwargs["known_hosts"] = known
        return kwargs

    async def __aenter__(self) -> SshTransport:
        kwargs = self.connect_kwargs()
        if self.spec.jump:
            kwargs["tunnel"] = await self.open_jump(kwargs)
        try:
            return await self._connect(kwargs)
        except BaseException:
            await self.__aexit__(None, None, None)  # the jump connection, if any
            raise

    def known_file(self) -> str:
        return os.path.expanduser(self.spec.known_hosts_file or KNOWN_HOSTS_FILES[0])

    def known_key(self) -> bool:
        """Does the known_hosts file hold any key for this host (read fresh: accept-new may
        have just added one)?"""
        path = self.known_file()
        if not os.path.isfile(path):
            return False
        try:
            keys = asyncssh.read_known_hosts(path).match(self.spec.address, self.spec.address,
                                                         self.spec.port or 22)[0]
        except (OSError, ValueError):
            return False
        return bool(keys)

    def record_new_key(self) -> None:
        """accept-new: append the key the host just showed, as OpenSSH does."""
        if self._conn is None:
            return
        key = self._conn.get_server_host_key()
        if key is None:
            return
        path = self.known_file()
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        line = f"{host_label(self.spec)} {key.export_public_key('openssh').decode().strip()}\n"
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
        _KNOWN.clear()
        log.warning("accept-new: added the host key of %s to %s", host_label(self.spec), path)

    async def _connect(self, kwargs: dict[str, Any]) -> SshTransport:
        for attempt in range(self.options.connect_retries + 1):
            try:
                with ssh_errors(self.spec, "connect"):
                    self._conn = await asyncssh.connect(self.spec.address, **kwargs)
                if kwargs.get("known_hosts", ()) is None and self.spec.accept_new and \
                        self.options.host_key_checking and self.spec.host_key_checking:
                    self.record_new_key()
                return self
            except HostUnreachable as exc:
                if attempt == self.options.connect_retries or not dropped(exc.__cause__):
                    raise
            # sshd drops logins beyond MaxStartups; recent OpenSSH also penalises a source
            # that keeps failing (PerSourcePenalties): back off, with jitter, a bounded time
            delay = random.uniform(0, self.options.retry_backoff * 2 ** attempt)
            log.info("connection dropped before login; retry %d in %.2fs", attempt + 1, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def open_jump(self, kwargs: dict[str, Any]) -> asyncssh.SSHClientConnection:
        """The ProxyJump host, reached with the same key, user and host-key policy."""
        jump = self.spec.jump or ""
        user, _, hostport = jump.rpartition("@")
        host, _, port = hostport.partition(":")
        options = {k: v for k, v in kwargs.items() if k not in ("port", "username", "tunnel")}
        if user:
            options["username"] = user
        elif "username" in kwargs:
            options["username"] = kwargs["username"]
        if port:
            if not port.isdigit():
                raise HostUnreachable(f"ProxyJump {jump!r}: the port must be a number")
            options["port"] = int(port)
        with ssh_errors(self.spec, "connect"):
            self._jump = await asyncssh.connect(host, **options)
        return self._jump

    async def __aexit__(self, *exc_info: object) -> None:
        if self._jump is not None:
            self._jump.close()
            self._jump = None
        if self._conn is not None:
            self._conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.wait_closed(), 5)
            self._conn = None

    def closed(self) -> bool:
        """The connection is gone (closed by either end, or never opened)."""
        return self._conn is None or self._conn.is_closed()

    async def run(self, command: str, stdin: bytes) -> ExecResult:
        if self._conn is None:
            raise HostUnreachable(f"{self.spec.name}: not connected")
        with ssh_errors(self.spec, "run"):
            # no input: stdin is closed at once (an empty input would leave it open)
            process = await self._conn.create_process(
                command, encoding=None, stdin=asyncssh.PIPE if stdin else asyncssh.DEVNULL)
            fed = feed(process, stdin) if stdin else True
            result = await process.wait(check=False)
        if not fed and result.exit_status is None and result.exit_signal is None:
            raise HostUnreachable(f"{self.spec.address}: the connection closed before the "
                                  "command could be sent its input")
        status = result.exit_status if result.exit_status is not None else 255
        return ExecResult(status, _as_bytes(result.stdout), _as_bytes(result.stderr))

    @contextlib.asynccontextmanager
    async def tty(self, command: str) -> AsyncIterator[SshTty]:
        """``command`` on a pseudo-terminal, echo off from the start (su's prompt needs a
        terminal); leaving the block closes the channel if it still runs."""
        if self._conn is None:
            raise HostUnreachable(f"{self.spec.name}: not connected")
        with ssh_errors(self.spec, "run"):
            process = await self._conn.create_process(
                command, encoding=None, term_type="dumb", term_size=(80, 24),
                term_modes={asyncssh.PTY_ECHO: 0})
            try:
                yield SshTty(process)
            finally:
                process.close()


class SshTty:
    """One asyncssh process on a pseudo-terminal (stderr comes merged into stdout)."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self.process = process

    async def read(self) -> bytes:
        return bytes(await self.process.stdout.read(65536))

    def write(self, data: bytes) -> None:
        self.process.stdin.write(data)

    async def wait(self) -> int:
        await self.process.wait_closed()
        status = self.process.exit_status
        return status if status is not None else 255


def feed(process: asyncssh.SSHClientProcess[bytes], data: bytes) -> bool:
    """Write a command's stdin, then EOF; False when the channel was already closed. A
    command may end without reading its input (a missing interpreter fails at once) and
    sshd then closes its channel, sometimes before this write, which asyncssh refuses with
    BrokenPipeError. That is no network fault: the exit status and stderr tell what
    happened (taken for an unreachable host, it made a loaded machine's results flaky)."""
    try:
        process.stdin.write(data)
        process.stdin.write_eof()
    except BrokenPipeError:
        log.debug("the command's channel closed before it was sent its input")
        return False
    return True


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    return data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
