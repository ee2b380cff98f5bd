"""What a front end hears while an operation runs. A leaf module: the library reports to it,
the output modes (``controller.render``) are built on it."""

from __future__ import annotations

from .results import HostResult


class NoEvents:
    """What a front end hears while an operation runs; this base hears and does nothing.
    ``controller.render`` builds the output modes on it."""

    def begin(self, op: str, jid: str | None, total: int) -> None:
        return None

    def result(self, op: str, result: HostResult) -> None:
        return None

    def poll_tick(self, jid: str, result: HostResult) -> None:
        return None

    def async_done(self, jid: str, result: HostResult) -> None:
        return None


Events = NoEvents  # the type front ends implement
