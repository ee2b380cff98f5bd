"""Parsing of human-friendly option values: durations, sizes, signal names."""

from __future__ import annotations

import re
import signal
from typing import Any, Sequence

from .errors import InventoryError, OptionError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_BYTES = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_duration(text: str, option: str) -> float:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` or plain seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise OptionError(f"{option} {text!r} is not a duration (e.g. 30s, 15m, 12h, 7d)")
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]


def parse_size(text: str, option: str) -> int:
    """``4M``, ``512k``, ``1G`` or plain bytes."""
    match = _SIZE.match(str(text))
    if not match:
        raise OptionError(f"{option} {text!r} is not a size (e.g. 512k, 4M, 1G)")
    return int(match.group(1)) * _BYTES[match.group(2).lower()]


def parse_signal(text: str) -> str:
    """``TERM``, ``SIGTERM``, ``term`` or ``15`` -> ``SIGTERM``."""
    name = str(text).strip().upper()
    if name.isdigit():
        try:
            return signal.Signals(int(name)).name
        except ValueError:
            pass
    else:
        name = name if name.startswith("SIG") else "SIG" + name
        if name in signal.Signals.__members__:
            return name
    raise OptionError(f"--signal {text!r} is not a signal name (e.g. TERM, INT, KILL, HUP)")


def parse_extra_vars(items: list[str], secrets: Sequence[Any] = ()) -> dict[str, object]:
    """``-e key=value``, ``-e @vars.yml`` (which may be vaulted, as in Ansible) or
    ``-e '{"json": 1}'``, later ones winning."""
    import json

    from .datafiles import load_yaml

    merged: dict[str, object] = {}
    for item in items:
        text = item.strip()
        if text.startswith("@"):
            try:
                data = load_yaml(text[1:], secrets, what="extra vars")
            except InventoryError as exc:
                raise OptionError(f"-e {exc.message}") from exc
        elif text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise OptionError(f"-e {text[:40]!r}: not valid JSON: {exc}") from exc
        else:
            data = {}
            for word in split_words(text):
                key, eq, value = word.partition("=")
                if not eq or not key:
                    raise OptionError(f"-e {word!r}: expected key=value, @file or JSON")
                data[key] = value
        if not isinstance(data, dict):
            raise OptionError(f"-e {text[:40]!r}: extra vars must be a mapping")
        merged.update(data)
    return merged


JINJA_OPEN, JINJA_CLOSE = ("{{", "{%", "{#"), ("}}", "%}", "#}")


def split_words(text: str) -> list[str]:
    """``key=value`` words as Ansible splits them: on blanks outside quotes (which are
    removed, as a shell would) and outside ``{{ }}``/``{% %}``/``{# #}`` (kept whole, quotes
    and all), so ``ansible_user={{ a | default('b c') }}`` stays one word."""
    words: list[str] = []
    word, quote, depth, i = "", "", 0, 0
    while i < len(text):
        pair, char = text[i:i + 2], text[i]
        if pair in JINJA_OPEN or (depth and pair in JINJA_CLOSE):
            depth += 1 if pair in JINJA_OPEN else -1
            word, i = word + pair, i + 2
            continue
        if depth:
            word += char
        elif quote:
            quote, word = ("", word) if char == quote else (quote, word + char)
        elif char in "'\"":
            quote = char
        elif char.isspace():
            words, word = (words + [word], "") if word else (words, word)
        else:
            word += char
        i += 1
    if quote or depth:
        raise OptionError(f"-e {text[:40]!r}: unbalanced {'quote' if quote else '{{ }}'}")
    return words + [word] if word else words
