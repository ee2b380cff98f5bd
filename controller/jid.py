"""Job ids: ``j<random below 10**12>.<controller pid>``, as Ansible makes them."""

from __future__ import annotations

import os
import re
import secrets

from .errors import JidError

# Ansible's jids, old (no ``j``) and new, and nothing else: no path characters can pass.
JID_RE = re.compile(r"^j?[0-9]{1,12}\.[0-9]{1,10}\Z")


def new_jid() -> str:
    return f"j{secrets.randbelow(10**12)}.{os.getpid()}"


def check_jid(jid: str) -> str:
    """Return ``jid`` if it has the jid form, else raise JidError naming it."""
    if not isinstance(jid, str) or not JID_RE.match(jid):
        shown = repr(jid)[:80]
        raise JidError(f"invalid jid {shown}: a jid looks like j445703768934.50473")
    return jid
