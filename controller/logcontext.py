"""The (host, jid) of the work in progress, for log lines: set per host task, inherited by the
tasks asyncssh starts for that host's connection. A leaf module: the runner sets it, the
CLI's log formatter reads it."""

from __future__ import annotations

import contextvars

LOG_CONTEXT: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar(
    "ctl_log_context", default=("-", "-"))
