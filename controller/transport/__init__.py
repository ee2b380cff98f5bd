"""Transports: how ctl reaches a host. ``open_transport`` picks one for a HostSpec."""

from __future__ import annotations

from typing import Callable

from ..hosts import HostSpec
from .base import ConnectOptions, ExecResult, Transport

__all__ = ["ConnectOptions", "Connector", "ExecResult", "Transport", "open_transport"]

Connector = Callable[[HostSpec, ConnectOptions], Transport]  # open_transport's shape


def open_transport(spec: HostSpec, options: ConnectOptions) -> Transport:
    """The transport for one host. asyncssh is imported here, on the first connection, so
    commands that contact no host never load it."""
    if spec.connection == "local":
        from .local import LocalTransport
        return LocalTransport(spec)
    from .ssh import SshTransport
    return SshTransport(spec, options)
