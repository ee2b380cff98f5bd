"""Bad input: one clear line on stderr naming what was wrong, exit 5, no host touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.ctl import Ctl
from tests.support.sshd_lab import SshdLab


def one_error_line(proc, *needles: str) -> None:
    assert proc.returncode == 5, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ctl: error: ")
    for needle in needles:
        assert needle in lines[0]
    assert proc.stdout == ""


def no_job_recorded(ctl: Ctl) -> None:
    listing = ctl("jobs", "--json")
    assert listing.stdout == "", "a job was recorded for bad input"


@pytest.mark.parametrize("jid", ["../../etc/passwd", "j1/../../x", "j123", "j1.2.3", "", "x" * 500,
                                 "j12345678901234.1", "j1.2\n"])
@pytest.mark.parametrize("command", ["poll", "cleanup"])
def test_malformed_jids_are_refused_before_any_host(ctl: Ctl, jid: str, command: str) -> None:
    one_error_line(ctl(command, jid, "-i", str(ctl.inventory)), "invalid jid")


def test_unknown_jid(ctl: Ctl) -> None:
    one_error_line(ctl("poll", "j123456.789", "--all-hosts"), "unknown jid j123456.789")
    one_error_line(ctl("cleanup", "j123456.789"), "unknown jid j123456.789")


def test_inventory_that_is_not_yaml_names_file_and_line(ctl: Ctl, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("all:\n  hosts:\n    h1: {ansible_port: 22\n    h2:\n")
    one_error_line(ctl("run", "-i", str(bad), "-B", "9", "-P", "0", "--", "true"),
                   str(bad), "line", "invalid YAML")
    no_job_recorded(ctl)


@pytest.mark.parametrize("content, needle", [
    ("", "inventory is empty"),
    ("all:\n  hosts: {}\n", "names no hosts"),
    ("- a\n- b\n", "must be a mapping"),
    ("all:\n  hosts:\n    h1: {ansible_port: eighty}\n", "ansible_port"),
    ("all:\n  hosts:\n    h1: {ansible_connection: telnet}\n", "ansible_connection"),
    ("all:\n  hosts:\n    h1: {ansible_ssh_private_key_file: /no/such/key}\n", "does not exist"),
    ("all:\n  hostz: {}\n", "unknown key 'hostz'"),
])
def test_bad_inventory_content(ctl: Ctl, tmp_path: Path, content: str, needle: str) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text(content)
    one_error_line(ctl("run", "-i", str(inv), "-B", "9", "-P", "0", "--", "true"), str(inv),
                   needle)
    no_job_recorded(ctl)


def test_missing_inventory_file(ctl: Ctl, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    one_error_line(ctl("run", "-i", str(missing), "-B", "9", "--", "true"), str(missing),
                   "not found")


def test_pattern_matching_nothing(ctl: Ctl) -> None:
    one_error_line(ctl("run", "-i", str(ctl.inventory), "-l", "web*", "-B", "9", "--", "true"),
                   "'web*'", "matches no host")
    no_job_recorded(ctl)


@pytest.mark.parametrize("args, needle", [
    (["-B", "9", "-P", "0"], "no command given"),
    (["-B", "9", "-P", "0", "--"], "no command given"),
    (["-B", "-1", "-P", "0", "--", "true"], "-B/--background"),
    (["-B", "0", "-P", "0", "--", "true"], "-B/--background"),
    (["-B", "9", "-P", "-3", "--", "true"], "-P/--poll"),
    (["-B", "nine", "--", "true"], "--background"),
    (["-B", "9", "--bogus", "--", "true"], "--bogus"),
    (["-B", "9", "-f", "0", "--", "true"], "--forks"),
])
def test_bad_run_options(ctl: Ctl, args: list[str], needle: str) -> None:
    one_error_line(ctl("run", "-i", str(ctl.inventory), *args), needle)
    no_job_recorded(ctl)


def test_run_without_inventory(ctl: Ctl) -> None:
    one_error_line(ctl("run", "-B", "9", "--", "true"), "no inventory")


def test_all_hosts_and_inventory_together(ctl: Ctl) -> None:
    one_error_line(ctl("poll", "j1.2", "--all-hosts", "-i", str(ctl.inventory)), "--all-hosts")


def test_no_host_is_touched_by_bad_input(ctl: Ctl, lab: SshdLab) -> None:
    """A jid with path characters must not reach any host: nothing may change there."""
    before = [lab.sh(h, "ls -a ~ | md5sum").stdout for h in lab.hosts]
    for jid in ("../../etc/passwd", "j1.1/../../../tmp"):
        ctl("cleanup", jid, "-i", str(ctl.inventory))
    assert [lab.sh(h, "ls -a ~ | md5sum").stdout for h in lab.hosts] == before
