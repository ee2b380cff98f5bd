"""Fold host names into compact ranges, as ClusterShell prints them: ``db2, web[01-03,07]``."""

from __future__ import annotations

import re
from typing import Iterable

_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


def _ranges(values: list[int], width: int) -> str:
    """Sorted numbers -> ``01-03,07`` (zero-padded to ``width``; 0 for none)."""
    parts: list[str] = []
    start = prev = values[0]
    for value in values[1:] + [-1]:
        if value == prev + 1:
            prev = value
            continue
        parts.append(f"{start:0{width}d}" if start == prev
                     else f"{start:0{width}d}-{prev:0{width}d}")
        start = prev = value
    return ",".join(parts)


def fold(names: Iterable[str]) -> str:
    """``["web01", "web02", "web03", "db2"]`` -> ``"db2, web[01-03]"``; a number as wide as
    the zero-padded ones joins them (``web[099-100]``), and ``h0`` is not padded."""
    found: dict[tuple[str, str], list[str]] = {}
    folded: list[str] = []
    for name in dict.fromkeys(names):
        match = _NUMBERED.match(name)
        if not match:
            folded.append(name)
            continue
        head, digits, tail = match.groups()
        found.setdefault((head, tail), []).append(digits)
    for (head, tail), all_digits in found.items():
        padded = {len(d) for d in all_digits if len(d) > 1 and d.startswith("0")}
        groups: dict[int, list[int]] = {}
        for digits in all_digits:
            groups.setdefault(len(digits) if len(digits) in padded else 0, []).append(
                int(digits))
        for width, numbers in groups.items():
            if len(numbers) == 1:
                folded.append(f"{head}{numbers[0]:0{width}d}{tail}")
            else:
                folded.append(f"{head}[{_ranges(sorted(numbers), width)}]{tail}")
    return ", ".join(sorted(folded))
