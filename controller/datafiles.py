"""YAML and JSON files the user gives ctl (inventories, vars files, ``-e @file``), read with
errors that name the file and the line. Vaulted files and inline ``!vault`` values are
handled here (``controller.vault``), for every kind of file alike."""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

from .errors import InventoryError, OptionError
from .vault import VaultSecret, load_vars_text


def read_text(path: str, what: str = "inventory") -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read {what}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{path}: {what} is not UTF-8 text") from exc


def read_bytes(path: str, explain: Callable[[str], str]) -> bytes:
    """A local file the user named (``~`` expanded), or an OptionError: ``explain(reason)``."""
    try:
        with open(os.path.expanduser(path), "rb") as f:
            return f.read()
    except OSError as exc:
        raise OptionError(explain(exc.strerror or str(exc))) from None


def load_yaml(path: str, secrets: Sequence[VaultSecret] = (), what: str = "inventory") -> Any:
    """A YAML (or JSON) file's content; a vaulted file is decrypted with ``secrets``, an
    inline ``!vault`` value stays sealed until it is used."""
    return load_vars_text(read_text(path, what), secrets, path)
