"""The one Registry interface, and which registry a command uses.

The default is SQLite under ``$CTL_HOME`` (``controller.registry``), seen by one machine.
``--registry URL`` / ``CTL_REGISTRY=postgresql://user@host:port/db`` puts it in PostgreSQL
(``controller.registry_pg``, imported only then), shared by every controller machine that
names it. Both keep the same rows and never a secret.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol

from .errors import OptionError
from .hosts import HostSpec
from .registry import HostRow, JobRow, Registry
from .results import HostResult

PG_SCHEMES = ("postgresql://", "postgres://")


class JobRegistry(Protocol):
    """What the controller and the views ask of a registry (``Registry`` is the reference)."""

    path: str  # where it lives, for messages (a URL's password is never in it)

    def create_job(self, jid: str, command: list[str] | str, shell: bool, timeout: int,
                   poll: int, inventory: list[str], hosts: Iterable[tuple[HostSpec, list[str]]],
                   options: Mapping[str, Any] | None = None) -> None: ...

    def record(self, jid: str, updates: Iterable[tuple[HostResult, str | None]]) -> None: ...

    def set_job_state(self, jid: str, state: str) -> None: ...

    def job(self, jid: str) -> JobRow: ...

    def find_job(self, jid: str) -> JobRow | None: ...

    def hosts(self, jid: str) -> list[HostRow]: ...

    def jobs(self, limit: int | None = None) -> list[JobRow]: ...

    def host_counts(self, jid: str) -> dict[str, int]: ...


def open_registry(url: str | None = None, home: str | None = None, **options: Any
                  ) -> JobRegistry:
    """SQLite in ``home`` (``$CTL_HOME``) without a URL; PostgreSQL for a postgresql:// one."""
    if not url:
        return Registry(home)
    if url.startswith(PG_SCHEMES):
        from .registry_pg import PgRegistry

        return PgRegistry(url, **options)
    raise OptionError(f"--registry {url.split('://')[0]}://...: not a registry ctl knows; "
                      "give postgresql://user@host:port/db (or nothing, for SQLite in "
                      "$CTL_HOME)")
