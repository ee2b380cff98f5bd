"""Inventory loading, variable precedence and host patterns (pure, no SSH)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import InventoryError, PatternError
from controller.inventory import expand_ranges, load_inventory, select_hosts
from controller.inventory.precedence import depths as _depths
from controller.inventory.precedence import merged_vars

RICH = """
all:
  vars: {x: all, ansible_connection: local, ansible_async_dir: /tmp/a}
  hosts:
    solo: {x: host}
  children:
    web:
      vars: {x: web, y: web}
      hosts:
        web[01:03]:
      children:
        prod:
          vars: {x: prod}
          hosts: {web02: }
    db:
      vars: {ansible_group_priority: 10, y: db}
      hosts:
        db-[a:c]: {ansible_port: 2222}
        web03:
"""


@pytest.fixture
def inv(tmp_path: Path):
    path = tmp_path / "inv.yml"
    path.write_text(RICH)
    return load_inventory([str(path)], env={})


def test_ranges_expand_numbers_with_padding_and_letters() -> None:
    assert expand_ranges("web[01:03].x") == ["web01.x", "web02.x", "web03.x"]
    assert expand_ranges("db-[a:c]") == ["db-a", "db-b", "db-c"]
    assert expand_ranges("n[1:5:2]") == ["n1", "n3", "n5"]
    assert expand_ranges("plain") == ["plain"]


def test_hosts_and_precedence(inv) -> None:
    assert list(inv.host_vars) == ["solo", "web01", "web02", "web03", "db-a", "db-b", "db-c"]
    depths = _depths(inv)
    x = {h: merged_vars(inv, h, depths)["x"] for h in inv.host_vars}
    assert x == {"solo": "host", "web01": "web", "web02": "prod", "web03": "web",
                 "db-a": "all", "db-b": "all", "db-c": "all"}
    # web03 is in web and db (same depth): db's higher ansible_group_priority wins
    assert merged_vars(inv, "web03", depths)["y"] == "db"
    assert inv.specs["db-b"].port == 2222 and inv.specs["solo"].port is None
    assert inv.specs["solo"].connection == "local"
    assert inv.specs["web01"].async_dir == "/tmp/a"
    assert inv.groups["ungrouped"].hosts == ["solo"]


@pytest.mark.parametrize("pattern, expected", [
    ("all", ["solo", "web01", "web02", "web03", "db-a", "db-b", "db-c"]),
    ("web", ["web01", "web02", "web03"]),
    ("web:!prod", ["web01", "web03"]),
    ("web:&db", ["web03"]),
    ("~db-[ab]", ["db-a", "db-b"]),
    ("web0*", ["web01", "web02", "web03"]),
    ("solo,db-c", ["solo", "db-c"]),
    ("!web", ["solo", "db-a", "db-b", "db-c"]),
    ("prod", ["web02"]),
])
def test_patterns(inv, pattern: str, expected: list[str]) -> None:
    assert select_hosts(inv, pattern) == expected


def test_pattern_file(inv, tmp_path: Path) -> None:
    limit = tmp_path / "limit.txt"
    limit.write_text("solo\nprod\n")
    assert select_hosts(inv, f"@{limit}") == ["solo", "web02"]


def test_pattern_matching_nothing_names_it(inv) -> None:
    with pytest.raises(PatternError, match="'nope' matches no host"):
        select_hosts(inv, "nope")


def test_async_dir_from_environment_when_the_inventory_is_silent(tmp_path: Path) -> None:
    path = tmp_path / "i.yml"
    path.write_text("all:\n  hosts:\n    a: {}\n    b: {ansible_async_dir: /srv/jobs}\n")
    inv = load_inventory([str(path)], env={"ANSIBLE_ASYNC_DIR": "/var/jobs"})
    assert inv.specs["a"].async_dir == "/var/jobs"
    assert inv.specs["b"].async_dir == "/srv/jobs"
    assert load_inventory([str(path)], env={}).specs["a"].async_dir == "~/.ansible_async"


def test_comma_separated_host_list() -> None:
    inv = load_inventory(["web1,web2,"], env={})
    assert list(inv.specs) == ["web1", "web2"]


@pytest.mark.parametrize("text, needle", [
    ("all:\n  hosts:\n    h: {ansible_port: 0}\n", "host h: ansible_port"),
    ("all:\n  hosts:\n    h: {ansible_port: true}\n", "host h: ansible_port"),
    ("all:\n  hosts:\n    h: {ansible_host: \"a\\nb\"}\n", "host h: ansible_host"),
    ("all:\n  children:\n    g: [1, 2]\n", "group g must be a mapping"),
])
def test_errors_name_file_host_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "i.yml"
    path.write_text(text)
    with pytest.raises(InventoryError) as err:
        load_inventory([str(path)], env={})
    assert str(path) in err.value.message and needle in err.value.message
