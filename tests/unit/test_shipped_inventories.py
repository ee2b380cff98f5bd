"""The inventories shipped in inventories/ load, and say what they claim."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.inventory import load_inventory, select_hosts

ROOT = Path(__file__).resolve().parent.parent.parent


def test_local_inventory_is_the_local_connection() -> None:
    inv = load_inventory([str(ROOT / "inventories" / "local.yml")], env={})
    assert [s.connection for s in inv.specs.values()] == ["local"]


def test_example_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / ".ssh" / "id_ed25519"
    key.parent.mkdir()
    key.write_text("not read at load")
    monkeypatch.setenv("HOME", str(tmp_path))
    inv = load_inventory([str(ROOT / "inventories" / "example.yml")], env={})
    assert select_hosts(inv, "web") == [f"web0{i}.example.com" for i in range(1, 5)]
    assert inv.specs["web02.example.com"].async_dir == "/var/tmp/ansible_async"
    assert inv.specs["db1.example.com"].port == 2222
    assert inv.specs["db2.example.com"].address == "10.0.0.12"
    assert inv.specs["db1.example.com"].user == "deploy"
    assert inv.specs["localhost"].connection == "local"
    assert inv.specs["db1.example.com"].private_key == os.path.join(str(tmp_path), ".ssh",
                                                                     "id_ed25519")
