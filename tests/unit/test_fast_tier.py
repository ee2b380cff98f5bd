"""Start-up and the fast tier: the fast tier runs on two processes only when every path
asked for is in it; a command line imports only its command's module."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from tests.conftest import fast_tier_only

ROOT = Path(__file__).resolve().parents[2]


def config(*args: str) -> SimpleNamespace:
    return SimpleNamespace(args=list(args), rootpath=ROOT)


def test_unit_and_integration_paths_are_the_fast_tier() -> None:
    assert fast_tier_only(config(str(ROOT / "tests/unit"), str(ROOT / "tests/integration")))
    assert fast_tier_only(config(str(ROOT / "tests/unit/test_vault.py") + "::test_fixture_headers"))


def test_any_e2e_path_or_the_whole_suite_runs_in_one_process() -> None:
    assert not fast_tier_only(config(str(ROOT / "tests")))
    assert not fast_tier_only(config(str(ROOT / "tests/unit"), str(ROOT / "tests/e2e")))
    assert not fast_tier_only(config())


def test_every_command_is_found_in_the_module_the_start_up_table_names() -> None:
    from controller.cli.funnel import COMMAND_MODULES, app, command_name, load_commands

    load_commands()
    declared = {command_name(info): info.callback.__module__.rpartition(".")[2]
                for info in app.registered_commands if info.callback}
    for group in app.registered_groups:  # ctl keeper status|stop
        assert group.typer_instance is not None
        first = group.typer_instance.registered_commands[0].callback
        declared[str(group.name)] = getattr(first, "__module__", "").rpartition(".")[2]
    assert declared == COMMAND_MODULES
