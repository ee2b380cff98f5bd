"""controller.ansiblecfg: finding ansible.cfg as Ansible does, reading it and ``ANSIBLE_*`` the
way Ansible types them, and parity with the real ``ansible-config dump`` (from the venv).
Pure and fast: every test passes its own env and cwd (never the real HOME or /etc)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from controller import ansiblecfg
from controller.ansiblecfg import (
    ANSIBLE_SETTINGS,
    WORLD_WRITABLE_WARNING,
    AnsibleLayers,
    CfgKey,
    Sourced,
    convert,
    dump,
    load_layers,
    locate_config,
    read_config,
    read_env,
)
from controller.errors import ConfigError

ANSIBLE_CONFIG_BIN = Path(sys.executable).parent / "ansible-config"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def nosys(tmp_path: Path) -> str:
    """A system ansible.cfg path that does not exist (instead of /etc/ansible/ansible.cfg)."""
    return str(tmp_path / "etc" / "ansible.cfg")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def cfg(tmp_path: Path, text: str, name: str = "proj/ansible.cfg") -> Path:
    return write(tmp_path / name, text)


def one_line(err: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# --- where the file comes from -----------------------------------------------------------


def test_ansible_config_file_wins_over_all_others(tmp_path: Path, home: Path, nosys: str) -> None:
    chosen = cfg(tmp_path, "[defaults]\n", "elsewhere/custom.cfg")
    cwd = tmp_path / "cwd"
    write(cwd / "ansible.cfg", "[defaults]\n")
    write(home / ".ansible.cfg", "[defaults]\n")
    env = {"HOME": str(home), "ANSIBLE_CONFIG": str(chosen)}
    assert locate_config(env, str(cwd), system=nosys) == (str(chosen), [])


def test_ansible_config_may_name_a_directory(tmp_path: Path, home: Path, nosys: str) -> None:
    chosen = cfg(tmp_path, "[defaults]\n", "confdir/ansible.cfg")
    env = {"HOME": str(home), "ANSIBLE_CONFIG": str(chosen.parent)}
    assert locate_config(env, str(tmp_path), system=nosys) == (str(chosen), [])


def test_relative_ansible_config_is_relative_to_cwd(tmp_path: Path, home: Path,
                                                    nosys: str) -> None:
    chosen = cfg(tmp_path, "[defaults]\n", "a/b.cfg")
    env = {"HOME": str(home), "ANSIBLE_CONFIG": "a/b.cfg"}
    assert locate_config(env, str(tmp_path), system=nosys)[0] == str(chosen)


def test_cwd_then_home_then_system(tmp_path: Path, home: Path) -> None:
    env = {"HOME": str(home)}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    system = write(tmp_path / "etc" / "ansible.cfg", "[defaults]\n")
    assert locate_config(env, str(cwd), system=str(system)) == (str(system), [])
    user = write(home / ".ansible.cfg", "[defaults]\n")
    assert locate_config(env, str(cwd), system=str(system)) == (str(user), [])
    local = write(cwd / "ansible.cfg", "[defaults]\n")
    assert locate_config(env, str(cwd), system=str(system)) == (str(local), [])


def test_no_config_anywhere(tmp_path: Path, home: Path, nosys: str) -> None:
    assert locate_config({"HOME": str(home)}, str(tmp_path), system=nosys) == (None, [])


def test_missing_ansible_config_falls_through_with_a_warning(tmp_path: Path, home: Path,
                                                            nosys: str) -> None:
    user = write(home / ".ansible.cfg", "[defaults]\n")
    env = {"HOME": str(home), "ANSIBLE_CONFIG": str(tmp_path / "nope.cfg")}
    path, warnings = locate_config(env, str(tmp_path), system=nosys)
    assert path == str(user)
    assert len(warnings) == 1 and "nope.cfg" in warnings[0] and "ignoring" in warnings[0]


@pytest.fixture
def public_cwd(tmp_path: Path) -> Path:
    cwd = tmp_path / "public"
    write(cwd / "ansible.cfg", "[defaults]\nforks = 3\n")
    cwd.chmod(0o777)
    return cwd


def test_world_writable_cwd_is_ignored_with_ansibles_warning(
        public_cwd: Path, home: Path, nosys: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ansiblecfg, "SYSTEM_CONFIG", nosys)
    user = write(home / ".ansible.cfg", "[defaults]\n")
    path, warnings = locate_config({"HOME": str(home)}, str(public_cwd), system=nosys)
    assert path == str(user)
    assert warnings == [
        f"Ansible is being run in a world writable directory ({public_cwd}), ignoring it as an"
        " ansible.cfg source. For more information see https://docs.ansible.com/ansible/devel/"
        "reference_appendices/config.html#cfg-in-world-writable-dir"
    ]
    assert load_layers({"HOME": str(home)}, str(public_cwd)).cfg == {}


def test_world_writable_cwd_without_a_cfg_gives_no_warning(tmp_path: Path, home: Path,
                                                          nosys: str) -> None:
    cwd = tmp_path / "public"
    cwd.mkdir(mode=0o777)
    cwd.chmod(0o777)
    assert locate_config({"HOME": str(home)}, str(cwd), system=nosys) == (None, [])


def test_no_world_writable_warning_when_ansible_config_is_used(public_cwd: Path, home: Path,
                                                              tmp_path: Path,
                                                              nosys: str) -> None:
    chosen = cfg(tmp_path, "[defaults]\n")
    env = {"HOME": str(home), "ANSIBLE_CONFIG": str(chosen)}
    assert locate_config(env, str(public_cwd), system=nosys) == (str(chosen), [])


@pytest.mark.skipif(not ANSIBLE_CONFIG_BIN.exists(), reason="ansible-core not installed")
def test_world_writable_warning_is_ansibles_own(public_cwd: Path, home: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    real = subprocess.run([str(ANSIBLE_CONFIG_BIN), "dump", "--only-changed"], cwd=public_cwd,
                          env=env, capture_output=True, text=True, timeout=60, check=True)
    assert WORLD_WRITABLE_WARNING.format(cwd=public_cwd) in " ".join(real.stderr.split())
    assert "DEFAULT_FORKS" not in real.stdout


# --- values ----------------------------------------------------------------------------


def test_relative_paths_are_relative_to_the_cfg_dir(tmp_path: Path, home: Path) -> None:
    path = cfg(tmp_path, """
        [defaults]
        inventory = hosts, ../inv2 ,~/inv3,, $PROJ/inv4
        private_key_file = keys/id_ed25519
        vault_password_file = ../secrets/pw.txt
        vault_identity_list = prod@../secrets/prod.txt, dev@prompt, bare.txt
        async_dir = ~/.my_async
        """, "proj/sub/ansible.cfg")
    got = read_config(str(path), {"HOME": str(home), "PROJ": "/srv/proj"})
    sub, proj = path.parent, path.parent.parent
    assert got["inventory"].value == [str(sub / "hosts"), str(proj / "inv2"),
                                      str(home / "inv3"), "/srv/proj/inv4"]
    assert got["private_key_file"].value == str(sub / "keys" / "id_ed25519")
    assert got["vault_password_file"].value == str(proj / "secrets" / "pw.txt")
    assert got["vault_identity_list"].value == [
        f"prod@{proj / 'secrets' / 'prod.txt'}", "dev@prompt", str(sub / "bare.txt")]
    assert got["async_dir"].value == "~/.my_async"  # the remote home: left alone


def test_env_paths_are_relative_to_cwd(tmp_path: Path, home: Path) -> None:
    env = {"HOME": str(home), "ANSIBLE_INVENTORY": "a.yml,~/b.yml",
           "ANSIBLE_PRIVATE_KEY_FILE": "k", "ANSIBLE_VAULT_IDENTITY_LIST": "x@../s"}
    got = read_env(env, str(tmp_path / "cwd"))
    assert got["inventory"] == Sourced([str(tmp_path / "cwd" / "a.yml"), str(home / "b.yml")],
                                       "env ANSIBLE_INVENTORY")
    assert got["private_key_file"].value == str(tmp_path / "cwd" / "k")
    assert got["vault_identity_list"].value == [f"x@{tmp_path / 's'}"]


def test_env_beats_cfg(tmp_path: Path, home: Path) -> None:
    path = cfg(tmp_path, """
        [defaults]
        remote_user = from_cfg
        forks = 3
        """)
    env = {"HOME": str(home), "ANSIBLE_CONFIG": str(path), "ANSIBLE_REMOTE_USER": "from_env"}
    layers = load_layers(env, str(tmp_path))
    assert layers.path == str(path)
    assert layers.get("remote_user") == Sourced("from_env", "env ANSIBLE_REMOTE_USER")
    assert layers.get("forks") == Sourced(3, f"{path}:3 [defaults] forks")
    assert layers.get("become") is None
    assert layers.get("no_such_setting") is None
    assert dump(layers) == [
        ("forks", 3, f"{path}:3 [defaults] forks"),
        ("remote_user", "from_env", "env ANSIBLE_REMOTE_USER"),
    ]


def test_later_key_and_later_env_var_win(tmp_path: Path, home: Path) -> None:
    path = cfg(tmp_path, """
        [ssh_connection]
        host_key_checking = yes
        [defaults]
        host_key_checking = no
        """)
    assert read_config(str(path), {})["host_key_checking"] == Sourced(
        True, f"{path}:2 [ssh_connection] host_key_checking")
    env = {"ANSIBLE_SSH_HOST_KEY_CHECKING": "no", "ANSIBLE_HOST_KEY_CHECKING": "yes"}
    assert read_env(env, str(tmp_path))["host_key_checking"] == Sourced(
        False, "env ANSIBLE_SSH_HOST_KEY_CHECKING")
    env = {"ANSIBLE_REMOTE_TEMP": "/a", "ANSIBLE_REMOTE_TMP": "/b"}
    assert read_env(env, str(tmp_path))["remote_tmp"].value == "/b"


@pytest.mark.parametrize("word, value", [
    ("yes", True), ("Yes", True), ("TRUE", True), ("on", True), ("1", True), ("y", True),
    ("t", True), (" yes ", True), ("no", False), ("False", False), ("OFF", False),
    ("0", False), ("n", False), ("f", False),
])
def test_booleans_as_ansible(word: str, value: bool) -> None:
    assert convert("bool", word, "/", {}) is value


@pytest.mark.parametrize("kind, raw, value", [
    ("int", "7", 7), ("int", " 7 ", 7), ("int", "7.0", 7), ("int", "-2", -2),
    ("float", "2.5", 2.5), ("float", "3", 3.0),
    ("str", '"quoted"', "quoted"), ("str", "'x'", "x"), ("str", '"half', '"half'),
    ("list", "a, 'b' ,c,", ["a", "b", "c"]),
])
def test_typed_values(kind: str, raw: str, value: Any) -> None:
    assert convert(kind, raw, "/", {}, ini=True) == value


def test_every_setting_reads_from_cfg_with_its_type(tmp_path: Path, home: Path) -> None:
    path = cfg(tmp_path, """
        [defaults]
        remote_user = "deploy"
        remote_port = 2222
        forks = 20
        timeout = 30
        host_key_checking = False
        ask_pass = no
        ask_vault_pass = yes
        interpreter_python = /usr/bin/python3
        poll_interval = 5
        remote_tmp = ~/.ansible/tmp2

        [ssh_connection]
        ssh_args = -C -o ControlMaster=auto
        ssh_common_args = -o ProxyJump=bastion
        ssh_extra_args = -4

        [privilege_escalation]
        become = True
        become_method = su
        become_user = admin
        become_exe = /usr/bin/su
        become_flags = -l
        become_ask_pass = on
        """)
    got = {name: found.value for name, found in read_config(str(path), {}).items()}
    assert got == {
        "remote_user": "deploy", "remote_port": 2222, "forks": 20, "timeout": 30,
        "host_key_checking": False, "ask_pass": False, "ask_vault_pass": True,
        "python_interpreter": "/usr/bin/python3", "poll_interval": 5,
        "remote_tmp": "~/.ansible/tmp2", "ssh_args": "-C -o ControlMaster=auto",
        "ssh_common_args": "-o ProxyJump=bastion", "ssh_extra_args": "-4", "become": True,
        "become_method": "su", "become_user": "admin", "become_exe": "/usr/bin/su",
        "become_flags": "-l", "become_ask_pass": True,
    }


@pytest.mark.parametrize("line, key", [
    ("forks = lots", "forks"),
    ("timeout = 10.5", "timeout"),
    ("remote_port =", "remote_port"),
    ("host_key_checking = Flase", "host_key_checking"),
])
def test_bad_value_in_cfg_names_file_line_and_key(tmp_path: Path, line: str, key: str) -> None:
    path = cfg(tmp_path, f"[defaults]\nremote_user = x\n{line}\n")
    with pytest.raises(ConfigError) as err:
        read_config(str(path), {})
    assert one_line(err).startswith(f"{path}:3: [defaults] {key} = ")
    assert err.value.exit_code == 5


@pytest.mark.parametrize("var, raw", [
    ("ANSIBLE_FORKS", "many"), ("ANSIBLE_BECOME", "sure"), ("ANSIBLE_REMOTE_PORT", "22x"),
])
def test_bad_value_in_env_names_the_variable(tmp_path: Path, var: str, raw: str) -> None:
    with pytest.raises(ConfigError) as err:
        read_env({var: raw}, str(tmp_path))
    assert one_line(err).startswith(f"env {var} = {raw!r} is not ")


def test_empty_env_var_of_a_typed_setting_is_unset(tmp_path: Path) -> None:
    env = {"ANSIBLE_FORKS": "", "ANSIBLE_HOST_KEY_CHECKING": "", "ANSIBLE_INVENTORY": "",
           "ANSIBLE_REMOTE_USER": ""}
    assert read_env(env, str(tmp_path)) == {"remote_user": Sourced("", "env ANSIBLE_REMOTE_USER")}


def test_unknown_keys_and_sections_are_ignored(tmp_path: Path) -> None:
    path = cfg(tmp_path, """
        [defaults]
        no_such_key = 1
        FORKS = 4
        [no_such_section]
        forks = 9
        [Defaults]
        remote_user = sections_are_case_sensitive
        [galaxy]
        server = x
        """)
    assert read_config(str(path), {}) == {"forks": Sourced(4, f"{path}:3 [defaults] forks")}


def test_percent_is_literal_as_in_ansible(tmp_path: Path) -> None:
    # kubespray's ansible.cfg; Ansible passes %% through to ssh unchanged (ssh reads %% as %).
    path = cfg(tmp_path, """
        [ssh_connection]
        pipelining=True
        ssh_args = -o ControlMaster=auto -o ControlPersist=30m -o ConnectionAttempts=100 -o UserKnownHostsFile=/dev/null
        #control_path = ~/.ssh/ansible-%%r@%%h:%%p
        ssh_extra_args = -o ControlPath=~/.ssh/ansible-%%r@%%h:%%p -o X=%h
        """)  # noqa: E501
    got = read_config(str(path), {})
    assert got["ssh_extra_args"].value == "-o ControlPath=~/.ssh/ansible-%%r@%%h:%%p -o X=%h"
    assert got["ssh_args"].value.endswith("-o UserKnownHostsFile=/dev/null")


def test_inline_comments_need_a_space_before_the_semicolon(tmp_path: Path) -> None:
    path = cfg(tmp_path, """
        [defaults]  ; the usual section
        remote_user = bob ; who we are
        ; forks = 99
        # timeout = 99
        [privilege_escalation]
        become_user = b;c
        """)
    got = {name: found.value for name, found in read_config(str(path), {}).items()}
    assert got == {"remote_user": "bob", "become_user": "b;c"}


def test_continuation_lines_and_line_numbers(tmp_path: Path) -> None:
    path = cfg(tmp_path, """
        # a comment
        [ssh_connection]
        ssh_common_args = -o ProxyJump=bastion
          -o ServerAliveInterval=30

          -o StrictHostKeyChecking=no
        ssh_extra_args: -4

        [defaults]
        Remote_User=alice
        """)
    got = read_config(str(path), {})
    assert got["ssh_common_args"] == Sourced(
        "-o ProxyJump=bastion\n-o ServerAliveInterval=30\n\n-o StrictHostKeyChecking=no",
        f"{path}:3 [ssh_connection] ssh_common_args")
    assert got["ssh_extra_args"].origin == f"{path}:7 [ssh_connection] ssh_extra_args"
    assert got["remote_user"] == Sourced("alice", f"{path}:10 [defaults] remote_user")


def test_default_section_is_inherited_as_configparser_does(tmp_path: Path) -> None:
    path = cfg(tmp_path, "[DEFAULT]\nforks = 8\n[defaults]\nremote_user = x\n")
    assert read_config(str(path), {})["forks"] == Sourced(8, f"{path}:2 [DEFAULT] forks")


@pytest.mark.parametrize("text, lineno, words", [
    ("forks = 3\n[defaults]\n", 1, "before any [section]"),
    ("[defaults\nforks = 3\n", 1, "before any [section]"),
    ("[defaults]\nforks = 3\n[ssh_connection\nssh_args = -4\n", 3, "neither"),
    ("[defaults]\nforks = 3\njust some words\n", 3, "neither"),
    ("[defaults]\nforks = 3\nFORKS = 4\n", 3, "set twice"),
    ("[defaults]\n[ssh_connection]\n[defaults]\n", 3, "appears twice"),
])
def test_syntax_error_names_file_and_line(tmp_path: Path, text: str, lineno: int,
                                          words: str) -> None:
    path = cfg(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        read_config(str(path), {})
    message = one_line(err)
    assert message.startswith(f"{path}:{lineno}: ") and words in message


def test_unreadable_or_foreign_files(tmp_path: Path) -> None:
    latin = tmp_path / "latin.cfg"
    latin.write_bytes(b"[defaults]\nremote_user = J\xf6rg\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_config(str(latin), {})
    conf = cfg(tmp_path, "[defaults]\n", "ansible.conf")
    with pytest.raises(ConfigError, match=r"not a \.cfg or \.ini"):
        read_config(str(conf), {})
    with pytest.raises(ConfigError, match="cannot read"):
        read_config(str(tmp_path / "missing.cfg"), {})


def test_load_layers_reads_a_bad_file_as_config_error(tmp_path: Path, home: Path) -> None:
    path = cfg(tmp_path, "oops\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:1: ")):
        load_layers({"HOME": str(home), "ANSIBLE_CONFIG": str(path)}, str(tmp_path))


def test_table_is_well_formed() -> None:
    names = [row.name for row in ANSIBLE_SETTINGS]
    assert len(names) == len(set(names))
    for row in ANSIBLE_SETTINGS:
        assert isinstance(row, CfgKey) and row.ini and row.env
        assert all(name.startswith("ANSIBLE_") for name in row.env)
        assert row.kind in {"str", "int", "float", "bool", "path", "pathlist", "list",
                            "vault_ids"}


# --- parity with the real Ansible --------------------------------------------------------

# ctl's name -> where ``ansible-config dump --only-changed -t all`` prints what Ansible uses:
# a base setting (plugin None) or a plugin's option (ssh connection, sh shell).
ANSIBLE_NAMES: dict[str, tuple[str | None, str]] = {
    "inventory": (None, "DEFAULT_HOST_LIST"),
    "remote_user": (None, "DEFAULT_REMOTE_USER"),
    "remote_port": (None, "DEFAULT_REMOTE_PORT"),
    "private_key_file": (None, "DEFAULT_PRIVATE_KEY_FILE"),
    "forks": (None, "DEFAULT_FORKS"),
    "timeout": (None, "DEFAULT_TIMEOUT"),
    "host_key_checking": ("ssh", "host_key_checking"),
    "ssh_args": ("ssh", "ssh_args"),
    "ssh_common_args": ("ssh", "ssh_common_args"),
    "ssh_extra_args": ("ssh", "ssh_extra_args"),
    "ask_pass": (None, "DEFAULT_ASK_PASS"),
    "connection_password_file": (None, "CONNECTION_PASSWORD_FILE"),
    "become": (None, "DEFAULT_BECOME"),
    "become_method": (None, "DEFAULT_BECOME_METHOD"),
    "become_user": (None, "DEFAULT_BECOME_USER"),
    "become_exe": (None, "DEFAULT_BECOME_EXE"),
    "become_flags": (None, "DEFAULT_BECOME_FLAGS"),
    "become_ask_pass": (None, "DEFAULT_BECOME_ASK_PASS"),
    "become_password_file": (None, "BECOME_PASSWORD_FILE"),
    "vault_password_file": (None, "DEFAULT_VAULT_PASSWORD_FILE"),
    "vault_identity_list": (None, "DEFAULT_VAULT_IDENTITY_LIST"),
    "ask_vault_pass": (None, "DEFAULT_ASK_VAULT_PASS"),
    "async_dir": ("sh", "async_dir"),
    "remote_tmp": ("sh", "remote_tmp"),
    "python_interpreter": (None, "INTERPRETER_PYTHON"),
    "poll_interval": (None, "DEFAULT_POLL_INTERVAL"),
}

_DUMP_LINE = re.compile(r"^(\w+)\((.*)\) = (.*)$")


def parse_dump(text: str) -> dict[tuple[str | None, str], str]:
    """``NAME(origin) = value`` rows, keyed by (plugin, NAME); plugin is None for base ones."""
    rows: dict[tuple[str | None, str], str] = {}
    plugin: str | None = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and re.fullmatch(r"[_=]+", lines[i + 1]) and line.endswith(":"):
            plugin = line[:-1]
        elif match := _DUMP_LINE.match(line):
            rows[(plugin, match.group(1))] = match.group(3)
    return rows



@pytest.mark.skipif(not ANSIBLE_CONFIG_BIN.exists(), reason="ansible-core not installed")
def test_parity_with_ansible_config_dump(tmp_path: Path, home: Path) -> None:
    path = cfg(tmp_path, """
        [defaults]
        inventory = hosts.yml, ../shared/inv ,~/inv3
        remote_user = "deploy"   ; quoted, with a comment
        remote_port = 2222
        private_key_file = keys/id_ed25519
        forks = 7.0
        timeout = 33
        host_key_checking = yes
        ask_pass = off
        connection_password_file = ~/conn.txt
        become_password_file = ../secrets/become.txt
        vault_password_file = ../secrets/vault.txt
        vault_identity_list = dev@prompt, prod@/etc/prod.txt
        ask_vault_pass = no
        async_dir = ~/.ctl_async
        remote_tmp = /var/tmp/$USER
        interpreter_python = auto_silent
        poll_interval = 3
        unknown_key = ignored

        [ssh_connection]
        host_key_checking = n
        ssh_args = -C -o ControlMaster=auto -o ControlPath=~/.ssh/ansible-%%r@%%h:%%p
        ssh_common_args = -o ProxyJump=bastion
        ssh_extra_args = '-4'

        [privilege_escalation]
        become = true
        become_method = su
        become_user = admin
        become_exe = /usr/bin/su
        become_flags = -l
        become_ask_pass = On
        """, "proj/sub/ansible.cfg")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "ANSIBLE_CONFIG": str(path), "ANSIBLE_FORKS": "9", "ANSIBLE_BECOME_USER": "envuser",
           "ANSIBLE_REMOTE_TEMP": "/tmp/a", "ANSIBLE_REMOTE_TMP": "/tmp/b"}
    real = subprocess.run([str(ANSIBLE_CONFIG_BIN), "dump", "--only-changed", "-t", "all"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    theirs = parse_dump(real.stdout)

    ours = dump(load_layers(env, str(tmp_path)))
    assert {name for name, _, _ in ours} == set(ANSIBLE_NAMES) == {
        row.name for row in ANSIBLE_SETTINGS}
    for name, value, _origin in ours:
        printed = theirs.get(ANSIBLE_NAMES[name])
        assert printed is not None, f"ansible-config does not report {name}"
        expected = ast.literal_eval(printed) if isinstance(value, list) else printed
        assert (value if isinstance(value, list) else str(value)) == expected, name
    assert dict((n, o) for n, _, o in ours)["forks"] == "env ANSIBLE_FORKS"
    assert dict((n, v) for n, v, _ in ours)["host_key_checking"] is False


def test_layers_are_plain_data() -> None:
    layers = AnsibleLayers(None, {}, {}, [])
    assert dump(layers) == [] and layers.get("forks") is None
