"""The full-screen view (Textual): the board at a glance, what went wrong, who is slow, and
keys to act. Everything shown is drawn from the watcher's board (``texts``); the work on the
hosts is the watcher's (``Controller.poll``, ``kill``, ``logs``).

Keys: q (or Ctrl-C) quit, leaving the job as it is; f failed only; tab switch list; o or
Enter a host's output, live; k kill the job on the selected host; K on every host (each
after a confirmation); r poll now. A dropped terminal (SIGHUP) or SIGTERM quits as q does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import DataTable, RichLog, Static

from ..results import HostResult, Status
from . import texts
from .board import PROBLEMS, HostView
from .layout import lay_out
from .watcher import Watcher

MAX_ROWS = 200  # rows per list: the titles give the full counts
REDRAW = 0.5  # seconds between redraws (results arriving, clocks ticking)
FIXED_LINES = 8  # heading, bar, legend, grid title, list titles and headers, help
HANGUP_GRACE = 5.0  # seconds a view whose terminal dropped may take to close
EXIT_HANGUP = 129  # 128 + SIGHUP, as a shell reports it


class HostGrid(Widget):
    """One cell per host (or folded lines) in whatever size the widget has."""

    def __init__(self, app: WatchApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owner = app

    def render(self) -> Text:
        return texts.cells(lay_out(self.owner.shown_hosts(), self.size.width,
                                   self.size.height))


class Confirm(ModalScreen[bool]):
    """Ask before acting: y yes, n or Escape no."""

    BINDINGS = [Binding("y", "answer(True)", "yes"), Binding("n", "answer(False)", "no"),
                Binding("escape", "answer(False)", "no")]
    DEFAULT_CSS = "Confirm { align: center middle; } " \
                  "#question { width: 60; height: auto; border: heavy red; padding: 1 2; }"

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(f"{self.question}\n\ny: yes, kill   n / Esc: no", id="question")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class Output(Screen[None]):
    """One host's output, live (``ctl logs JID HOST --follow``); stderr in red."""

    BINDINGS = [Binding("escape", "close", "back"), Binding("q", "close", "back")]
    DEFAULT_CSS = "#out-title { height: 1; text-style: bold; } RichLog { height: 1fr; }"

    def __init__(self, watcher: Watcher, host: str) -> None:
        super().__init__()
        self.watcher, self.host = watcher, host

    def compose(self) -> ComposeResult:
        yield Static(f"output of {self.host}, job {self.watcher.jid} (stderr in red)   "
                     "Esc / q: back", id="out-title")
        yield RichLog(max_lines=5000, wrap=True, markup=False, highlight=False, id="log")

    def on_mount(self) -> None:
        self.follower = self.run_worker(self.follow(), name=f"logs {self.host}")

    async def follow(self) -> None:
        log = self.query_one(RichLog)

        def sink(host: str, stream: str, line: str) -> None:
            log.write(Text(line, style="red" if stream == "stderr" else ""))

        for result in await self.watcher.logs(self.host, sink):
            ended = "job finished" if result.data.get("finished") else "stopped"
            log.write(Text(f"-- {ended}{': ' + result.msg if result.msg else ''} --",
                           style="dim"))

    def action_close(self) -> None:
        self.follower.cancel()  # this host's output only: the poll rounds go on
        self.app.pop_screen()


class WatchApp(App[list[HostResult]]):
    """``ctl watch``: returns the last round's results when it closes."""

    TITLE = "ctl watch"
    AUTO_FOCUS = "#problems"  # tab: who is slow, tab again: back
    CSS = """
    #head, #bar, #grid-title, #help { height: 1; }
    #legend { height: auto; }
    #grid { height: 1; }
    #lists { height: 1fr; min-height: 5; }
    #problems-list { width: 3fr; }
    #slow-list { width: 2fr; }
    .list-title { height: 1; text-style: bold; }
    DataTable { height: 1fr; }
    #help { color: $text-muted; }
    """
    BINDINGS = [
        Binding("q", "leave", "quit"),
        Binding("ctrl+c", "leave", show=False, priority=True),
        Binding("f", "failed_only", "failed only"),
        Binding("o", "open", "output"),
        Binding("k", "kill(False)", "kill host"),
        Binding("K", "kill(True)", "kill all"),
        Binding("r", "poll_now", "poll now"),
    ]

    def __init__(self, watcher: Watcher) -> None:
        super().__init__()
        self.watcher = watcher
        self.only_problems = False

    def compose(self) -> ComposeResult:
        yield Static(id="head")
        yield Static(id="bar")
        yield Static(id="legend")
        yield Static(id="grid-title")
        yield HostGrid(self, id="grid")
        with Horizontal(id="lists"):
            with Vertical(id="problems-list"):
                yield Static(id="problems-title", classes="list-title")
                yield DataTable(id="problems", cursor_type="row", zebra_stripes=True)
            with Vertical(id="slow-list"):
                yield Static(id="slow-title", classes="list-title")
                yield DataTable(id="slow", cursor_type="row", zebra_stripes=True)
        yield Static(texts.HELP, id="help")

    def on_mount(self) -> None:
        self.home = self.screen  # the board's screen: drawn even under a host's output
        self.redraw()
        self.set_interval(REDRAW, self.redraw)
        self.run_worker(self.watcher.run(self.redraw), name="poll")
        try:  # a dropped terminal or a TERM leaves as q does: the job untouched
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, self.hang_up)
            loop.add_signal_handler(signal.SIGTERM, self.action_leave)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass

    def hang_up(self) -> None:
        """The terminal is gone: leave as q does, with stdin, stdout and stderr on /dev/null
        so that no write blocks (Textual's writer thread dies on the first EIO, and its
        queue then fills up), and within ``HANGUP_GRACE`` seconds whatever happens."""
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        watchdog = threading.Timer(HANGUP_GRACE, os._exit, (EXIT_HANGUP,))
        watchdog.daemon = True
        watchdog.start()
        self.action_leave()

    # --- drawing ---------------------------------------------------------------------------

    def part(self, selector: str, kind: Any = Widget) -> Any:
        return self.home.query_one(selector, kind)

    def shown_hosts(self) -> list[HostView]:
        views = list(self.watcher.board.hosts.values())
        return [v for v in views if v.cell in PROBLEMS] if self.only_problems else views

    def redraw(self) -> None:
        board, width = self.watcher.board, self.size.width
        self.part("#head", Static).update(texts.heading(self.watcher, width))
        self.part("#bar", Static).update(texts.progress(board, width))
        self.part("#legend", Static).update(texts.legend(board))
        shown = self.shown_hosts()
        grid = self.part("#grid", HostGrid)
        layout = lay_out(shown, width, max(2, (self.size.height - FIXED_LINES) // 2))
        if grid.styles.height is None or grid.styles.height.value != len(layout.lines):
            grid.styles.height = max(1, len(layout.lines))  # the lists get the rest
        grid.refresh()
        self.part("#grid-title", Static).update(texts.grid_title(
            layout, len(shown), board.total, self.only_problems))
        problems, slow = board.problems(), board.slow()
        self.part("#problems-title", Static).update(
            f"{self.focus_mark('#problems')}What went wrong: {len(problems)} host(s)")
        self.part("#slow-title", Static).update(
            f"{self.focus_mark('#slow')}Who is slow: {len(slow)} running")
        name = min(16, max([4, *(len(n) for n in board.hosts)]))
        self.fill("#problems", problems, [("host", name), ("state", 7), ("rc", 3)],
                  texts.problem_row)
        wide = self.part("#slow", DataTable).size.width >= 48  # room for the quiet time
        self.fill("#slow", slow, [("host", name), ("elapsed", 7)] + [("quiet", 5)] * wide,
                  lambda v, w: texts.slow_row(board, v, w, wide))

    def focus_mark(self, selector: str) -> str:
        """``» `` before the title of the list the keys act on."""
        return "» " if self.part(selector, DataTable).has_focus else ""

    def fill(self, selector: str, views: list[HostView], columns: list[tuple[str, int]],
             row: Any) -> None:
        """Rows for ``views`` (the last column takes the width left), keeping the selected
        host selected; the columns are made again when the width changed."""
        table = self.part(selector, DataTable)
        selected = self.selected_in(table)
        rest = max(8, table.size.width - sum(w + 2 for _, w in columns) - 4)
        if getattr(table, "made_for", None) != (table.size.width, rest):
            table.clear(columns=True)
            for label, width in [*columns, ("last line", rest)]:
                table.add_column(label, width=width)
            table.made_for = (table.size.width, rest)  # type: ignore[attr-defined]
        table.clear()
        for view in views[:MAX_ROWS]:
            table.add_row(*row(view, rest), key=view.name)
        if selected is not None and selected in {v.name for v in views[:MAX_ROWS]}:
            table.move_cursor(row=table.get_row_index(selected), animate=False)

    @staticmethod
    def selected_in(table: DataTable) -> str | None:
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # no cursor row (yet)
            return None
        return str(key.value)

    def selected(self) -> str | None:
        """The host under the cursor of the focused list (else of the first that has one)."""
        tables = [self.part("#problems", DataTable), self.part("#slow", DataTable)]
        focused = [t for t in tables if t.has_focus]
        for table in focused + tables:
            host = self.selected_in(table)
            if host is not None:
                return host
        return None

    # --- keys ------------------------------------------------------------------------------

    def action_leave(self) -> None:
        self.exit(self.watcher.results)

    def action_failed_only(self) -> None:
        self.only_problems = not self.only_problems
        self.redraw()

    def action_poll_now(self) -> None:
        self.watcher.poll_now()

    def action_open(self) -> None:
        host = self.selected()
        if host is None:
            self.notify("no host selected: the lists are empty", severity="warning")
            return
        self.push_screen(Output(self.watcher, host))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.push_screen(Output(self.watcher, str(event.row_key.value)))

    def action_kill(self, every_host: bool) -> None:
        host = None if every_host else self.selected()
        if host is None and not every_host:
            self.notify("no host selected: choose one in a list first", severity="warning")
            return
        where = f"on every host ({self.watcher.board.total})" if every_host else f"on {host}"
        question = f"Kill job {self.watcher.jid} {where}? (as ctl kill: TERM, then KILL)"

        def answered(yes: bool | None) -> None:
            if yes:
                self.notify(f"killing {where}...")
                self.run_worker(self.kill(host, where), name="kill")

        self.push_screen(Confirm(question), answered)

    async def kill(self, host: str | None, where: str) -> None:
        results = await self.watcher.kill(host)
        killed = sum(1 for r in results if r.data.get("killed"))
        failed = [r for r in results if r.status in (Status.FAILED, Status.UNREACHABLE)]
        note = f"killed {where}: {killed} stopped, {len(results) - killed - len(failed)} " \
               f"already finished, {len(failed)} could not be reached"
        self.notify(note, severity="error" if failed else "information", timeout=8)
