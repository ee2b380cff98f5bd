"""What the keeper and its clients say to each other over the keeper's Unix socket.

One message is an 8-byte head (two big-endian lengths), a JSON object, then a body of
binary parts whose sizes the object lists under ``sizes`` (a command's stdin, its stdout
and stderr). The socket lives in ``$CTL_HOME`` with mode 0600 and each side checks the
other's uid (SO_PEERCRED): passwords cross it, and nothing else carries them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

from .. import __version__

SOCKET_NAME = "keeper.sock"
LOG_NAME = "keeper.log"
LOCK_NAME = "keeper.lock"
PROTOCOL = 1
BEAT = 1.0  # seconds between the keeper's "still running" notes while a command runs
SILENCE = 10.0  # seconds without a word from the keeper mid-command: it is wedged
MAX_HEAD = 1 << 20  # the JSON object
MAX_BODY = 1 << 28  # stdin, or stdout and stderr (the wrapper caps what it embeds at 4 MiB)
_HEAD = struct.Struct(">II")
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
# the sources a keeper runs (the keeper package and what it imports of ctl): a keeper
# started from other ones is replaced
_SOURCES = ("keeper/__init__.py", "keeper/__main__.py", "keeper/pool.py", "keeper/server.py",
            "keeper/wire.py", "transport/__init__.py", "transport/base.py",
            "transport/ssh.py", "defaults.py", "errors.py", "hosts.py")


class WireError(Exception):
    """The other end broke the protocol (or is not a keeper at all)."""


@functools.lru_cache(maxsize=1)
def version() -> str:
    """ctl's version, the protocol number and a hash of the code a keeper runs: a keeper
    whose tag differs is from another ctl and is replaced."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((root / name).read_bytes())
    return f"{__version__}/{PROTOCOL}/{digest.hexdigest()[:16]}"


def socket_path(home: str) -> str:
    return os.path.join(home, SOCKET_NAME)


def peer(sock: socket.socket) -> tuple[int, int]:
    """The (pid, uid) of the process at the other end of a Unix socket."""
    pid, uid, _ = _CRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                               _CRED.size))
    return pid, uid


def same_user(sock: socket.socket | None) -> bool:
    """Is the other end run by this process's user? (Not root's: the same uid.)"""
    return sock is not None and peer(sock)[1] == os.getuid()


async def send(writer: asyncio.StreamWriter, head: dict[str, Any], *parts: bytes) -> None:
    data = json.dumps({**head, "sizes": [len(p) for p in parts]}).encode()
    writer.write(_HEAD.pack(len(data), sum(map(len, parts))) + data)
    for part in parts:
        writer.write(part)
    await writer.drain()


async def receive(reader: asyncio.StreamReader) -> tuple[dict[str, Any], list[bytes]]:
    """One message: its object and its parts. EOF before a whole one: IncompleteReadError."""
    head_size, body_size = _HEAD.unpack(await reader.readexactly(_HEAD.size))
    if head_size > MAX_HEAD or body_size > MAX_BODY:
        raise WireError(f"a message of {head_size} + {body_size} bytes is too big")
    try:
        head = json.loads(await reader.readexactly(head_size))
        sizes = [int(n) for n in head.pop("sizes", [])]
    except (ValueError, TypeError, AttributeError) as exc:
        raise WireError(f"not a keeper message: {exc}") from exc
    if sum(sizes) != body_size or min(sizes, default=0) < 0:
        raise WireError("the parts do not add up to the body")
    body = await reader.readexactly(body_size)
    parts, at = [], 0
    for size in sizes:
        parts.append(body[at:at + size])
        at += size
    return head, parts


def env_tag() -> dict[str, str]:
    """What a keeper's connections depend on beside the host: whose ~/.ssh and which SSH
    agent. A command whose own differ does not use the keeper (it connects directly)."""
    return {name: os.environ.get(name, "") for name in ("HOME", "SSH_AUTH_SOCK")}
