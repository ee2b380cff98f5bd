"""``ctl inventory`` (--list, --graph, --host) on a YAML inventory with group_vars and
host_vars beside it, in-process: what ctl sees, where each setting comes from, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fast import Cli

HOSTS = """\
all:
  vars: {tier: base}
  children:
    web:
      hosts:
        web1: {ansible_host: 10.0.0.1}
        web2: {ansible_password: hunter2-a7}
      vars: {role: frontend}
    db:
      hosts:
        db1: {ansible_become_password: s3cret-b8, ansible_port: 2222}
"""
SECRETS = ("hunter2-a7", "s3cret-b8")


@pytest.fixture
def inv(tmp_path: Path) -> str:
    root = tmp_path / "inventory"
    (root / "group_vars").mkdir(parents=True)
    (root / "host_vars").mkdir()
    (root / "hosts.yml").write_text(HOSTS)
    (root / "group_vars" / "web.yml").write_text("http_port: 8080\ntier: web\n")
    (root / "group_vars" / "all.yml").write_text("ntp: pool.example\ntier: all-file\n")
    (root / "host_vars" / "db1.yml").write_text("ansible_user: dbadmin\n")
    return str(root / "hosts.yml")


def listed(cli: Cli, *args: str) -> dict:  # type: ignore[type-arg]
    out = cli("inventory", *args, code=0)
    assert not any(secret in out.out + out.err for secret in SECRETS)
    return json.loads(out.out)


def test_list_applies_group_vars_and_host_vars_in_ansibles_order(cli: Cli, inv: str) -> None:
    hostvars = listed(cli, "-i", inv, "--list")["_meta"]["hostvars"]
    assert hostvars["web1"] == {"ansible_host": "10.0.0.1", "http_port": 8080,
                                "ntp": "pool.example", "role": "frontend", "tier": "web"}
    assert hostvars["db1"]["tier"] == "all-file"  # group_vars/all beats the inventory's all
    assert hostvars["db1"]["ansible_user"] == "dbadmin" and hostvars["db1"]["ansible_port"] == 2222


def test_list_has_the_shape_of_ansible_inventory_list(cli: Cli, inv: str) -> None:
    shown = listed(cli, "-i", inv)  # --list is the default
    assert set(shown) == {"_meta", "all", "web", "db"}
    assert sorted(shown["all"]["children"]) == ["db", "ungrouped", "web"]
    assert shown["web"] == {"hosts": ["web1", "web2"]} and shown["db"] == {"hosts": ["db1"]}


def test_a_limit_narrows_the_list(cli: Cli, inv: str) -> None:
    shown = listed(cli, "-i", inv, "-l", "web:!web2")
    assert list(shown["_meta"]["hostvars"]) == ["web1"]
    assert shown["web"] == {"hosts": ["web1"]} and "db" not in shown


def test_graph_draws_the_group_tree(cli: Cli, inv: str) -> None:
    out = cli("inventory", "-i", inv, "--graph", code=0)
    assert out.out.splitlines() == ["@all:", "  |--@db:", "  |  |--db1", "  |--@ungrouped:",
                                    "  |--@web:", "  |  |--web1", "  |  |--web2"]


def test_host_shows_each_setting_and_where_it_came_from(cli: Cli, inv: str) -> None:
    shown = listed(cli, "-i", inv, "--host", "db1", "-e", "ansible_python_interpreter=/opt/py")
    settings = shown["settings"]
    assert shown["host"] == "db1" and shown["groups"] == ["all", "db"]
    assert settings["port"] == {"value": 2222, "from": f"host db1 in {inv} (ansible_port)"}
    assert settings["user"] == {"value": "dbadmin", "from": "host_vars/db1 (ansible_user)"}
    assert settings["address"] == {"value": "db1", "from": "the inventory host name"}
    assert settings["python"] == {"value": "/opt/py",
                                  "from": "extra vars (-e ansible_python_interpreter)"}
    assert settings["async_dir"] == {"value": "~/.ansible_async", "from": "default"}


@pytest.mark.parametrize("host, key, setting", [
    ("web2", "ansible_password", "password"),
    ("db1", "ansible_become_password", "become_password"),
])
def test_secrets_are_masked_everywhere_they_are_shown(cli: Cli, inv: str, host: str, key: str,
                                                      setting: str) -> None:
    assert listed(cli, "-i", inv)["_meta"]["hostvars"][host][key] == "********"
    shown = listed(cli, "-i", inv, "--host", host)
    assert shown["vars"][key] == "********"
    assert shown["settings"][setting]["value"] == "********"
    assert shown["settings"][setting]["from"].endswith(f"({key}) (masked)")


def test_an_unknown_host_is_bad_input(cli: Cli, inv: str) -> None:
    line = cli("inventory", "-i", inv, "--host", "nope", code=5).error_line()
    assert "'nope'" in line and inv in line


def test_a_plain_text_password_is_warned_about_once_per_run(cli: Cli, inv: str) -> None:
    out = cli("run", "-i", inv, "-l", "web2:db1", "-e", "ansible_host=127.0.0.1", "-e",
              "ansible_port=1", "-T", "1", "-B", "9", "-P", "0", "--", "true", code=4)
    warnings = [line for line in out.err.splitlines() if "stored in plain text" in line]
    assert sum("host web2: ansible_password" in line for line in warnings) == 1
    assert sum("host db1: ansible_become_password" in line for line in warnings) == 1
    assert not any(secret in out.out + out.err for secret in SECRETS)
