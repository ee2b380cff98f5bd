"""The host contract, checked without a host: the controller takes from the remote wrapper
only the names its ``CONTRACT`` lists, each of them lives in the wrapper's contract section,
every request carries exactly the fields the wrapper declares (and reads), and the wrapper
stays one standard-library file for Python 3.6."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest

from controller import payload, protocol
from remote_payload import ctl_async_wrapper as wrapper

ROOT = Path(__file__).resolve().parents[2]
WRAPPER_FILE = ROOT / "remote_payload" / "ctl_async_wrapper.py"
PACKAGE, MODULE = "remote_payload", "ctl_async_wrapper"
DOTTED = f"{PACKAGE}.{MODULE}"


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _module_aliases(tree: ast.AST) -> set[str]:
    """The dotted names that stand for the wrapper module in a module's code."""
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            aliases |= {a.asname or a.name for a in node.names if a.name == MODULE}
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == DOTTED:
                    aliases.add(a.asname or DOTTED)
                elif a.name == PACKAGE:
                    aliases.add(f"{a.asname or PACKAGE}.{MODULE}")
    return aliases


def taken_from_wrapper(source: str) -> set[str]:
    """The names a module takes from the wrapper: ``from <wrapper> import NAME`` and
    ``<alias>.NAME``. Any other use of the module (a star import, the module passed on or
    read with getattr) fails: it could take names this scan cannot see."""
    tree = ast.parse(source)
    aliases = _module_aliases(tree)
    taken: set[str] = set()
    reads: set[int] = set()  # ids of the alias nodes that are followed by .NAME
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == DOTTED:
            assert all(a.name != "*" for a in node.names), "a star import from the wrapper"
            taken |= {a.name for a in node.names}
        elif isinstance(node, ast.Attribute) and _dotted(node.value) in aliases:
            taken.add(node.attr)
            reads.add(id(node.value))
    simple = {a for a in aliases if "." not in a}
    strays = [n.lineno for n in ast.walk(tree)
              if isinstance(n, ast.Name) and n.id in simple and id(n) not in reads]
    assert not strays, f"the wrapper module used other than as module.NAME at lines {strays}"
    return taken


def controller_takes() -> dict[str, set[str]]:
    """Each controller module's names taken from the wrapper."""
    return {str(path.relative_to(ROOT)): taken_from_wrapper(path.read_text())
            for path in sorted((ROOT / "controller").rglob("*.py"))}


def test_the_scan_sees_every_way_a_module_takes_a_name() -> None:
    source = """
from remote_payload import ctl_async_wrapper as w
from remote_payload.ctl_async_wrapper import valid_jid, lost_reason as why
import remote_payload.ctl_async_wrapper
import remote_payload.ctl_async_wrapper as w2
class Facts(w.HostFacts):
    pass
w.status_result(w2.VERSION, remote_payload.ctl_async_wrapper.NOT_FOUND)
"""
    assert taken_from_wrapper(source) == {"HostFacts", "status_result", "VERSION",
                                          "NOT_FOUND", "valid_jid", "lost_reason"}
    for sneaky in ("f = getattr(w, 'x')", "g(w)", "from remote_payload.ctl_async_wrapper "
                   "import *"):
        with pytest.raises(AssertionError):
            taken_from_wrapper("from remote_payload import ctl_async_wrapper as w\n" + sneaky)


def test_the_controller_takes_only_contract_names_from_the_wrapper() -> None:
    outside = {f"{path}: {name}" for path, names in controller_takes().items()
               for name in names - set(wrapper.CONTRACT)}
    assert not outside, "not in the wrapper's CONTRACT: " + ", ".join(sorted(outside))


def test_the_contract_lists_only_names_in_use() -> None:
    used = set().union(*controller_takes().values())
    assert 'g["main"](q,a)' in payload.BOOTSTRAP  # the bootstrap's entry point
    assert set(wrapper.CONTRACT) - used - {"main"} == set()
    assert len(set(wrapper.CONTRACT)) == len(wrapper.CONTRACT)


def _sections() -> dict[str, range]:
    lines = WRAPPER_FILE.read_text().splitlines()
    starts = [(i + 1, line[6:].split(":")[0]) for i, line in enumerate(lines)
              if line.startswith("# === ")]
    ends = [start for start, _ in starts[1:]] + [len(lines) + 1]
    return {name: range(start, end) for (start, name), end in zip(starts, ends)}


def _definitions() -> dict[str, int]:
    """Line of each top-level name the wrapper defines."""
    found: dict[str, int] = {}
    for node in ast.parse(WRAPPER_FILE.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = node.lineno
        elif isinstance(node, ast.Assign):
            found.update((t.id, node.lineno) for t in node.targets if isinstance(t, ast.Name))
    return found


def test_the_wrapper_is_in_its_four_sections_and_the_contract_names_in_its_contract() -> None:
    sections = _sections()
    assert list(sections) == ["compat", "contract", "process", "ops"]
    lines = _definitions()
    for name in wrapper.CONTRACT:
        assert hasattr(wrapper, name), name
        assert lines[name] in sections["ops" if name == "main" else "contract"], name


def _builders() -> dict[str, dict[str, Any]]:
    launch = protocol.launch("/d", "j1.2", ["true"], False, 60, 4096, None)
    return {"launch": launch, "supervise": protocol.supervise(launch),
            "status": protocol.status("/d", "j1.2", 3), "cleanup": protocol.cleanup("/d", "j1.2"),
            "kill": protocol.kill("/d", "j1.2", "SIGTERM", 5),
            "logs": protocol.logs("/d", "j1.2", {"stdout": 0, "stderr": 0}, 1024),
            "gc": protocol.gc("/d", None)}


def test_every_request_carries_exactly_the_wrappers_fields() -> None:
    built = _builders()
    assert set(built) == set(wrapper.REQUESTS) == set(wrapper.OPS) | {"gc"}
    for op, request in built.items():
        assert request["op"] == op and request["async_dir"] == "/d"
        assert set(request) == {"op", "async_dir", *wrapper.REQUESTS[op]}, op
    assert built["kill"] == {"op": "kill", "jid": "j1.2", "signal": "SIGTERM", "grace": 5,
                             "async_dir": "/d"}
    with pytest.raises(ValueError, match="kill request has the fields jid, signal, grace"):
        protocol._request("kill", "/d", jid="j1.2")
    with pytest.raises(ValueError):
        protocol.supervise(built["status"])


REQUEST = ("request", "self.request")  # the names the wrapper gives a request


def _request_keys_read(tree: ast.AST) -> set[str]:
    """``request["x"]`` and ``request.get("x", ...)`` in the wrapper (or self.request)."""
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _dotted(node.value) in REQUEST:
            key = node.slice
        elif isinstance(node, ast.Call) and _dotted(node.func) in {f"{r}.get" for r in REQUEST}:
            key = node.args[0]
        else:
            continue
        assert isinstance(key, ast.Constant), ast.unparse(node)
        keys.add(key.value)
    return keys


def test_the_wrapper_reads_every_declared_request_field_and_no_other() -> None:
    declared = set().union(*wrapper.REQUESTS.values())
    assert _request_keys_read(ast.parse(WRAPPER_FILE.read_text())) == declared | {"op"}


def test_not_found_is_the_wrappers_missing_job_reply() -> None:
    assert protocol.not_found(wrapper.not_found("j1.2", {"job": "/d/j1.2"}))
    assert protocol.not_found(wrapper.status_result("j1.2", "/d/j1.2", None, "missing"))
    assert not protocol.not_found(wrapper.cleanup_result("j1.2", "/d/j1.2", erased=False))
    assert not protocol.not_found({"msg": "job lost"}) and not protocol.not_found({})


def test_the_wrapper_stays_one_standard_library_file_for_python_3_6() -> None:
    tree = ast.parse(WRAPPER_FILE.read_text(), feature_version=(3, 6))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module and not n.level}
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))
    stdlib = getattr(sys, "stdlib_module_names", None)
    assert imported - {"controller", "remote_payload", "tests"} == imported
    if stdlib is not None:
        assert imported <= set(stdlib), imported - set(stdlib)
