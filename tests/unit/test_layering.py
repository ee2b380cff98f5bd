"""The seams hold: no import cycle in the controller, commands that contact no host load no
SSH library (nor Jinja2, nor Textual, nor Dask-sized things), functions stay small."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE = ROOT / "controller"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """What a module imports when it is imported: module-level statements only (imports
    inside functions and under TYPE_CHECKING are taken on use)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[:len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in top_level_imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_no_import_cycle_in_the_controller() -> None:
    edges = graph()
    # a package's __init__ re-exporting its own modules is not a cycle of logic
    edges = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in edges.items()}
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        trail.append(node)
        for dep in sorted(edges[node]):
            if state.get(dep) == 1:
                cycle = trail[trail.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        trail.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    assert "controller.inventory.loader" in edges  # the walk saw the sub-packages


@pytest.mark.parametrize("argv", [["--version"], ["jobs"], ["show", "j1.2"], ["config"],
                                  ["watch", "--help"], ["poll", "--help"],
                                  ["--help"]])
def test_commands_that_contact_no_host_load_no_ssh_library(argv: list[str],
                                                           tmp_path: Path) -> None:
    code = ("import sys\nfrom controller.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit:\n    pass\nheavy = [m for m in ('asyncssh', 'jinja2', "
            "'cryptography', 'rich', 'markdown_it', 'pydantic', 'distributed', 'dask', "
            "'psycopg', 'textual') "
            "if m in sys.modules]\n"
            "print('HEAVY', heavy, file=sys.stderr)\n")
    env = dict(os.environ, CTL_HOME=str(tmp_path), HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)
    assert "HEAVY []" in proc.stderr, proc.stderr


@pytest.mark.parametrize("argv", [["--version"], ["jobs"]])
def test_a_command_imports_only_its_own_commands_module(argv: list[str],
                                                        tmp_path: Path) -> None:
    code = ("import sys\nfrom controller.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit:\n    pass\nprint('CLI', sorted(m for m in sys.modules "
            "if m.startswith('controller.cli.')), file=sys.stderr)\n")
    env = dict(os.environ, CTL_HOME=str(tmp_path), HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)
    loaded = proc.stderr.split("CLI ")[-1]
    for other in ("commands", "adhoc", "watch"):
        assert f"controller.cli.{other}'" not in loaded, proc.stderr
    assert ("controller.cli.views'" in loaded) == (argv == ["jobs"]), proc.stderr


def function_sizes() -> list[tuple[str, int, int]]:
    found = []
    for path in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "remote_payload").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                command = path.parent.name == "cli" and any(
                    isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "command"
                    for d in node.decorator_list)
                found.append((f"{path.relative_to(ROOT)}:{node.name}",
                              node.end_lineno - node.lineno + 1, 30 if command else 50))
    return found


def test_cli_commands_stay_within_30_lines_and_every_function_within_50() -> None:
    sizes = function_sizes()
    assert any(limit == 30 for _, _, limit in sizes)  # the commands were found
    too_long = [f"{name} ({lines} > {limit})" for name, lines, limit in sizes if lines > limit]
    assert not too_long
