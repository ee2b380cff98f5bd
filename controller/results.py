"""Typed results. Every host ends an operation with exactly one HostResult; renderers
(Ansible-style text, JSON) only read these values."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable

from .errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE


class Status(str, enum.Enum):
    CHANGED = "changed"
    OK = "ok"
    RUNNING = "running"
    FAILED = "failed"
    UNREACHABLE = "unreachable"

    @property
    def label(self) -> str:
        return {"changed": "CHANGED", "ok": "SUCCESS", "running": "SUCCESS",
                "failed": "FAILED!", "unreachable": "UNREACHABLE!"}[self.value]


@dataclass(frozen=True)
class HostResult:
    """One host's outcome. ``data`` is the Ansible-shaped result dict shown to the user."""

    host: str
    status: Status
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status is not Status.RUNNING

    @property
    def msg(self) -> str:
        return str(self.data.get("msg", ""))

    @classmethod
    def from_data(cls, host: str, data: dict[str, Any], status_read: bool = False) -> HostResult:
        """``status_read``: data is a job's status, where ``finished`` false means running."""
        status = classify(data)
        if status_read and status is not Status.FAILED and not truthy(data.get("finished")):
            status = Status.RUNNING
        return cls(host, status, data)

    @classmethod
    def unreachable(cls, host: str, msg: str) -> HostResult:
        return cls(host, Status.UNREACHABLE, {"changed": False, "msg": msg, "unreachable": True})

    @classmethod
    def failed(cls, host: str, msg: str, **extra: Any) -> HostResult:
        return cls(host, Status.FAILED, dict(extra, changed=False, failed=True, msg=msg))


def truthy(value: Any) -> bool:
    """Ansible writes 0/1 or false/true for started and finished; accept both."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def classify(data: dict[str, Any]) -> Status:
    if truthy(data.get("unreachable")):
        return Status.UNREACHABLE
    if truthy(data.get("failed")):
        return Status.FAILED
    return Status.CHANGED if truthy(data.get("changed")) else Status.OK


def exit_code(results: Iterable[HostResult]) -> int:
    """As the ansible CLI: 4 if any host was unreachable, else 2 if any failed, else 0."""
    statuses = {r.status for r in results}
    if Status.UNREACHABLE in statuses:
        return EXIT_UNREACHABLE
    if Status.FAILED in statuses:
        return EXIT_FAILED
    return EXIT_OK
