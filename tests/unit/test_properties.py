"""Property-based: whatever the arguments or the inventory, ctl answers with a message and an
exit code, never a traceback (hypothesis drives the real CLI entry point in-process)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.cli import main
from controller.errors import CtlError
from controller.inventory import load_inventory

COMMANDS = ["run", "poll", "cleanup", "kill", "logs", "jobs", "show", "--version", "bogus"]
TOKENS = st.one_of(
    st.sampled_from(["-i", "-l", "-B", "-P", "-f", "-T", "--", "--shell", "--json", "-o", "-g",
                     "-t", "--all-hosts", "--wait", "--retries", "--delay", "--signal",
                     "--grace", "--older-than", "--cleanup-after", "--output-cap", "-v",
                     "j1.2", "../../etc/passwd", "j123456789012.99", "-1", "0", "1e9", "nan",
                     "all", "web*", "~[", "a:&b", "@/nonexistent", "7d", "KILL", "4M"]),
    st.text(max_size=30))


def call(argv: list[str], home: Path) -> tuple[int, str]:
    err = io.StringIO()
    out = io.StringIO()
    old = dict(os.environ)
    os.environ.update(CTL_HOME=str(home), HOME=str(home), NO_COLOR="1")
    cwd = os.getcwd()
    os.chdir(home)  # -t DIR and friends create files relative to here: keep them in the tmp
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                main(argv)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(old)
    return code, err.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(COMMANDS), args=st.lists(TOKENS, max_size=8))
def test_cli_never_tracebacks(tmp_path: Path, command: str, args: list[str]) -> None:
    argv = [command, *args]
    if command == "run" and "-i" not in args:
        argv += ["-T", "0.5"]
    code, err = call(argv, tmp_path)
    assert isinstance(code, int)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    if code == 5:
        assert err.strip().startswith("ctl: error:") or "Usage" in err, (argv, err)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=12),
                    st.floats(allow_nan=True))
KEYS = st.sampled_from(["all", "hosts", "vars", "children", "web", "h1", "h[1:3]", "db-[a:c]",
                        "ansible_port", "ansible_host", "ansible_connection", "ansible_user",
                        "ansible_async_dir", "ansible_group_priority", "x"])
TREES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(KEYS, st.text(max_size=6)), inner,
                                                 max_size=4)), max_leaves=20)


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=TREES)
def test_any_inventory_loads_or_is_refused_with_a_clear_error(tmp_path: Path, tree) -> None:
    path = tmp_path / "inv.yml"
    try:
        path.write_text(yaml.safe_dump(tree, allow_unicode=True))
    except Exception:  # noqa: BLE001  (hypothesis made something YAML cannot write)
        return
    try:
        inv = load_inventory([str(path)], env={})
    except CtlError as exc:
        assert str(path) in exc.message or "inventory" in exc.message
        assert "\n" not in exc.message
        return
    assert inv.specs  # loaded: it names at least one host


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_any_text_as_inventory(tmp_path: Path, text: str) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_inventory([str(path)], env={})
    except CtlError as exc:
        assert "\n" not in exc.message


@pytest.mark.parametrize("jid", ["j1.2\x00", "\x00", "j1.2/../x", "j" + "9" * 5000 + ".1"])
def test_nul_and_huge_jids_in_process(tmp_path: Path, jid: str) -> None:
    code, err = call(["poll", jid, "-i", "h1,"], tmp_path)
    assert code == 5 and "invalid jid" in err
