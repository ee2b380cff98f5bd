"""controller.vault against vaults made by the real ``ansible-vault`` (from the venv) at test
time: whole files (1.1, and 1.2 with a vault-id label) and inline ``!vault`` values. Pure and
fast: no sshd, no network."""

from __future__ import annotations

import binascii
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import yaml

from controller import vault
from controller.errors import InventoryError, VaultError
from controller.secret import Sealed, SecretText
from controller.vault import (
    VaultSecret,
    decrypt,
    is_vaulted,
    load_vars_text,
    read_secrets,
    vault_loader,
)

ANSIBLE_VAULT = Path(sys.executable).parent / "ansible-vault"

PASSWORD = "hunter2-default"
PROD_PASSWORD = "s3cr3t-prod"
VARS_PLAINTEXT = (
    "db_user: admin\n"
    "db_pass: topsecret\n"
    "port: 5432\n"
    "servers:\n"
    "  - name: web1\n"
    "    token: abc123\n"
)
PROD_PLAINTEXT = "api_key: prod-only-key\n"
INLINE_SECRET = "become-me-now"
INLINE_PROD_SECRET = "prod-inline-ü"


@dataclass
class Vaults:
    """The fixtures ansible-vault made, and the password files behind them."""

    dir: Path
    pw_file: Path  # PASSWORD, with a trailing newline
    prod_pw_file: Path  # PROD_PASSWORD
    file_11: Path  # VARS_PLAINTEXT, encrypted with PASSWORD (1.1)
    file_12: Path  # PROD_PLAINTEXT, --vault-id prod@prod_pw_file (1.2;prod)
    inline_11: str  # "ansible_become_password: !vault |..." from encrypt_string
    inline_12: str  # "api_token: !vault |..." 1.2;prod

    @property
    def secret(self) -> VaultSecret:
        return VaultSecret("default", PASSWORD.encode(), str(self.pw_file))

    @property
    def prod(self) -> VaultSecret:
        return VaultSecret("prod", PROD_PASSWORD.encode(), str(self.prod_pw_file))


def _ansible_env(root: Path) -> dict[str, str]:
    """No user or system config: an empty ansible.cfg and a private HOME."""
    cfg = root / "ansible.cfg"
    cfg.write_text("")
    home = root / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "ANSIBLE_CONFIG": str(cfg), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def vaults(tmp_path_factory: pytest.TempPathFactory) -> Vaults:
    root = tmp_path_factory.mktemp("vaults")
    env = _ansible_env(root)
    pw_file, prod_pw_file = root / "pw.txt", root / "prod-pw.txt"
    pw_file.write_text(PASSWORD + "\n")
    prod_pw_file.write_text(PROD_PASSWORD + "\n")
    file_11, file_12 = root / "vars11.yml", root / "vars12.yml"
    file_11.write_text(VARS_PLAINTEXT)
    file_12.write_text(PROD_PLAINTEXT)
    av = str(ANSIBLE_VAULT)
    commands = [
        [av, "encrypt", "--vault-password-file", str(pw_file), str(file_11)],
        [av, "encrypt", "--vault-id", f"prod@{prod_pw_file}", str(file_12)],
        [av, "encrypt_string", "--vault-password-file", str(pw_file),
         "--name", "ansible_become_password", INLINE_SECRET],
        [av, "encrypt_string", "--vault-id", f"prod@{prod_pw_file}",
         "--name", "api_token", INLINE_PROD_SECRET],
    ]
    procs = [subprocess.Popen(cmd, env=env, cwd=root, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd in commands]  # in parallel: each ansible-vault start costs ~0.3 s
    outputs = []
    for cmd, proc in zip(commands, procs):
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, (cmd, out, err)
        outputs.append(out)
    return Vaults(root, pw_file, prod_pw_file, file_11, file_12, outputs[2], outputs[3])


def one_line(exc: BaseException) -> str:
    """The error's message, checked to be one line."""
    msg = str(exc)
    assert "\n" not in msg and "\r" not in msg, msg
    return msg


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# --- fixtures are what we think they are -----------------------------------------------------


def test_fixture_headers(vaults: Vaults) -> None:
    assert vaults.file_11.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256\n")
    assert vaults.file_12.read_text().startswith("$ANSIBLE_VAULT;1.2;AES256;prod\n")
    assert "$ANSIBLE_VAULT;1.1;AES256" in vaults.inline_11
    assert "$ANSIBLE_VAULT;1.2;AES256;prod" in vaults.inline_12


# --- decrypt ---------------------------------------------------------------------------------


def test_decrypt_11(vaults: Vaults) -> None:
    plain = decrypt(vaults.file_11.read_text(), [vaults.secret], "vars11.yml")
    assert plain == VARS_PLAINTEXT
    assert type(plain) is SecretText


def test_decrypt_12_with_label_and_bytes(vaults: Vaults) -> None:
    assert decrypt(vaults.file_12.read_bytes(), [vaults.prod], "vars12.yml") == PROD_PLAINTEXT


def test_label_match_tried_first(vaults: Vaults, monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[bytes] = []
    real_open = vault._open

    def spy(env: object, password: bytes) -> bytes | None:
        tried.append(password)
        return real_open(env, password)  # type: ignore[arg-type]

    monkeypatch.setattr(vault, "_open", spy)
    wrong_default = VaultSecret("default", b"not-it", "x")
    assert decrypt(vaults.file_12.read_text(), [wrong_default, vaults.prod], "f") == PROD_PLAINTEXT
    assert tried == [PROD_PASSWORD.encode()]


def test_other_labels_are_tried_too(vaults: Vaults) -> None:
    """As Ansible (vault_id_match off): the label picks the order, not the candidates."""
    unlabelled = VaultSecret("default", PROD_PASSWORD.encode(), "file")
    other = VaultSecret("dev", b"nope", "file")
    assert decrypt(vaults.file_12.read_text(), [other, unlabelled], "f") == PROD_PLAINTEXT


def test_wrong_password(vaults: Vaults) -> None:
    wrong = VaultSecret("prod", b"wrong-password", "pw")
    with pytest.raises(VaultError) as err:
        decrypt(vaults.file_12.read_text(), [wrong], "group_vars/prod.yml")
    msg = one_line(err.value)
    assert msg.startswith("Decryption failed (no vault secrets were found that could decrypt)")
    assert "group_vars/prod.yml" in msg and "(vault-id prod)" in msg
    assert "wrong-password" not in msg
    assert err.value.exit_code == 5


def test_no_secrets(vaults: Vaults) -> None:
    with pytest.raises(VaultError) as err:
        decrypt(vaults.file_11.read_text(), [], "host_vars/web1.yml: ansible_become_password")
    msg = one_line(err.value)
    assert msg.startswith("Attempting to decrypt but no vault secrets found")
    assert "host_vars/web1.yml: ansible_become_password" in msg
    assert "--vault-password-file" in msg and "(vault-id default)" in msg


def _tamper(vaulttext: str) -> str:
    """The same vault with one hex digit of the ciphertext changed (still well-formed)."""
    header, *lines = vaulttext.strip().splitlines()
    salt, mac, cipher = binascii.unhexlify("".join(lines)).split(b"\n", 2)
    flipped = b"0" if cipher[5:6] != b"0" else b"1"
    cipher = cipher[:5] + flipped + cipher[6:]
    body = binascii.hexlify(b"\n".join([salt, mac, cipher])).decode()
    return "\n".join([header, *(body[i:i + 80] for i in range(0, len(body), 80))]) + "\n"


def test_tampered_ciphertext_fails_hmac(vaults: Vaults) -> None:
    tampered = _tamper(vaults.file_11.read_text())
    assert tampered != vaults.file_11.read_text()
    with pytest.raises(VaultError) as err:
        decrypt(tampered, [vaults.secret], "vars11.yml")
    assert "Decryption failed" in one_line(err.value)
    assert "vars11.yml" in str(err.value)


@pytest.mark.parametrize("text", [
    "$ANSIBLE_VAULT;1.1\n6162\n",  # no cipher
    "$ANSIBLE_VAUL;1.1;AES256\n6162\n",  # not the header
    "$ANSIBLE_VAULT;1.0;AES\n6162\n",  # the removed 1.0 format
    "$ANSIBLE_VAULT;1.1;AES128\n6162\n",  # unknown cipher
    "$ANSIBLE_VAULT;1.1;AES256\nnot-hex\n",
    "$ANSIBLE_VAULT;1.1;AES256\n" + binascii.hexlify(b"6162\n6364").decode() + "\n",  # 2 parts
    "$ANSIBLE_VAULT;1.1;AES256\n",  # no body
    "",
])
def test_malformed_vault(text: str, vaults: Vaults) -> None:
    with pytest.raises(VaultError) as err:
        decrypt(text, [vaults.secret], "bad\nname.yml")
    msg = one_line(err.value)
    assert "bad\\nname.yml" in msg


def test_is_vaulted(vaults: Vaults) -> None:
    assert is_vaulted(vaults.file_11.read_text())
    assert is_vaulted(vaults.file_12.read_bytes())
    assert is_vaulted("\n  $ANSIBLE_VAULT;1.1;AES256\n00")
    assert not is_vaulted("a: $ANSIBLE_VAULT;1.1;AES256")
    assert not is_vaulted("$ANSIBLE_VAULT")
    assert not is_vaulted(b"")


# --- read_secrets ----------------------------------------------------------------------------


def test_password_file_is_stripped(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("  pass word \n\n")
    (secret,) = read_secrets(password_files=[str(f)])
    assert secret == VaultSecret("default", b"pass word", str(f))


def test_vault_id_file_with_and_without_label(vaults: Vaults) -> None:
    secrets = read_secrets(vault_ids=[f"prod@{vaults.prod_pw_file}", str(vaults.pw_file)])
    assert [(s.label, s.password) for s in secrets] == [
        ("prod", PROD_PASSWORD.encode()), ("default", PASSWORD.encode())]


def test_order_is_vault_ids_files_then_prompt(vaults: Vaults) -> None:
    secrets = read_secrets(password_files=[str(vaults.pw_file)],
                           vault_ids=[f"prod@{vaults.prod_pw_file}"], ask=True,
                           prompt=lambda _q: "typed")
    assert [s.source for s in secrets] == [str(vaults.prod_pw_file), str(vaults.pw_file),
                                           "prompt"]


@pytest.mark.parametrize("make, expect", [
    (Path.mkdir, "can not be a directory"),
    (lambda p: None, "was not found"),
    (lambda p: p.write_text(" \n"), "Invalid vault password"),
])
def test_bad_password_file(tmp_path: Path, make: Callable[[Path], object], expect: str) -> None:
    path = tmp_path / "secret-source"
    make(path)
    with pytest.raises(VaultError) as err:
        read_secrets(vault_ids=[f"ops@{path}"])
    msg = one_line(err.value)
    assert expect in msg and str(path) in msg and "vault-id ops" in msg


def test_script_password(tmp_path: Path) -> None:
    s = script(tmp_path / "pw.sh", "printf 'from script\\n'\n")
    (secret,) = read_secrets(password_files=[str(s)])
    assert secret.password == b"from script" and secret.source == str(s)


def test_script_exit_1_names_its_stderr(tmp_path: Path) -> None:
    s = script(tmp_path / "pw.sh", "echo noise >&2\necho 'gpg: decryption failed' >&2\nexit 1\n")
    with pytest.raises(VaultError) as err:
        read_secrets(vault_ids=[f"prod@{s}"])
    msg = one_line(err.value)
    assert "returned non-zero (1)" in msg and "gpg: decryption failed" in msg
    assert str(s) in msg and "vault-id prod" in msg and "noise" not in msg


def test_script_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vault, "SCRIPT_TIMEOUT", 0.3)
    s = script(tmp_path / "slow.sh", "exec sleep 5\n")
    with pytest.raises(VaultError, match="timed out"):
        read_secrets(password_files=[str(s)])


def test_empty_script_output(tmp_path: Path) -> None:
    s = script(tmp_path / "pw.sh", "echo\n")
    with pytest.raises(VaultError, match="Invalid vault password was provided from script"):
        read_secrets(password_files=[str(s)])


def test_client_script_gets_vault_id(tmp_path: Path) -> None:
    log = tmp_path / "argv"
    s = script(tmp_path / "keyring-client.py", f"""echo "$@" >> '{log}'
if [ "$2" = prod ]; then echo prod-pass; exit 0; fi
if [ "$2" = default ]; then echo default-pass; exit 0; fi
echo "no secret for $2" >&2; exit 2
""")
    secrets = read_secrets(password_files=[str(s)], vault_ids=[f"prod@{s}"])
    assert [(x.label, x.password) for x in secrets] == [
        ("prod", b"prod-pass"), ("default", b"default-pass")]
    assert log.read_text().splitlines() == ["--vault-id prod", "--vault-id default"]
    with pytest.raises(VaultError) as err:
        read_secrets(vault_ids=[f"dev@{s}"])
    msg = one_line(err.value)
    assert "did not find a secret for vault-id=dev" in msg and "no secret for dev" in msg


def test_prompt_sources() -> None:
    asked: list[str] = []

    def prompt(question: str) -> str:
        asked.append(question)
        return f"  typed-{len(asked)}\n"

    secrets = read_secrets(vault_ids=["prod@prompt"], ask=True, prompt=prompt)
    assert asked == ["Vault password (prod): ", "Vault password: "]
    assert secrets == [VaultSecret("prod", b"typed-1", "prompt"),
                       VaultSecret("default", b"typed-2", "prompt")]


def test_prompt_empty_or_eof() -> None:
    with pytest.raises(VaultError, match="Invalid vault password"):
        read_secrets(ask=True, prompt=lambda _q: "   ")

    def eof(_q: str) -> str:
        raise EOFError

    with pytest.raises(VaultError, match="EOFError"):
        read_secrets(vault_ids=["prod@prompt"], prompt=eof)


def test_vaulted_password_file(vaults: Vaults) -> None:
    """A password file that is itself a vault is opened with the secrets read before it."""
    secrets = read_secrets(vault_ids=[str(vaults.pw_file)], password_files=[str(vaults.file_11)])
    assert secrets[1].password == VARS_PLAINTEXT.strip().encode()


def test_reprs_hide_the_password(vaults: Vaults) -> None:
    secret = vaults.secret
    assert PASSWORD not in repr(secret) and PASSWORD not in str(secret)
    assert str(vaults.pw_file) in repr(secret)
    plain = decrypt(vaults.file_11.read_text(), [secret], "f")
    assert "topsecret" not in repr(plain) and "topsecret" not in repr({"k": plain})


# --- YAML ------------------------------------------------------------------------------------


def test_whole_file_vaulted_yaml(vaults: Vaults) -> None:
    data = load_vars_text(vaults.file_11.read_text(), [vaults.secret], "host_vars/web1.yml")
    assert data == yaml.safe_load(VARS_PLAINTEXT)
    assert type(data["db_pass"]) is SecretText and type(data["db_user"]) is SecretText
    assert type(data["servers"][0]["token"]) is SecretText
    assert data["port"] == 5432 and type(data["port"]) is int
    assert all(type(k) is str for k in data)  # keys stay plain


def test_whole_file_vaulted_errors_name_the_file(vaults: Vaults) -> None:
    with pytest.raises(VaultError) as err:
        load_vars_text(vaults.file_11.read_text(), [], "host_vars/web1.yml")
    assert "host_vars/web1.yml" in one_line(err.value)


def test_inline_vault(vaults: Vaults) -> None:
    data = load_vars_text(vaults.inline_11 + vaults.inline_12, [vaults.secret, vaults.prod],
                          "inv.yml")
    sealed = data["ansible_become_password"]
    assert isinstance(sealed, Sealed)
    opened = sealed.reveal()
    assert opened == INLINE_SECRET and type(opened) is SecretText
    assert data["api_token"].reveal() == INLINE_PROD_SECRET
    # what ansible-inventory --list shows: the scalar, header and lines, trailing "\n" kept
    assert sealed.to_json() == {"__ansible_vault": sealed.ciphertext}
    assert sealed.ciphertext.startswith("$ANSIBLE_VAULT;1.1;AES256\n")
    assert sealed.ciphertext.endswith("\n") and "  " not in sealed.ciphertext


def test_inline_vault_is_lazy(vaults: Vaults, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[bytes] = []
    real_open = vault._open
    monkeypatch.setattr(vault, "_open", lambda env, pw: opened.append(pw) or real_open(env, pw))
    data = load_vars_text(vaults.inline_11, [vaults.secret], "inv.yml")
    assert opened == []  # loading decrypts nothing
    assert data["ansible_become_password"].reveal() == INLINE_SECRET
    assert data["ansible_become_password"].reveal() == INLINE_SECRET
    assert opened == [PASSWORD.encode()]  # once


def test_inline_vault_without_secrets_fails_only_on_reveal(vaults: Vaults) -> None:
    data = load_vars_text(f"plain: 1\n{vaults.inline_11}", [], "inv.yml")
    assert data["plain"] == 1 and isinstance(data["ansible_become_password"], Sealed)
    with pytest.raises(VaultError) as err:
        data["ansible_become_password"].reveal()
    msg = one_line(err.value)
    assert msg.startswith("Attempting to decrypt but no vault secrets found")
    assert "inv.yml: line 2" in msg


def test_inline_vault_wrong_password(vaults: Vaults) -> None:
    data = load_vars_text(vaults.inline_12, [VaultSecret("prod", b"bad", "p")], "g.yml")
    with pytest.raises(VaultError, match=r"Decryption failed .* on g\.yml: line 1 "
                                         r"\(vault-id prod\)"):
        data["api_token"].reveal()


def test_vault_loader(vaults: Vaults) -> None:
    loader = vault_loader([vaults.secret], "inv.yml")
    assert issubclass(loader, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert vault_loader([vaults.secret], "inv.yml") is loader  # cached
    data = yaml.load(vaults.inline_11, Loader=loader)  # noqa: S506 (a safe loader)
    assert data["ansible_become_password"].reveal() == INLINE_SECRET
    assert yaml.load("a: [1, x]", Loader=loader) == {"a": [1, "x"]}  # noqa: S506


def test_plain_yaml() -> None:
    assert load_vars_text("", [], "empty.yml") is None
    data = load_vars_text("a: x\nb: [1, y]\n", [], "f.yml")
    assert data == {"a": "x", "b": [1, "y"]} and type(data["a"]) is str  # not from a vault


def test_yaml_errors() -> None:
    with pytest.raises(InventoryError) as err:
        load_vars_text("a: 1\nb: [\n", [], "group_vars/all.yml")
    assert one_line(err.value).startswith("group_vars/all.yml: line ")
    assert "invalid YAML" in str(err.value)
    with pytest.raises(InventoryError, match="!vault tag needs a string"):
        load_vars_text("a: !vault {x: 1}\n", [], "f.yml")
    with pytest.raises(InventoryError):
        load_vars_text("a: !!python/object:os.system {}\n", [], "f.yml")  # safe only


def test_bad_yaml_in_vault_never_shows_plaintext(tmp_path: Path, vaults: Vaults) -> None:
    env = _ansible_env(tmp_path)
    f = tmp_path / "bad.yml"
    f.write_text("password: !!python/name:TOPSECRET_VALUE ''\n")
    subprocess.run([str(ANSIBLE_VAULT), "encrypt", "--vault-password-file", str(vaults.pw_file),
                    str(f)], env=env, check=True, capture_output=True, timeout=60)
    with pytest.raises(InventoryError) as err:
        load_vars_text(f.read_text(), [vaults.secret], "host_vars/db.yml")
    msg = one_line(err.value)
    assert msg.startswith("host_vars/db.yml: line 1: invalid YAML:")
    assert "TOPSECRET" not in msg
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_anchors_and_cycles_in_vaulted_yaml(vaults: Vaults) -> None:
    converted = vault._as_secret(yaml.safe_load("a: &x [s, 1]\nb: *x\nc: &c [*c]\n"), {})
    assert converted["a"] is converted["b"] and type(converted["a"][0]) is SecretText
    assert converted["c"][0] is converted["c"]
