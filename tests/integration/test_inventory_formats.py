"""INI, directories, group_vars/host_vars, dynamic scripts and saved --list JSON: ctl's view of
the same files is Ansible's (compared with the real ansible-inventory side by side)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from controller.errors import InventoryError
from controller.inventory import load_inventory, select_hosts
from controller.inventory.precedence import depths as _depths
from controller.inventory.precedence import merged_vars

ANSIBLE_INVENTORY = shutil.which("ansible-inventory", path=os.path.dirname(sys.executable)) \
    or shutil.which("ansible-inventory")

INI = """# an INI inventory with most of what Ansible's INI allows
solo ansible_port=2201 flag=True count=3 ratio=0.5 name="two words"
[web]
web[01:03] role=frontend
web04:2204 role='edge node'
[db]
db-[a:b]
web03
[prod:children]
web
db
[prod:vars]
env=production
tier=1
[db:vars]
ansible_group_priority=10
tier=2
"""

YAML = """all:
  children:
    monitoring:
      hosts:
        mon1: {ansible_host: 10.1.1.1}
        solo:
      vars: {tier: 9}
"""

SCRIPT = """#!/bin/sh
cat <<'JSON'
{"dyn": {"hosts": ["dyn1", "dyn2"], "vars": {"from": "script"}, "children": ["dynchild"]},
 "dynchild": ["dyn3"],
 "_meta": {"hostvars": {"dyn1": {"ansible_host": "10.2.0.1", "x": 1}}}}
JSON
"""


@pytest.fixture
def rich(tmp_path: Path) -> Path:
    root = tmp_path / "inventory"
    (root / "group_vars" / "web").mkdir(parents=True)
    (root / "host_vars").mkdir()
    (root / "hosts.ini").write_text(INI)
    (root / "extra.yml").write_text(YAML)
    script = root / "dynamic.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    (root / "notes.md").write_text("not an inventory\n")
    (root / ".hidden").write_text("[nope]\nnohost\n")
    (root / "group_vars" / "all.yml").write_text("who: all\ntier: 0\n")
    (root / "group_vars" / "web" / "main.yml").write_text("tier: 5\nfrom_group_vars: true\n")
    (root / "group_vars" / "web" / "more.yaml").write_text("more: [1, 2]\n")
    (root / "host_vars" / "web02.yml").write_text("role: special\n")
    (root / "host_vars" / "dyn1").mkdir()
    (root / "host_vars" / "dyn1" / "a.yml").write_text("x: 2\n")
    return root


def ansible_view(source: Path) -> tuple[dict, dict]:
    assert ANSIBLE_INVENTORY, "ansible-core is a test dependency"
    out = subprocess.run([ANSIBLE_INVENTORY, "-i", str(source), "--list"], capture_output=True,
                         text=True, env=dict(os.environ, LC_ALL="C.UTF-8"), timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    hostvars = data.pop("_meta")["hostvars"]
    groups: dict[str, set[str]] = {}

    def members(group: str) -> set[str]:
        body = data.get(group, {})
        found = set(body.get("hosts", []))
        for child in body.get("children", []):
            found |= members(child)
        return found

    for group in data:
        for host in members(group):
            groups.setdefault(host, set()).add(group)
    return hostvars, groups


def ctl_view(source: Path) -> tuple[dict, dict]:
    inv = load_inventory([str(source)], env={})
    depths = _depths(inv)
    hostvars = {h: merged_vars(inv, h, depths) for h in inv.host_vars}
    groups = {h: {g for g in inv.groups if h in inv.hosts_in(g)} for h in inv.host_vars}
    return hostvars, groups


def test_ctl_reads_a_rich_inventory_directory_as_ansible_does(rich: Path) -> None:
    ours_vars, ours_groups = ctl_view(rich)
    their_vars, their_groups = ansible_view(rich)
    assert sorted(ours_vars) == sorted(their_vars)
    for host in their_vars:
        assert ours_vars[host] == their_vars[host], host
        assert ours_groups[host] == their_groups[host], host
    assert ours_vars["web02"]["role"] == "special" and ours_vars["web03"]["tier"] == 5
    assert ours_vars["solo"]["name"] == "two words" and ours_vars["solo"]["flag"] is True


def test_each_file_alone_matches_ansible(rich: Path) -> None:
    for name in ("hosts.ini", "extra.yml", "dynamic.sh"):
        ours_vars, ours_groups = ctl_view(rich / name)
        their_vars, their_groups = ansible_view(rich / name)
        assert ours_vars == their_vars, name
        assert ours_groups == their_groups, name


def test_saved_ansible_inventory_list_json_is_an_inventory(rich: Path, tmp_path: Path) -> None:
    saved = tmp_path / "saved.json"
    out = subprocess.run([ANSIBLE_INVENTORY or "ansible-inventory", "-i", str(rich), "--list"],
                         capture_output=True, text=True, env=dict(os.environ, LC_ALL="C.UTF-8"))
    saved.write_text(out.stdout)
    inv = load_inventory([str(saved)], env={})
    assert sorted(select_hosts(inv, "prod:!db")) == ["web01", "web02", "web04"]
    assert inv.specs["web04"].port == 2204 and inv.specs["dyn1"].address == "10.2.0.1"


@pytest.mark.parametrize("files, needle", [
    ({"h.ini": "[web\nhost1\n"}, "line 1"),
    ({"h.ini": "[web]\nhost1 novalue\n"}, "expected key=value"),
    ({"h.ini": "[web:children]\nghost\n"}, "undefined group 'ghost'"),
    ({"h.ini": "[web:vars]\nx=1\n"}, "never defined"),
    ({"h.ini": "[web]\nh1\n", "group_vars/web.yml": "- a list\n"}, "must be a mapping"),
    ({"h.yml": "all:\n  hosts:\n    h1: {a: [1,\n"}, "line"),
])
def test_errors_name_the_file_and_line(tmp_path: Path, files: dict[str, str],
                                       needle: str) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with pytest.raises(InventoryError) as err:
        load_inventory([str(tmp_path)], env={})
    assert needle in err.value.message and str(tmp_path) in err.value.message


@pytest.mark.parametrize("body, needle", [
    ("echo not json", "printed non-JSON"),
    ("echo broken >&2; exit 3", "exited with 3: broken"),
])
def test_failing_dynamic_scripts(tmp_path: Path, body: str, needle: str) -> None:
    script = tmp_path / "inv.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    with pytest.raises(InventoryError) as err:
        load_inventory([str(script)], env={})
    assert needle in err.value.message and str(script) in err.value.message


def run_ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controller.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).resolve().parent.parent.parent)


def test_ctl_inventory_list_graph_and_host(rich: Path) -> None:
    listed = json.loads(run_ctl("inventory", "-i", str(rich)).stdout)
    their_vars, _ = ansible_view(rich)
    assert listed["_meta"]["hostvars"] == their_vars
    tree = run_ctl("inventory", "-i", str(rich), "--graph").stdout.splitlines()
    assert tree[0] == "@all:" and "  |--@prod:" in tree and "  |  |  |--web02" in tree
    (rich / "host_vars" / "solo.yml").write_text("ansible_password: hunter2\n")
    host = json.loads(run_ctl("inventory", "-i", str(rich), "--host", "solo",
                              "-e", "ansible_user=ops").stdout)
    assert host["settings"]["port"] == {"value": 2201,
                                        "from": f"host solo in {rich}/hosts.ini (ansible_port)"}
    assert host["settings"]["user"] == {"value": "ops", "from": "extra vars (-e ansible_user)"}
    assert host["settings"]["password"]["value"] == "********"
    assert "hunter2" not in json.dumps(host)
    missing = run_ctl("inventory", "-i", str(rich), "--host", "nope")
    assert missing.returncode == 5 and "'nope'" in missing.stderr


def test_graph_of_a_flat_inventory_matches_ansible(tmp_path: Path) -> None:
    flat = tmp_path / "flat.yml"
    flat.write_text("all:\n  hosts:\n    box1:\n    box2:\n")
    ours = run_ctl("inventory", "-i", str(flat), "--graph").stdout.split()
    theirs = subprocess.run([ANSIBLE_INVENTORY or "ansible-inventory", "-i", str(flat),
                             "--graph"], capture_output=True, text=True,
                            env=dict(os.environ, LC_ALL="C.UTF-8")).stdout.split()
    assert ours == theirs
    assert "|--box1" in ours and "|--@ungrouped:" in ours
