"""ctl as a drop-in for an Ansible shop (issue 12): standing in an Ansible project directory,
with no -i and no other options, ``ctl run -B 3600 -P 0 -a CMD`` must start the job on the
hosts, logins, keys, addresses and become settings ``ansible all -B 3600 -P 0 -a CMD`` uses.

Every comparison runs the real ``ansible`` and the real ctl from the SAME working directory
(the shop built by ``tests.support.shop``) with the same environment, and checks the effect
on the hosts themselves: the login that ran the job, the address the SSH connection came to
(``$SSH_CONNECTION``), the job's output in the job file on the host's disk.

The shop has its own three-plus-one host lab (users ``ctlshopN`` on 127.0.30.N) so that its
sudo rule and Unix password never race ``test_become``'s on the session lab's users.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.ctl import blocks
from tests.support.shop import (
    BECOME_TARGET,
    PRODUCTION,
    Shop,
    argv_holding_any,
    build_shop,
    server_address,
    wait_record,
)
from tests.support.sshd_lab import SshdLab, ensure_user, module_lab

SSH_WHO = 'echo "$(id -un) $SSH_CONNECTION"'


# --- fixtures ------------------------------------------------------------------------------


shop_lab = module_lab(count=4, subnet="127.0.30", user_prefix="ctlshop")


@pytest.fixture(scope="module")
def shop(shop_lab: SshdLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """The shop, and sudo as test_become sets it up: web1's login may become BECOME_TARGET
    with its Unix password, which is the shop's vaulted ``vault_become_pass``."""
    if os.geteuid() != 0:
        pytest.fail("the shop tests give each host its own Unix user and a sudo rule: run "
                    "them as root (CI does)")
    base = tmp_path_factory.mktemp("ansible-shop")
    built = build_shop(base / "shop", shop_lab, base / "home")
    ensure_user(BECOME_TARGET)
    web1 = built.host("web1.prod")
    subprocess.run(["chpasswd"], input=f"{web1.user}:{built.become_password}\n", text=True,
                   check=True)
    rules = Path("/etc/sudoers.d/ctl-shop-test")
    try:
        rules.write_text(f"{web1.user} ALL=({BECOME_TARGET}) ALL\n")
        rules.chmod(0o440)
        subprocess.run(["visudo", "-c", "-f", str(rules)], check=True, capture_output=True)
        yield built
    finally:
        rules.unlink(missing_ok=True)


@pytest.fixture
def env(shop: Shop, tmp_path: Path) -> dict[str, str]:
    """The shop's environment with this test's own ctl registry."""
    return shop.environ(tmp_path / "ctl-state")


# --- helpers -------------------------------------------------------------------------------


def run(shop: Shop, tool: str, env: dict[str, str], pattern: str | None, *args: str
        ) -> subprocess.CompletedProcess[str]:
    """The same ad-hoc words through ``ansible`` or ``ctl run``, from the shop. No pattern:
    ``ansible all ...`` against ``ctl run ...`` (ctl's default is all)."""
    if tool == "ansible":
        return shop.ansible(pattern or "all", *args, env=env)
    return shop.ctl("run", *([pattern] if pattern else []), *args, env=env)


def launched(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    """A ``-P 0`` launch's hosts -> their finished job records, read on the hosts' disks."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = blocks(proc.stdout)
    for host, (label, _) in found.items():
        assert label == "CHANGED", (host, proc.stdout)
    return {host: {**wait_record(data["results_file"]), "results_file": data["results_file"],
                   "ansible_job_id": data["ansible_job_id"]}
            for host, (label, data) in found.items()}


def expected_prod(shop: Shop) -> dict[str, tuple[str, str]]:
    """What Ansible reaches in production: host -> (login, server address)."""
    return {name: (shop.host(name).user, shop.host(name).address) for name in PRODUCTION}


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """A refused command's whole stderr: exactly one ``ctl: error:`` line, no traceback."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("ctl: error: "), proc.stderr
    return lines[0]


def cfg_origin(shop: Shop, section: str, key: str) -> str:
    """``<cfg>:<line> [section] key``, the line found in the file as written."""
    text = shop.files["cfg"].read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if t.split("=")[0].strip() == key)
    return f"{shop.files['cfg']}:{line} [{section}] {key}"


# --- the same hosts, logins, addresses, output ----------------------------------------------


def test_shop_launch_runs_as_the_logins_ansible_uses_and_ansible_reads_the_job(
        shop: Shop, env: dict[str, str]) -> None:
    """No -i, no options: cfg inventory, cfg private_key_file (relative to the cfg), cfg
    remote_user (db1), templated ansible_user (web), the cfg's UserKnownHostsFile (HOME's
    known_hosts is empty); then ansible's async_status reads ctl's job."""
    expected = expected_prod(shop)
    procs = {tool: run(shop, tool, env, None, "-B", "3600", "-P", "0", "-a", "id -un")
             for tool in ("ansible", "ctl")}
    seen = {tool: launched(proc) for tool, proc in procs.items()}
    # the cfg's ControlMaster/ControlPersist/-C are ignored quietly: only the closing line
    assert [line for line in procs["ctl"].stderr.splitlines() if line.strip()] == [
        line for line in procs["ctl"].stderr.splitlines() if line.startswith("ctl: job ")], \
        procs["ctl"].stderr
    for tool, records in seen.items():
        assert sorted(records) == sorted(expected), (tool, records)
        for host, record in records.items():
            login = expected[host][0]
            assert record["rc"] == 0 and record["stdout"] == login, (tool, host, record)
            assert record["results_file"].startswith(
                f"{shop.host(host).home}/.ansible_async/"), (tool, record)
    assert (shop.root.parent / "home" / ".ssh" / "known_hosts").read_text() == ""

    jids = {r["ansible_job_id"] for r in seen["ctl"].values()}
    assert len(jids) == 1, seen["ctl"]
    status = shop.ansible("all", "-m", "async_status", "-a", f"jid={jids.pop()}", env=env)
    read = blocks(status.stdout)
    assert sorted(read) == sorted(expected), status.stdout + status.stderr
    for host, (_, data) in read.items():
        assert data["finished"] in (1, True) and data["stdout"] == expected[host][0], data


def test_shell_module_reaches_the_addresses_ansible_reaches(shop: Shop,
                                                            env: dict[str, str]) -> None:
    """``ansible_host: "{{ lab_ip }}"``; web2's lab_ip is an inline ``!vault`` value (1.2,
    label prod, from the cfg's vault_identity_list) in host_vars, over a decoy in hosts.ini;
    db1's port comes from ``lookup('file', ...) | int``. Same output, stderr and rc."""
    cmd = f'{SSH_WHO}; echo "to stderr" >&2; exit 3'
    expected = expected_prod(shop)
    seen = {tool: launched(run(shop, tool, env, None, "-B", "3600", "-P", "0",
                               "-m", "shell", "-a", cmd)) for tool in ("ansible", "ctl")}
    for tool, records in seen.items():
        assert sorted(records) == sorted(expected), (tool, records)
        for host, record in records.items():
            login, address = expected[host]
            who, _, connection = record["stdout"].partition(" ")
            assert (who, server_address(connection)) == (login, address), (tool, host, record)
            assert connection.split()[3] == str(shop.host(host).port)
            assert record["rc"] == 3 and record["stderr"] == "to stderr", (tool, record)
    assert shop.decoy_ip not in json.dumps(seen)


# --- precedence: env over cfg, options over env, host vars over both, -e over everything -----


def _precedence_cases() -> list[Any]:
    db, web1, web2, stage = "db1.prod", "web1.prod", "web2.prod", "stage1.stage"
    return [
        # ANSIBLE_REMOTE_USER beats the cfg's remote_user (db1 has no ansible_user) but not
        # the web hosts' ansible_user
        pytest.param({"ANSIBLE_REMOTE_USER": "nobody-in-the-shop"}, [], "all",
                     {web1: web1, web2: web2, db: None}, id="env-over-cfg"),
        # -u beats ANSIBLE_REMOTE_USER; ansible_user still beats -u
        pytest.param({"ANSIBLE_REMOTE_USER": "nobody-in-the-shop"}, ["-u", "@db1.prod"],
                     f"{db}:{web1}", {db: db, web1: web1}, id="option-over-env"),
        # -e beats the templated group vars, the inventory port and -u: web1 lands on db1
        pytest.param({}, ["-e", "ansible_host=@db1.prod.address", "-e",
                          "ansible_port=@db1.prod.port", "-e", "ansible_user=@db1.prod",
                          "-u", "@web1.prod"], web1, {web1: db}, id="extra-vars-over-all"),
        # lookup('env', ...) in group_vars: SHOP_LOGIN replaces the templated default
        pytest.param({"SHOP_LOGIN": "@web1.prod"}, [], "web", {web1: web1, web2: None},
                     id="lookup-env-in-group-vars"),
        # ANSIBLE_SSH_COMMON_ARGS beats the cfg's: an empty UserKnownHostsFile with
        # StrictHostKeyChecking=yes refuses the host
        pytest.param({"ANSIBLE_SSH_COMMON_ARGS": "-o UserKnownHostsFile=@empty "
                      "-o StrictHostKeyChecking=yes"}, [], web1, {web1: None},
                     id="env-ssh-args-over-cfg"),
        pytest.param({}, ["-i", "inventories/staging"], "all", {stage: stage},
                     id="staging-by-option"),
        pytest.param({"ANSIBLE_INVENTORY": "inventories/staging"}, [], "all",
                     {stage: stage}, id="staging-by-env"),
    ]


@pytest.mark.parametrize(("extra_env", "args", "pattern", "expect"), _precedence_cases())
def test_settings_precedence_matches_ansible(shop: Shop, tmp_path: Path,
                                             extra_env: dict[str, str], args: list[str],
                                             pattern: str, expect: dict[str, str | None]
                                             ) -> None:
    """``expect``: host -> the lab host whose login and address the job must report, or None
    for UNREACHABLE; the same for both tools, with the same exit code."""
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")

    def fill(text: str) -> str:
        text = text.replace("@empty", str(empty))
        for name in ("web1.prod", "web2.prod", "db1.prod", "stage1.stage"):
            h = shop.host(name)
            text = text.replace(f"@{name}.address", h.address).replace(
                f"@{name}.port", str(h.port)).replace(f"@{name}", h.user)
        return text

    # a fresh ControlPath dir: ansible must not reuse a master opened under other settings
    env = shop.environ(tmp_path / "ctl-state", ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp_path / "cp"),
                      **{k: fill(v) for k, v in extra_env.items()})
    words = [pattern, *[fill(a) for a in args], "-B", "60", "-P", "1", "-m", "shell",
             "-a", SSH_WHO]
    codes = {}
    for tool in ("ansible", "ctl"):
        proc = run(shop, tool, env, *words)
        codes[tool] = proc.returncode
        found = blocks(proc.stdout)
        assert sorted(found) == sorted(expect), (tool, proc.stdout, proc.stderr)
        for host, target in expect.items():
            label, data = found[host]
            if target is None:
                assert label == "UNREACHABLE!", (tool, host, label, data)
                continue
            assert label == "CHANGED", (tool, host, label, data, proc.stderr)
            lab_host = shop.host(target)
            who, _, connection = data["stdout"].partition(" ")
            assert (who, server_address(connection)) == (lab_host.user, lab_host.address), \
                (tool, host, data)
    assert codes["ansible"] == codes["ctl"], codes
    assert empty.read_text() == ""  # StrictHostKeyChecking=yes records nothing


# --- become, with the password from vault through a template --------------------------------


def test_become_password_comes_from_vault_through_a_template(shop: Shop,
                                                            env: dict[str, str]) -> None:
    """``-b`` with the cfg's become_user: ``ansible_become_password: "{{ vault_become_pass
    }}"`` resolves into the whole-file vaulted group_vars/all/vault.yml, for both tools; the
    job runs as the become user; ansible's async_status (-b) and ctl poll read ctl's job."""
    home = f"/home/{BECOME_TARGET}"
    for tool in ("ansible", "ctl"):
        proc = run(shop, tool, env, "web1.prod", "-b", "-B", "60", "-P", "1", "-a", "id -un")
        assert proc.returncode == 0, (tool, proc.stdout, proc.stderr)
        label, data = blocks(proc.stdout)["web1.prod"]
        assert data["stdout"] == BECOME_TARGET, (tool, data)
        assert data["results_file"].startswith(f"{home}/.ansible_async/"), (tool, data)

    start = run(shop, "ctl", env, "web1.prod", "-b", "-B", "60", "-P", "0", "-a", "id -un")
    record = launched(start)["web1.prod"]
    assert record["stdout"] == BECOME_TARGET
    jid = record["ansible_job_id"]
    status = shop.ansible("web1.prod", "-b", "-m", "async_status", "-a", f"jid={jid}",
                          env=env)
    assert blocks(status.stdout)["web1.prod"][1]["stdout"] == BECOME_TARGET, \
        status.stdout + status.stderr
    # ctl's own poll from the shop: the become password is where it was at launch (vault)
    poll = shop.ctl("poll", jid, env=env)
    label, data = blocks(poll.stdout)["web1.prod"]
    assert (poll.returncode, label, data.get("stdout")) == (0, "CHANGED", BECOME_TARGET), \
        (poll.stdout, poll.stderr)


def test_secrets_never_reach_argv_registry_job_files_or_json(shop: Shop, env: dict[str, str],
                                                             tmp_path: Path) -> None:
    secrets = [shop.vault_password, shop.prod_password, shop.become_password]
    proc = shop.ctl_popen("run", "web1.prod", "-b", "-B", "60", "-P", "1", "--json",
                          "-m", "shell", "-a", "sleep 2; id -un", env=env)
    leaked = argv_holding_any(secrets, 2.5)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert leaked == {}, leaked
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["data"]["stdout"] == BECOME_TARGET, events

    start = shop.ctl("run", "web1.prod", "-b", "-B", "60", "-P", "0", "--json", "-m", "shell",
                     "-a", "id -un; echo done >&2", env=env)
    assert start.returncode == 0, start.stderr
    jid = json.loads(start.stdout.splitlines()[0])["jid"]
    job = Path(f"/home/{BECOME_TARGET}/.ansible_async/{jid}")
    assert wait_record(str(job))["stdout"] == BECOME_TARGET
    jobs = shop.ctl("jobs", "--json", env=env)
    show = shop.ctl("show", jid, "--json", env=env)
    state = Path(env["CTL_HOME"])
    stored = {str(p): p.read_bytes() for p in state.rglob("*") if p.is_file()}
    assert any(name.endswith("registry.db") for name in stored), stored.keys()
    stored.update({str(p): p.read_bytes() for p in job.parent.glob(f"{jid}*")})
    stored.update({"run -P 1 --json": (out + err).encode(), "run -P 0 --json":
                   (start.stdout + start.stderr).encode(), "jobs --json": jobs.stdout.encode(),
                   "show --json": show.stdout.encode()})
    for where, data in stored.items():
        for secret in secrets:
            assert secret.encode() not in data, (where, "holds a secret")


# --- what ctl shows ------------------------------------------------------------------------


def test_inventory_list_has_ansible_inventorys_shape(shop: Shop, env: dict[str, str]) -> None:
    """Same groups and hostvars as ``ansible-inventory --list``; templates kept as text,
    inline vault values as ``{"__ansible_vault": ...}``; decrypted values masked (where
    ansible-inventory prints them)."""
    ans = shop.ansible("--list", tool="ansible-inventory", env=env)
    ctl = shop.ctl("inventory", "--list", env=env)
    assert ans.returncode == 0 and ctl.returncode == 0, ans.stderr + ctl.stderr
    theirs, ours = json.loads(ans.stdout), json.loads(ctl.stdout)
    assert shop.become_password not in ctl.stdout
    assert shop.become_password in ans.stdout  # ansible-inventory shows decrypted values
    hv_theirs, hv_ours = theirs["_meta"]["hostvars"], ours["_meta"]["hostvars"]
    assert sorted(hv_ours) == sorted(hv_theirs)
    for host, variables in hv_theirs.items():
        assert sorted(hv_ours[host]) == sorted(variables), host
        for key, value in variables.items():
            mine = hv_ours[host][key]
            if value == shop.become_password:
                assert mine == "********", (host, key, mine)
            elif key in ("ansible_become_password", "ansible_password"):
                assert mine in (value, "********"), (host, key, mine)
            else:
                assert mine == value, (host, key, mine, value)
    assert hv_ours["web2.prod"]["lab_ip"]["__ansible_vault"].startswith(
        "$ANSIBLE_VAULT;1.2;AES256;prod\n")
    assert hv_ours["web1.prod"]["ansible_host"] == "{{ lab_ip }}"
    groups = {name for name in theirs if name != "_meta"}
    assert {name for name in ours if name != "_meta"} == groups
    for name in groups:
        for part in ("hosts", "children"):
            assert sorted(ours[name].get(part, [])) == sorted(theirs[name].get(part, [])), \
                (name, part)


def test_inventory_host_shows_the_rendered_settings_with_origins(shop: Shop,
                                                                 env: dict[str, str]) -> None:
    """``ctl inventory --host`` renders the templates (the address and login ctl will
    connect with, which are the ones Ansible renders) and says where each came from; the
    become password is masked, and is not called plain text (it comes from the vault)."""
    debug = shop.ansible("prod", "-m", "debug", "-a", "msg={{ ansible_host }}:{{ ansible_port }}",
                         env=env)
    rendered = {host: data["msg"] for host, (_, data) in blocks(debug.stdout).items()}
    assert sorted(rendered) == sorted(PRODUCTION), debug.stdout + debug.stderr
    for host in PRODUCTION:
        proc = shop.ctl("inventory", "--host", host, env=env)
        assert proc.returncode == 0, proc.stderr
        assert shop.become_password not in proc.stdout
        settings = json.loads(proc.stdout)["settings"]
        got = {name: settings[name]["value"] for name in settings}
        lab_host = shop.host(host)
        assert f"{got['address']}:{got['port']}" == rendered[host] == \
            f"{lab_host.address}:{lab_host.port}", (host, got)
        assert got["user"] == lab_host.user, (host, settings["user"])
        assert "group_vars/all" in settings["address"]["from"], settings["address"]
        assert settings["private_key"] == {
            "value": str(shop.root / "keys" / "id_ed25519"),
            "from": cfg_origin(shop, "defaults", "private_key_file")}
        assert settings["become_user"] == {
            "value": BECOME_TARGET, "from": cfg_origin(shop, "privilege_escalation",
                                                       "become_user")}
        assert settings["known_hosts_file"]["value"] == str(shop.files["known_hosts"])
        assert settings["connect_timeout"] == {"value": 12,
                                               "from": cfg_origin(shop, "defaults", "timeout")}
        assert settings["become_password"]["value"] == "********"
        assert "plain text" not in proc.stderr, proc.stderr  # it comes from the vault
    db = json.loads(shop.ctl("inventory", "--host", "db1.prod", env=env).stdout)["settings"]
    assert db["user"]["from"] == cfg_origin(shop, "defaults", "remote_user")
    assert "host_vars/db1.prod" in db["port"]["from"], db["port"]


def test_ctl_config_shows_what_ansible_config_shows_with_origins(shop: Shop,
                                                                 env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    """ANSIBLE_FORKS beats the cfg's forks; cfg values carry file:line; paths resolve
    against the cfg's directory, as ``ansible-config dump --only-changed`` says."""
    env = dict(env, ANSIBLE_FORKS="9")
    ctl = shop.ctl("config", "--json", env=env)
    assert ctl.returncode == 0, ctl.stderr
    ours = json.loads(ctl.stdout)
    assert ours["config_file"] == str(shop.files["cfg"])
    got = ours["settings"]
    dump = shop.ansible("dump", "--only-changed", tool="ansible-config", env=env)
    theirs = {m[0]: (m[1], m[2]) for m in
              re.findall(r"^(\w+)\(([^)]*)\) = (.*)$", dump.stdout, re.M)}
    pairs = {"forks": "DEFAULT_FORKS", "remote_user": "DEFAULT_REMOTE_USER",
             "private_key_file": "DEFAULT_PRIVATE_KEY_FILE", "timeout": "DEFAULT_TIMEOUT",
             "vault_password_file": "DEFAULT_VAULT_PASSWORD_FILE",
             "become_user": "DEFAULT_BECOME_USER", "host_key_checking": "HOST_KEY_CHECKING"}
    for ours_name, their_name in pairs.items():
        origin, value = theirs[their_name]
        assert str(got[ours_name]["value"]) == value, (ours_name, got[ours_name], value)
        if origin.startswith("env: "):
            assert got[ours_name]["from"] == f"env {origin[5:]}"
        else:
            assert origin == str(shop.files["cfg"])
            assert got[ours_name]["from"].startswith(f"{shop.files['cfg']}:")
    assert got["forks"] == {"value": 9, "from": "env ANSIBLE_FORKS"}
    assert got["remote_user"]["from"] == cfg_origin(shop, "defaults", "remote_user")
    assert got["inventory"]["value"] == [str(shop.root / "inventories" / "production")]
    text = shop.ctl("config", env=env).stdout
    assert f"config file = {shop.files['cfg']}" in text
    origin = cfg_origin(shop, "defaults", "remote_user")
    assert f"remote_user = {shop.host('db1.prod').user}  ({origin})" in text

    # a world-writable directory's ansible.cfg is ignored by both, with Ansible's warning
    public = tmp_path / "public"
    public.mkdir()
    public.chmod(0o777)
    (public / "ansible.cfg").write_text("[defaults]\nforks = 3\n")
    env.pop("ANSIBLE_FORKS")
    ctl_public = subprocess.run([*shop.ctl_argv(), "config", "--json"], cwd=public, env=env,
                                capture_output=True, text=True, timeout=60)
    ans_public = subprocess.run([str(shop.bin / "ansible-config"), "dump", "--only-changed"],
                                cwd=public, env=env, capture_output=True, text=True,
                                timeout=60)
    assert "CONFIG_FILE() = None" in ans_public.stdout, ans_public.stdout
    assert "DEFAULT_FORKS" not in ans_public.stdout, ans_public.stdout
    assert "world writable directory" in ans_public.stderr, ans_public.stderr
    public_settings = json.loads(ctl_public.stdout)
    assert public_settings["config_file"] is None, ctl_public.stdout
    assert "forks" not in public_settings["settings"], ctl_public.stdout
    assert "world writable directory" in ctl_public.stderr, ctl_public.stderr


# --- refused before any host is contacted ---------------------------------------------------


def _hostile_cases() -> list[Any]:
    """(env, args, what the one error line must name, whether ansible refuses it too)."""
    return [
        pytest.param({}, ["--vault-password-file", "@dir"], ["@dir", "directory"], False,
                     id="vault-password-file-is-a-directory"),
        pytest.param({"ANSIBLE_VAULT_PASSWORD_FILE": "@dir"}, [], ["@dir", "directory"], True,
                     id="env-vault-password-file-is-a-directory"),
        pytest.param({}, ["--vault-id", "prod@@script"], ["@script", "prod", "non-zero"],
                     False, id="vault-password-script-fails"),
        pytest.param({"ANSIBLE_VAULT_PASSWORD_FILE": "@wrong"}, [],
                     ["group_vars/all/vault.yml"], True, id="wrong-vault-password"),
        pytest.param({"ANSIBLE_CONFIG": "@nosecret"}, [], ["group_vars/all/vault.yml"], True,
                     id="vaulted-file-without-a-secret"),
        pytest.param({"ANSIBLE_CONFIG": "@broken"}, [], ["@broken:3"], True,
                     id="ansible-cfg-syntax-error"),
        pytest.param({}, ["-e", "@@pipe"], ["web1.prod", "ansible_host", "pipe"], False,
                     id="lookup-pipe-is-refused"),
        pytest.param({}, ["-e", "@@undefined"], ["web1.prod", "ansible_user", "deploy_login",
                                                 "undefined"], True,
                     id="undefined-variable-from-a-file"),
        pytest.param({}, ["-e", "ansible_user={{ deploy_login }}"],
                     ["web1.prod", "ansible_user", "deploy_login", "undefined"], True,
                     id="undefined-variable-as-key-value"),
        pytest.param({}, ["-m", "raw"], ["does not support async"], True, id="raw-module"),
        pytest.param({}, ["-m", "ping"], ["ping"], False, id="other-module"),
    ]


@pytest.mark.parametrize(("extra_env", "args", "names", "ansible_refuses"), _hostile_cases())
def test_bad_input_is_one_line_exit_5_and_nothing_launched(
        shop: Shop, tmp_path: Path, extra_env: dict[str, str], args: list[str],
        names: list[str], ansible_refuses: bool) -> None:
    marker = tmp_path / "MARKER"
    made = {
        "@dir": tmp_path / "pwdir",
        "@script": tmp_path / "vault-pass.sh",
        "@wrong": tmp_path / "wrong.pw",
        "@nosecret": tmp_path / "nosecret" / "ansible.cfg",
        "@broken": tmp_path / "broken" / "ansible.cfg",
        "@pipe": tmp_path / "pipe.yml",
        "@undefined": tmp_path / "undefined.yml",
    }
    made["@dir"].mkdir()
    made["@script"].write_text("#!/bin/sh\necho 'no password today' >&2\nexit 3\n")
    made["@script"].chmod(0o755)
    made["@wrong"].write_text("not-the-password\n")
    made["@nosecret"].parent.mkdir()
    made["@nosecret"].write_text(
        f"[defaults]\ninventory = {shop.root / 'inventories' / 'production'}\n"
        f"private_key_file = {shop.root / 'keys' / 'id_ed25519'}\n")
    made["@broken"].parent.mkdir()
    made["@broken"].write_text("[defaults]\ninventory = inventories/production\n"
                               "this line is not a setting\n")
    made["@pipe"].write_text(f"ansible_host: \"{{{{ lookup('pipe', 'touch {marker}') }}}}\"\n")
    made["@undefined"].write_text("ansible_user: \"{{ deploy_login }}\"\n")

    def fill(text: str) -> str:
        for key in sorted(made, key=len, reverse=True):
            text = text.replace(key, str(made[key]))
        return text

    env = shop.environ(tmp_path / "ctl-state", **{k: fill(v) for k, v in extra_env.items()})
    words = ["web1.prod", "-B", "3600", "-P", "0", *[fill(a) for a in args]]
    if "ping" not in args:
        words += ["-a", "id -un"]
    before = shop.job_files()
    proc = shop.ctl("run", *words, env=env)
    assert proc.returncode == 5, (proc.returncode, proc.stdout, proc.stderr)
    line = error_line(proc)
    for name in names:
        assert fill(name) in line, (name, line)
    assert proc.stdout == ""
    assert not marker.exists()
    assert shop.job_files() == before
    jobs = shop.ctl("jobs", "--json", env=env)
    assert jobs.returncode == 0 and jobs.stdout.strip() == "", jobs.stdout + jobs.stderr
    if ansible_refuses:  # the same input stops ansible too, before any job starts
        theirs = shop.ansible(*words, env=env)
        assert theirs.returncode != 0, theirs.stdout
        assert shop.job_files() == before, theirs.stdout


# --- the -a words themselves -----------------------------------------------------------------


def test_module_args_are_templated_with_the_hosts_variables(shop: Shop,
                                                            env: dict[str, str]) -> None:
    """Ansible templates ``-a`` with each host's variables before it runs anything: the job
    a shop's ``-a "... {{ var }} ..."`` starts must be the same under ctl."""
    words = ["web", "-B", "60", "-P", "1", "-a",
             "echo {{ motd }} on {{ inventory_hostname_short }}"]
    outputs = {}
    for tool in ("ansible", "ctl"):
        proc = run(shop, tool, env, *words)
        outputs[tool] = {host: data.get("stdout") for host, (_, data) in
                         blocks(proc.stdout).items()}
    assert outputs["ansible"] == {"web1.prod": "welcome to the shop on web1",
                                  "web2.prod": "welcome to the shop on web2"}
    assert outputs["ctl"] == outputs["ansible"]
