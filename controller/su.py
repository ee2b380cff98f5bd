"""become_method su: su's password prompt, answered on a pseudo-terminal.

su reads its password from a terminal only, so the remote command runs on one
(``Transport.tty``), built as Ansible's su become plugin builds it (no flags):
``su USER -c '/bin/sh -c SCRIPT'``. The conversation, each wait at most ``timeout`` seconds:

1. su's prompt (Ansible's list: ``Password`` and its translations, any case, then a colon)
   is answered with the password and a newline. The terminal is opened with echo off and
   su keeps it off while it reads, so the password is never echoed; it never goes in argv.
   su asks nothing when the login is root: the ready line then comes first.
2. SCRIPT's first act, once it runs as USER, is ``stty raw -echo`` (no line editing, no
   signal keys, no end-of-file key, no ``\\r\\n``, no echo: every byte passes as sent, both
   ways), then it prints the ready line ``CTL-BECOME-<token>``. su's own answer instead
   (``su: Authentication failure``), a second prompt, or silence fails the host.
3. stdin's bytes are sent as they are; ``dd bs=1 count=N`` hands exactly those N bytes to the
   command and ends its stdin there (a raw terminal has no end of file): the wrapper's
   request line, and its source when pushed, arrive byte for byte (its sha256 holds).
4. Everything after the ready line is the command's output, stdout and stderr merged (one
   terminal): the result carries it as both, for the callers' reply and error reading.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex
from typing import Awaitable, TypeVar

from .errors import HostFailed
from .transport.base import ExecResult, Transport, Tty

READY = "CTL-BECOME-"
# Ansible's su become plugin: SU_PROMPT_LOCALIZATIONS, matched as it does
PROMPTS = ("Password", "암호", "パスワード", "Adgangskode", "Contraseña", "Contrasenya", "Hasło",
           "Heslo", "Jelszó", "Lösenord", "Mật khẩu", "Mot de passe", "Parola", "Parool",
           "Pasahitza", "Passord", "Passwort", "Salasana", "Sandi", "Senha", "Wachtwoord",
           "ססמה", "Лозинка", "Парола", "Пароль", "गुप्तशब्द", "शब्दकूट", "సంకేతపదము", "හස්පදය",
           "密码", "密碼", "口令")
PROMPT = re.compile("(?:" + "|".join(map(re.escape, PROMPTS)) + r")\s*[:：]", re.IGNORECASE)
T = TypeVar("T")


def su_command(user: str, command: str, size: int, token: str) -> str:
    """``su USER -c '/bin/sh -c SCRIPT'``: SCRIPT makes the terminal raw, says it is ready,
    and feeds ``command`` the next ``size`` bytes as its stdin."""
    script = (f"stty raw -echo && echo {READY}{token} && "
              f"dd bs=1 count={size} 2>/dev/null | {command}")
    return f"su {shlex.quote(user)} -c " + shlex.quote("/bin/sh -c " + shlex.quote(script))


async def run(transport: Transport, user: str, password: str, command: str, stdin: bytes,
              timeout: float) -> ExecResult:
    """``command`` run as ``user`` through su, with ``stdin``; HostFailed("become failed:
    ...") when su refuses or does not answer in time."""
    token = secrets.token_hex(8)
    async with transport.tty(su_command(user, command, len(stdin), token)) as tty:
        output = [await answer(tty, password, f"{READY}{token}\n".encode(), timeout)]
        tty.write(stdin)
        while chunk := await tty.read():
            output.append(chunk)
        status = await tty.wait()
    merged = b"".join(output)
    return ExecResult(status, merged, merged)


async def answer(tty: Tty, password: str, ready: bytes, timeout: float) -> bytes:
    """Answer su's one password prompt and wait for the ready line; what followed it."""
    seen, answered = b"", -1  # answered: how much of ``seen`` was there when it was
    clock = asyncio.get_running_loop().time
    deadline = clock() + timeout
    while ready not in seen:
        waiting = "su's password prompt" if answered < 0 else \
            "su to accept the password (a wrong one?)"
        chunk = await within(tty.read(), deadline - clock(),
                             f"timed out after {timeout:g}s waiting for {waiting}")
        if not chunk:  # su said no (after the answer, its prompt is no reason)
            raise HostFailed("become failed: " + refusal(seen[max(answered, 0):], password,
                                                         await tty.wait()))
        seen += chunk
        if ready in seen or not PROMPT.search(seen[max(answered, 0):].decode("utf-8", "replace")):
            continue
        if answered >= 0:
            raise HostFailed("become failed: su asked for the password again (a wrong one?)")
        tty.write(password.encode("utf-8") + b"\n")
        answered, deadline = len(seen), clock() + timeout
    return seen[seen.index(ready) + len(ready):]


async def within(step: Awaitable[T], timeout: float, problem: str) -> T:
    try:
        return await asyncio.wait_for(step, max(timeout, 0))
    except asyncio.TimeoutError:
        raise HostFailed("become failed: " + problem) from None


def refusal(seen: bytes, password: str, status: int) -> str:
    """su's last line (``su: Authentication failure``), never holding the password."""
    lines = [line.strip() for line in seen.decode("utf-8", "replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    if password and password in last:
        last = last.replace(password, "********")
    return last or f"su exited with status {status} before running the command"
