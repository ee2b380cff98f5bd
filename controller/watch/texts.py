"""The view's lines as rich ``Text``, from the watcher and its board (no Textual here): the
heading, the progress line (bar, counts, ETA, histogram of finish times), the legend with
totals, the host cells, and the rows of the two lists."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from rich.text import Text

from .board import LEGEND, Board, Cell, HostView, clock_text, sparkline
from .layout import Layout

if TYPE_CHECKING:
    from .watcher import Watcher

STYLES = {Cell.RUNNING: "bold white on blue", Cell.OK: "black on green",
          Cell.FAILED: "bold white on red", Cell.UNREACHABLE: "bold white on magenta",
          Cell.LOST: "black on yellow", Cell.NEVER: "black on white", Cell.PENDING: "dim"}
HELP = "q quit | f failed only | tab list | o output | k kill host | K kill all | r poll"
HISTOGRAM_BINS = 12


def styled(text: str, cell: Cell | None) -> Text:
    return Text(text, style=STYLES[cell] if cell is not None else "")


def heading(watcher: Watcher, width: int) -> Text:
    """``ctl watch JID  COMMAND`` then where polling stands."""
    board = watcher.board
    if not watcher.rounds and not watcher.polling:
        pace = "starting..."
    elif watcher.polling:
        heard = sum(1 for v in board.hosts.values() if v.result is not None)
        pace = f"round {watcher.rounds + 1} polling... ({heard}/{board.total} heard)" \
            if not watcher.rounds else f"round {watcher.rounds + 1} polling..."
    elif watcher.error:
        pace = f"poll failed: {watcher.error}; retrying in {watcher.interval:.0f}s"
    elif board.settled:
        pace = "every host finished; r polls again"
    else:
        pace = f"round {watcher.rounds} took {watcher.last_round or 0:.1f}s; every " \
               f"{watcher.interval:.0f}s"
    command = watcher.command
    shown = command if isinstance(command, str) or command is None else shlex.join(command)
    head = f"ctl watch {watcher.jid}"
    room = width - len(head) - len(pace) - 4
    if shown and room > 5:
        head += "  " + (shown if len(shown) <= room else shown[:room - 3] + "...")
    text = Text(head, style="bold")
    text.append(" " * max(2, width - len(head) - len(pace)) + pace)
    return text


def progress(board: Board, width: int) -> Text:
    """``[bar] 40/60 67%  eta 1:20  took ▁▂▇▃ up to 0:42``."""
    done, total = board.finished, board.total
    percent = int(done * 100 / total) if total else 100
    eta = board.eta()
    counts, top = board.histogram(HISTOGRAM_BINS)
    tail = f" {done}/{total} {percent:3d}%  eta {clock_text(eta)}"
    histo = f"  took {sparkline(counts)} <={clock_text(top)}" if board.durations() else ""
    bar_width = max(5, width - len(tail) - len(histo))
    filled = round(bar_width * done / total) if total else bar_width
    text = Text("=" * filled, style="green")
    text.append("-" * (bar_width - filled), style="dim")
    text.append(tail)
    text.append(histo)
    return text


def legend(board: Board) -> Text:
    """Each state's mark and colour, with its count (``ctl poll --json``'s statuses, with
    lost and never-started told apart from failed)."""
    counts = board.counts()
    text = Text()
    for cell in LEGEND:
        text.append(f"{cell.glyph} {cell.value} {counts[cell]}", style=STYLES[cell])
        text.append("  ")
    if counts[Cell.PENDING]:
        text.append(f"{Cell.PENDING.glyph} not heard yet {counts[Cell.PENDING]}", style="dim")
    return text


def cells(layout: Layout) -> Text:
    text = Text(no_wrap=True, overflow="crop")
    for i, line in enumerate(layout.lines):
        if i:
            text.append("\n")
        for piece, cell in line:
            text.append_text(styled(piece, cell))
    return text


def grid_title(layout: Layout, shown: int, total: int, only_problems: bool) -> str:
    what = "failed, unreachable, lost, never started" if only_problems else "hosts"
    how = {None: "one cell each", "group": "by inventory group",
           "range": "folded ranges"}[layout.folded]
    return f"{what}: {shown} of {total}, {how}" + ("  (f: all)" if only_problems else "")


def clip(text: str, width: int) -> str:
    width = max(1, width)
    return text if len(text) <= width else text[:max(0, width - 1)] + "~"


SHORT = {Cell.UNREACHABLE: "unreach", Cell.NEVER: "never"}  # in a 7-wide column


def problem_row(view: HostView, line_width: int) -> tuple[Text, Text, str, str]:
    return (Text(view.name), styled(SHORT.get(view.cell, view.cell.value), view.cell),
            view.rc, clip(view.line, line_width))


def slow_row(board: Board, view: HostView, line_width: int, quiet: bool = True
             ) -> tuple[str, ...]:
    """host, elapsed (``+``: since the watch saw it, at least that), [quiet,] last line."""
    elapsed = clock_text(board.elapsed(view)) + ("" if board.launched is not None else "+")
    line = clip(view.line, line_width)
    if not quiet:
        return view.name, elapsed, line
    silent = board.clock() - view.quiet_since if view.quiet_since is not None else None
    return view.name, elapsed, clock_text(silent), line
