"""Settings resolved once, with where each came from: option > ANSIBLE_* env > ansible.cfg >
default; a host's inventory variables over all of them, -e over everything (Ansible's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.ansiblecfg import Sourced, load_layers
from controller.errors import InventoryError
from controller.hosts import HostSpec
from controller.inventory.hostvars import HOST_VARS, overrides_from, resolve
from controller.settings import DEFAULTS, UNSET, Settings


def layered(tmp_path: Path, cfg: str = "", env: dict[str, str] | None = None,
            options: dict[str, Sourced] | None = None) -> Settings:
    (tmp_path / "ansible.cfg").write_text(cfg)
    layers = load_layers({"HOME": str(tmp_path / "home"), **(env or {})}, str(tmp_path))
    return Settings(options or {}, layers)


def test_each_layer_wins_over_the_ones_below(tmp_path: Path) -> None:
    cfg = "[defaults]\nremote_user = from_cfg\nforks = 7\ntimeout = 20\n"
    settings = layered(tmp_path, cfg, {"ANSIBLE_REMOTE_USER": "from_env"},
                       {"forks": Sourced(3, "--forks")})
    assert settings.source("remote_user") == Sourced("from_env", "env ANSIBLE_REMOTE_USER")
    assert settings.source("forks") == Sourced(3, "--forks")
    assert settings["timeout"] == 20 and settings.source("timeout").origin.endswith(
        "ansible.cfg:4 [defaults] timeout")
    assert settings.source("become_user") == Sourced("root", "default")


def test_a_host_variable_wins_over_option_env_and_cfg_as_in_ansible(tmp_path: Path) -> None:
    settings = layered(tmp_path, "[defaults]\nremote_user = cfg\nremote_port = 2200\n",
                       {"ANSIBLE_REMOTE_USER": "env"}, {"remote_user": Sourced("opt", "--user")})
    spec, origins = resolve("web1", {"ansible_user": "inv"}, "inv.yml", settings)
    assert spec.user == "inv" and origins["user"] == "variable ansible_user"
    bare, where = resolve("web2", {}, "inv.yml", settings)
    assert bare.user == "opt" and where["user"] == "--user"
    assert bare.port == 2200 and where["port"].endswith("[defaults] remote_port")


def test_old_ansible_ssh_aliases_are_read(tmp_path: Path) -> None:
    spec = resolve("h", {"ansible_ssh_host": "10.0.0.9", "ansible_ssh_user": "bob",
                         "ansible_ssh_port": "2222"}, "inv", Settings())[0]
    assert (spec.address, spec.user, spec.port) == ("10.0.0.9", "bob", 2222)


def test_cfg_ssh_args_reach_the_host_and_host_vars_override_them(tmp_path: Path) -> None:
    settings = layered(tmp_path, "[ssh_connection]\nssh_common_args = -J jump@bastion "
                                 "-o StrictHostKeyChecking=accept-new\n")
    spec, origins = resolve("h", {}, "inv", settings)
    assert spec.jump == "jump@bastion" and spec.accept_new and spec.host_key_checking
    assert "ssh_common_args" in origins["jump"]
    own = resolve("h", {"ansible_ssh_common_args": "-J other"}, "inv", settings)[0]
    assert own.jump == "other" and not own.accept_new


def test_a_bad_value_names_file_host_and_key() -> None:
    with pytest.raises(InventoryError, match=r"inv.yml: host h: ansible_port must be a port"):
        resolve("h", {"ansible_port": "http"}, "inv.yml", Settings())


def test_only_given_options_override_registry_hosts() -> None:
    options = {"remote_user": Sourced("ops", "--user"), "forks": Sourced(5, "--forks")}
    overrides = overrides_from(Settings(options))
    assert overrides.user == "ops" and overrides.become is UNSET
    spec = HostSpec("h", user="old", become_user="admin").with_overrides(overrides)
    assert spec.user == "ops" and spec.become_user == "admin"


def test_every_row_falls_back_to_a_setting_with_a_default() -> None:
    for row in HOST_VARS:
        assert row.setting is None or row.setting in DEFAULTS, row


def test_rows_mask_secrets_and_skip_defaults() -> None:
    settings = Settings({"become_password": Sourced("hunter2", "--ask-become-pass")})
    rows = settings.rows()
    assert rows == [("become_password", "********", "--ask-become-pass")]
    assert "hunter2" not in repr(settings.rows(changed_only=False))
