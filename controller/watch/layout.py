"""The board's cells laid out in a given width and height: one cell per host (its state's
mark and its name) when they fit, else one line per inventory group or per folded range of
hosts (``web[001-125]``), each with a mark per host or a bar in proportion, and its counts.

A line is a list of ``(text, cell)`` pieces (``cell`` None: unstyled); the view paints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..hostlist import fold
from .board import LEGEND, Cell, HostView

Piece = tuple[str, "Cell | None"]
Line = list[Piece]
SHARED_GROUPS = ("all", "ungrouped")


@dataclass(frozen=True)
class Layout:
    lines: list[Line]
    folded: str | None  # None: one cell per host; else how they were folded ("range"...)


def lay_out(views: list[HostView], width: int, height: int) -> Layout:
    """Cells for ``views`` in ``width`` x ``height`` characters; never more lines than
    ``height`` (at least 1) nor wider than ``width``."""
    width, height = max(10, width), max(1, height)
    if not views:
        return Layout([], None)
    cell = max(len(v.name) for v in views) + 2  # mark, name, a space
    per_line = max(1, (width + 1) // cell)
    if math.ceil(len(views) / per_line) <= height and cell <= width + 1:
        return Layout([_cells(views[i:i + per_line], cell)
                       for i in range(0, len(views), per_line)], None)
    by_group = groups(views)
    if by_group is not None and len(by_group) <= height:
        rows = [(f"{label} ({len(members)})", members) for label, members in by_group]
        how = "group"
    else:
        size = math.ceil(len(views) / height)
        rows = [(fold(v.name for v in views[i:i + size]), views[i:i + size])
                for i in range(0, len(views), size)]
        how = "range"
    label_width = min(max(len(label) for label, _ in rows), max(8, width // 3))
    return Layout([_folded(label, members, width, label_width) for label, members in rows], how)


def _cells(views: list[HostView], cell: int) -> Line:
    line: Line = []
    for i, view in enumerate(views):
        line.append((f"{view.cell.glyph}{view.name}".ljust(cell - 1), view.cell))
        if i < len(views) - 1:
            line.append((" ", None))
    return line


def groups(views: list[HostView]) -> list[tuple[str, list[HostView]]] | None:
    """The hosts by inventory group, when each host is in exactly one group of its own (not
    ``all`` / ``ungrouped``) and there are at least two; else None."""
    found: dict[str, list[HostView]] = {}
    for view in views:
        own = [g for g in view.groups if g not in SHARED_GROUPS]
        if len(own) != 1:
            return None
        found.setdefault(own[0], []).append(view)
    return sorted(found.items()) if len(found) > 1 else None


def counts_text(members: list[HostView]) -> list[Piece]:
    tally = {cell: 0 for cell in (*LEGEND, Cell.PENDING)}
    for view in members:
        tally[view.cell] += 1
    pieces: list[Piece] = []
    for cell, n in tally.items():
        if n:
            pieces += [(" ", None), (f"{cell.glyph}{n}", cell)]
    return pieces


def _folded(label: str, members: list[HostView], width: int, label_width: int) -> Line:
    """``label  marks-or-bar  counts`` in ``width``: a mark per host when they fit, else
    each state's share of a bar."""
    counts = counts_text(members)
    counts_width = sum(len(t) for t, _ in counts)
    if label_width + 2 + counts_width > width:  # too narrow for the counts: marks only
        counts, counts_width = [], 0
    label_width = min(label_width, width - 2)
    shown = label if len(label) <= label_width else label[:label_width - 1] + "~"
    room = max(1, width - label_width - 1 - counts_width)
    line: Line = [(shown.ljust(label_width) + " ", None)]
    if len(members) <= room:
        line += [(v.cell.glyph, v.cell) for v in members]
        line.append((" " * (room - len(members)), None))
    else:
        line += _bar(members, room)
    return line + counts


def _bar(members: list[HostView], room: int) -> Line:
    """Each state's share of ``room`` characters (at least one for a state that has hosts)."""
    tally = {cell: sum(1 for v in members if v.cell is cell) for cell in (*LEGEND, Cell.PENDING)}
    present = {cell: n for cell, n in tally.items() if n}
    shares = {cell: max(1, math.floor(n / len(members) * room)) for cell, n in present.items()}
    while sum(shares.values()) > room:  # the minimum of one char each overshot: trim the largest
        biggest = max(shares, key=lambda c: shares[c])
        shares[biggest] -= 1
    leftover = room - sum(shares.values())
    if leftover and shares:
        shares[max(present, key=lambda c: present[c])] += leftover
    return [(cell.glyph * n, cell) for cell, n in shares.items() if n > 0]
