"""Job ids: ``j<random below 10**12>.<controller pid>``, as Ansible makes them."""

from __future__ import annotations

import os
import secrets

from remote_payload.ctl_async_wrapper import valid_jid  # one check, here and on the hosts

from .errors import JidError


def new_jid() -> str:
    return f"j{secrets.randbelow(10**12)}.{os.getpid()}"


def check_jid(jid: str) -> str:
    """Return ``jid`` if it has the jid form, else raise JidError naming it."""
    if not valid_jid(jid):
        shown = repr(jid)[:80]
        raise JidError(f"invalid jid {shown}: a jid looks like j445703768934.50473")
    return jid
