"""Ansible's ad-hoc form of ctl run: -a/-m, the host pattern before the options."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.cli.adhoc import is_adhoc, module_job
from controller.errors import OptionError


@pytest.mark.parametrize("argv, expected", [
    (["run", "all", "-a", "id -un"], True),
    (["run", "-i", "h", "-m", "shell", "-a", "x"], True),
    (["run", "web", "-B", "30", "--args=uptime"], True),
    (["run", "-aid"], True),
    (["run", "-i", "h", "--", "all", "-a", "x"], False),  # after --: the command's own words
    (["run", "-i", "h", "--", "uptime"], False),
    (["poll", "j1.2", "-a"], False),
])
def test_the_ad_hoc_form_is_told_from_a_plain_run(argv: list[str], expected: bool) -> None:
    assert is_adhoc(argv) is expected


def test_command_module_splits_words_shell_module_keeps_the_line() -> None:
    assert module_job("command", "echo 'a b' c") == (["echo", "a b", "c"], None)
    assert module_job("shell", "echo $HOME | wc -c") == ("echo $HOME | wc -c", None)
    assert module_job("ansible.builtin.shell", "true") == ("true", None)


def test_script_module_reads_the_local_script(tmp_path: Path) -> None:
    script = tmp_path / "maint.sh"
    script.write_bytes(b"#!/bin/sh\necho maintenance \"$@\"\n")
    command, shipped = module_job("script", f"{script} --fast 'two words'")
    assert command == ["maint.sh", "--fast", "two words"]
    assert shipped == script.read_bytes()
    with pytest.raises(OptionError, match="Could not find or access"):
        module_job("script", str(tmp_path / "missing.sh"))


@pytest.mark.parametrize("module, args, needle", [
    ("raw", "uptime", "does not support async"),
    ("ping", "", "ctl runs commands"),
    ("command", "", "no command given"),
    ("command", "echo 'unclosed", "cannot split"),
])
def test_unsupported_modules_and_bad_args_are_one_line_errors(module: str, args: str,
                                                              needle: str) -> None:
    with pytest.raises(OptionError) as err:
        module_job(module, args)
    assert needle in err.value.message and "\n" not in err.value.message
