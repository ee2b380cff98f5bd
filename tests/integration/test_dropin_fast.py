"""The drop-in for an Ansible project, in-process over the local connection: ansible.cfg and
ANSIBLE_* read as Ansible reads them, templated and vaulted variables, the ad-hoc form with
its modules, ctl config. (tests/e2e/test_ansible_shop.py runs the same against real sshd
hosts with real ansible beside ctl.)"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.fast import Cli

PASSWORD = "drop-in-vault-password"


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """An Ansible-style project in the current directory: ansible.cfg naming an inventory
    directory with group_vars (templated) and a vault password file."""
    cli = Cli(tmp_path, monkeypatch)
    inv = tmp_path / "inventories" / "production"
    (inv / "group_vars" / "all").mkdir(parents=True)
    hosts = {h: {"ansible_async_dir": str(cli.async_dir(h))} for h in ("web1", "web2")}
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "web": {"hosts": hosts}}}}))
    (inv / "group_vars" / "all" / "main.yml").write_text(yaml.safe_dump({
        "ansible_connection": "{{ 'lo' ~ 'cal' }}", "ansible_python_interpreter": sys.executable,
        "greeting": "hello from {{ inventory_hostname_short }}"}))
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "vault.txt").write_text(PASSWORD + "\n")
    (tmp_path / "ansible.cfg").write_text(
        "[defaults]\ninventory = inventories/production\nforks = 7\n"
        "vault_password_file = secrets/vault.txt\n")
    os.chmod(tmp_path, 0o755)  # not world-writable: ./ansible.cfg counts
    return cli


def test_no_inventory_option_uses_the_cfgs_and_renders_the_hosts_variables(shop: Cli) -> None:
    run = shop("run", "-B", "20", "-P", "1", "-o", "-a", "echo {{ greeting }}", code=0)
    assert "web1 | CHANGED | rc=0 | (stdout) hello from web1" in run.out
    assert "web2 | CHANGED | rc=0 | (stdout) hello from web2" in run.out


def test_ansible_env_wins_over_the_cfg_and_options_over_both(shop: Cli,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    assert "forks = 7" in shop("config", code=0).out
    monkeypatch.setenv("ANSIBLE_FORKS", "9")
    rows = json.loads(shop("config", "--json", code=0).out)["settings"]
    assert rows["forks"] == {"value": 9, "from": "env ANSIBLE_FORKS"}
    assert rows["inventory"]["from"].endswith("ansible.cfg:2 [defaults] inventory")


def test_the_pattern_before_the_options_selects_hosts_and_is_never_the_command(shop: Cli
                                                                              ) -> None:
    run = shop("run", "web2", "-B", "20", "-P", "1", "-o", "-m", "shell", "-a",
               "echo $((6 * 7))", code=0)
    assert "web2 | CHANGED | rc=0 | (stdout) 42" in run.out and "web1" not in run.out


def test_script_module_runs_the_local_script_on_the_host(shop: Cli, tmp_path: Path) -> None:
    script = tmp_path / "maint.sh"
    script.write_text("#!/bin/sh\necho \"maintenance $1 in $(basename \"$PWD\")\"\n")
    run = shop("run", "web1", "-B", "20", "-P", "1", "-o", "-m", "script", "-a",
               f"{script} now", code=0)
    assert "(stdout) maintenance now" in run.out


def test_command_module_expands_vars_and_tilde_on_the_host(shop: Cli, tmp_path: Path) -> None:
    run = shop("run", "web1", "-B", "20", "-P", "1", "-o", "-a", "echo $HOME ~", code=0)
    home = os.environ["HOME"]
    assert f"(stdout) {home} {home}" in run.out


def test_a_vaulted_vars_file_is_opened_with_the_cfgs_password(shop: Cli, tmp_path: Path
                                                             ) -> None:
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(PASSWORD.encode()))])
    secret_file = tmp_path / "inventories" / "production" / "group_vars" / "all" / "vault.yml"
    secret_file.write_bytes(vault.encrypt(b"vault_word: sesame\n"))
    run = shop("run", "web1", "-B", "20", "-P", "1", "-o", "-a", "echo opened", code=0)
    assert "(stdout) opened" in run.out and "sesame" not in run.out + run.err
    view = json.loads(shop("inventory", "--host", "web1", code=0).out)
    assert view["vars"]["vault_word"] == "********"  # decrypted, and masked
    (tmp_path / "secrets" / "vault.txt").write_text("wrong\n")
    line = shop("run", "web1", "-B", "20", "-P", "0", "-a", "true", code=5).error_line()
    assert "Decryption failed" in line and "vault.yml" in line


@pytest.mark.parametrize("args, needle", [
    (["-a", "echo {{ nope }}"], "host web1: variable -a: 'nope' is undefined"),
    (["-a", "echo {{ lookup('pipe', 'touch PIPED') }}"], "lookup plugin 'pipe'"),
    (["-m", "raw", "-a", "true"], "does not support async"),
    (["-m", "ping"], "ctl runs commands"),
])
def test_bad_drop_in_input_is_one_line_and_nothing_runs(shop: Cli, tmp_path: Path,
                                                        args: list[str], needle: str) -> None:
    line = shop("run", "web1", "-B", "20", "-P", "0", *args, code=5).error_line()
    assert needle in line
    assert not (tmp_path / "PIPED").exists()
    assert not any(shop.async_dir(h).exists() for h in ("web1", "web2"))  # nothing launched


def test_a_vaulted_value_is_refused_on_a_command_line(shop: Cli, tmp_path: Path) -> None:
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(PASSWORD.encode()))])
    cipher = vault.encrypt(b"topsecret").decode()
    vars_file = tmp_path / "inventories" / "production" / "group_vars" / "all" / "pw.yml"
    vars_file.write_text("db_password: !vault |\n" + "".join(
        f"  {line}\n" for line in cipher.splitlines()))
    line = shop("run", "web1", "-B", "20", "-P", "0", "-a", "echo {{ db_password }}",
                code=5).error_line()
    assert "vaulted value" in line and "topsecret" not in line


def test_extra_vars_keep_a_template_whole(shop: Cli) -> None:
    run = shop("run", "web1", "-B", "20", "-P", "1", "-o", "-e",
               "who={{ 'the ' ~ inventory_hostname | upper }}", "-a", "echo {{ who }}", code=0)
    assert "(stdout) the WEB1" in run.out


def test_a_cfg_with_a_syntax_error_names_file_and_line(shop: Cli, tmp_path: Path) -> None:
    (tmp_path / "ansible.cfg").write_text("[defaults]\nforks = 7\n[broken\n")
    line = shop("run", "-B", "20", "-P", "0", "-a", "true", code=5).error_line()
    assert "ansible.cfg" in line and "3" in line


def test_inventory_list_keeps_templates_as_text(shop: Cli) -> None:
    listed = json.loads(shop("inventory", "--list", code=0).out)
    assert listed["_meta"]["hostvars"]["web1"]["greeting"] == \
        "hello from {{ inventory_hostname_short }}"
    view = json.loads(shop("inventory", "--host", "web1", code=0).out)
    assert view["settings"]["connection"]["value"] == "local"  # rendered for the settings
