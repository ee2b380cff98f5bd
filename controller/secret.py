"""Secret values: text decrypted from an Ansible vault, and inline ``!vault`` values not yet
opened. Both stay in memory only: never in a log, the registry, a job file or ``--json``."""

from __future__ import annotations

from typing import Callable

MASK = "********"


class SecretText(str):
    """Text that came from a vault (decrypted, or rendered from a template that used a
    vaulted value). It is a ``str`` in every way but its repr, which never shows it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"SecretText({MASK!r})"


class Sealed:
    """An inline ``!vault`` value: decrypted on first use (``reveal``), as Ansible does, so an
    unused vaulted value with no secret given costs nothing and fails nothing."""

    __slots__ = ("ciphertext", "_opener", "_opened")

    def __init__(self, ciphertext: str, opener: Callable[[], SecretText]) -> None:
        self.ciphertext = ciphertext
        self._opener = opener
        self._opened: SecretText | None = None

    def reveal(self) -> SecretText:
        if self._opened is None:
            self._opened = self._opener()
        return self._opened

    def to_json(self) -> dict[str, str]:
        """How ``ansible-inventory --list`` shows a value it has not decrypted."""
        return {"__ansible_vault": self.ciphertext}

    def __repr__(self) -> str:
        return "Sealed(!vault)"


def is_secret(value: object) -> bool:
    return isinstance(value, (SecretText, Sealed))
