"""ctl's errors: one hierarchy, each error knows its exit code.

    CtlError                      anything ctl reports as one line (exit 1)
    ├── BadInput                  the user's input is wrong; nothing was touched (exit 5)
    │   ├── InventoryError        an inventory file, host or variable is wrong
    │   ├── PatternError          a host pattern matches nothing
    │   ├── JidError              a jid is malformed or unknown
    │   ├── OptionError           a command-line option is wrong
    │   ├── ConfigError           ansible.cfg or an ANSIBLE_* variable is wrong
    │   ├── VaultError            a vault secret is missing or wrong, or a vault is damaged
    │   └── TemplateError         a {{ }} variable cannot be rendered (undefined, unsupported)
    ├── RegistryError             the local job registry cannot be read or written (exit 1)
    └── HostError                 one host's trouble; becomes that host's result, never a crash
        ├── HostUnreachable       could not connect or authenticate (UNREACHABLE!, exit 4)
        └── HostFailed            connected, but the remote side failed (FAILED!, exit 2)

Exit codes follow the ``ansible`` CLI: 0 ok, 2 a host failed, 4 a host unreachable,
5 bad options or input, 99 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 2
EXIT_UNREACHABLE = 4
EXIT_BAD_INPUT = 5
EXIT_INTERRUPTED = 99


class CtlError(Exception):
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(CtlError):
    exit_code = EXIT_BAD_INPUT


class InventoryError(BadInput):
    pass


class PatternError(BadInput):
    pass


class JidError(BadInput):
    pass


class OptionError(BadInput):
    pass


class ConfigError(BadInput):
    pass


class VaultError(BadInput):
    pass


class TemplateError(BadInput):
    pass


class RegistryError(CtlError):
    pass


class HostError(CtlError):
    exit_code = EXIT_FAILED


class HostUnreachable(HostError):
    exit_code = EXIT_UNREACHABLE


class HostFailed(HostError):
    exit_code = EXIT_FAILED
