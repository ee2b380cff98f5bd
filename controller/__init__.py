"""ctl: an asynchronous remote-execution controller over SSH, Ansible-compatible on disk.

The library API (the CLI is built on it)::

    from controller import Controller, Job, Targets
    targets = Targets.from_inventory(["hosts.yml"], "web")
    jid, launched = await Controller().run(targets, Job(["uptime"], timeout=600))
"""

from .api import Controller, Events, Job, NoEvents, Targets
from .errors import (
                     BadInput,
                     CtlError,
                     HostError,
                     HostFailed,
                     HostUnreachable,
                     InventoryError,
                     JidError,
                     OptionError,
                     PatternError,
                     RegistryError,
)
from .hosts import HostSpec
from .registry import Registry
from .results import HostResult, Status
from .transport import ConnectOptions

__version__ = "0.1.0"

__all__ = [
    "BadInput", "ConnectOptions", "Controller", "CtlError", "Events", "HostError",
    "HostFailed", "HostResult", "HostSpec", "HostUnreachable", "InventoryError", "JidError",
    "Job", "NoEvents", "OptionError", "PatternError", "Registry", "RegistryError", "Status",
    "Targets", "__version__",
]
