"""ctl: an asynchronous remote-execution controller over SSH, Ansible-compatible on disk.

The library API (the CLI is built on it)::

    from controller import Controller, Job, Targets
    targets = Targets.from_inventory(["hosts.yml"], "web")
    jid, launched = await Controller().run(targets, Job(["uptime"], timeout=600))

Names are imported on first use, so a command that needs none of them starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Controller": "api", "Job": "api", "Targets": "api", "Events": "events",
    "NoEvents": "events", "BadInput": "errors", "CtlError": "errors", "HostError": "errors",
    "HostFailed": "errors", "HostUnreachable": "errors", "InventoryError": "errors",
    "JidError": "errors", "OptionError": "errors", "PatternError": "errors",
    "RegistryError": "errors", "ConfigError": "errors", "VaultError": "errors",
    "TemplateError": "errors", "HostSpec": "hosts", "Registry": "registry",
    "HostResult": "results", "Status": "results", "ConnectOptions": "transport",
    "Settings": "settings", "FakeTransport": "transport.fake", "FakeHosts": "transport.fake",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'controller' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
