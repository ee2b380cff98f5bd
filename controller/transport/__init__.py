"""Transports: how ctl reaches a host. ``open_transport`` picks one for a HostSpec."""

from __future__ import annotations

from ..hosts import HostSpec
from .base import ConnectOptions, ExecResult, Transport
from .local import LocalTransport
from .ssh import SshTransport

__all__ = ["ConnectOptions", "ExecResult", "Transport", "open_transport"]


def open_transport(spec: HostSpec, options: ConnectOptions) -> Transport:
    if spec.connection == "local":
        return LocalTransport(spec)
    return SshTransport(spec, options)
