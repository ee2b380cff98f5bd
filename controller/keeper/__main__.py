"""``python -m controller.keeper --home DIR --idle SECONDS``: start a keeper, detached.

The command returns once the keeper listens (exit 0) or could not (exit 1); the keeper
itself runs on in a session of its own, its stdio on ``$CTL_HOME/keeper.log`` (mode
0600). Nothing secret is ever in its arguments: passwords come over the socket.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from ..defaults import DEFAULTS
from .wire import LOG_NAME, socket_path


def detach() -> int:
    """Fork: the parent waits for the child's word and exits with it; the child, in a
    session of its own, gets the pipe's write end to say ``ready`` on."""
    read_end, write_end = os.pipe()
    if os.fork():
        os.close(write_end)
        word = os.read(read_end, 16)
        os._exit(0 if word == b"ready" else 1)
    os.close(read_end)
    os.setsid()
    return write_end


def log_to(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s keeper[{os.getpid()}] %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("ctl").setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.keeper")
    parser.add_argument("--home", required=True)
    parser.add_argument("--idle", type=float, required=True)
    parser.add_argument("--max-sessions", type=int, default=DEFAULTS["max_sessions"])
    parser.add_argument("--foreground", action="store_true")
    args = parser.parse_args(argv)
    os.makedirs(args.home, mode=0o700, exist_ok=True)
    ready = -1 if args.foreground else detach()
    log_to(os.path.join(args.home, LOG_NAME))
    from .server import Keeper, bind

    try:
        sock = bind(socket_path(args.home))
    except OSError as exc:
        logging.getLogger("ctl").warning("not started: %s", exc)
        return 1
    if ready >= 0:
        os.write(ready, b"ready")
        os.close(ready)
    asyncio.run(Keeper(socket_path(args.home), args.idle, args.max_sessions).serve(sock))
    return 0


if __name__ == "__main__":
    sys.exit(main())
