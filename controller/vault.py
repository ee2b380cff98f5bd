"""Ansible Vault, read side: vault secrets from the command line, decryption of vaulted files and
inline ``!vault`` values. Stdlib plus ``cryptography`` (imported only when something is actually
decrypted), byte-compatible with ``ansible-vault`` 1.1 and 1.2 (``AES256``).

The format, as ``ansible.parsing.vault`` writes it::

    $ANSIBLE_VAULT;1.1;AES256              (1.2 adds ";<vault-id label>")
    <hex, 80 columns a line>               unhexlified: hex(salt) \\n hex(hmac) \\n hex(ciphertext)

    keys   = PBKDF2-HMAC-SHA256(password, salt, 10,000 iterations, 80 bytes)
           = 32 AES-256 key | 32 HMAC-SHA256 key | 16 CTR initial counter
    check  HMAC-SHA256(hmac key, ciphertext) == hmac      (constant time)
    plain  = PKCS7-unpad(AES-256-CTR-decrypt(ciphertext)) (128-bit blocks)

What Ansible shows for an inline ``!vault`` value (ansible-core 2.19, checked by hand with
``ansible-inventory -i inv.yml --list`` / ``--host web1``): the SAME output with the right
password, a wrong one, or none at all -- the value is never decrypted for the view::

    "ansible_become_password": {
        "__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256\\n6133...6265\\n...\\n6331\\n"
    }

i.e. ``{"__ansible_vault": <the YAML scalar exactly, header and hex lines, "\\n" after each,
the trailing one included since a ``|`` block keeps it>}`` (``--yaml`` prints it back as a
``!vault |`` block), exit 0. That is ``Sealed.to_json()``. A WHOLE-FILE vaulted vars file is
different: ``--list``/``--host`` show its values decrypted (``"db_pass": "topsecret"``), and
with no password, or a wrong one, ``ansible-inventory`` fails (exit 4) with
``[ERROR]: Attempting to decrypt but no vault secrets found.`` or ``[ERROR]: Decryption failed
(no vault secrets were found that could decrypt).`` Using an inline value with no secret
(``ansible -m debug -a var=...``) fails only then: "Attempt to use undecryptable variable:
Attempting to decrypt but no vault secrets found."

Where ctl differs from Ansible on purpose: a bad password source (missing file, failing
script) is an error at once, where Ansible warns and goes on if another source worked; a
password script's stdin is /dev/null and its stderr is captured (for the error message), and it
gets ``SCRIPT_TIMEOUT`` seconds.
"""

from __future__ import annotations

import functools
import getpass
import os
import re
import stat
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import yaml

from .errors import InventoryError, VaultError
from .secret import Sealed, SecretText

DEFAULT_LABEL = "default"  # Ansible's DEFAULT_VAULT_IDENTITY
SCRIPT_TIMEOUT = 30.0  # seconds a password script may take
CLIENT_UNKNOWN_ID_RC = 2  # a -client script's "no secret for this vault-id"
PROMPT_SOURCES = ("prompt", "prompt_ask_vault_pass")

HEADER = "$ANSIBLE_VAULT"
VERSIONS = ("1.1", "1.2")
CIPHER = "AES256"
KDF_ITERATIONS = 10_000
KEY_LEN, IV_LEN = 32, 16

_VAULTED_STR = re.compile(r"\s*\$ANSIBLE_VAULT;")
_VAULTED_BYTES = re.compile(rb"\s*\$ANSIBLE_VAULT;")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


@dataclass(frozen=True)
class VaultSecret:
    """One vault password and the vault-id label it answers to."""

    label: str  # vault-id label, "default" when none
    password: bytes = field(repr=False)
    source: str  # where it came from, for messages: a path, "prompt", ...


# --- secrets from the command line ---------------------------------------------------------


def read_secrets(password_files: Sequence[str] = (), vault_ids: Sequence[str] = (),
                 ask: bool = False,
                 prompt: Callable[[str], str] = getpass.getpass) -> list[VaultSecret]:
    """The secrets of ``--vault-id [label@]source`` (repeatable), ``--vault-password-file FILE``
    (repeatable) and ``--ask-vault-pass``, in Ansible's order: vault ids, files, then the
    prompt. A source is a file (its content), an executable (its stdout), or ``prompt``."""
    secrets: list[VaultSecret] = []
    for slug in vault_ids:
        label, source = _split_vault_id(slug)
        if source in PROMPT_SOURCES:
            secrets.append(_prompt_secret(label or DEFAULT_LABEL, prompt,
                                          with_label=source == "prompt"))
        else:
            # Ansible gives a -client script "--vault-id L" only when L was written out
            secrets.append(_file_secret(source, label or DEFAULT_LABEL, label, secrets))
    for path in password_files:
        secrets.append(_file_secret(path, DEFAULT_LABEL, DEFAULT_LABEL, secrets))
    if ask:
        secrets.append(_prompt_secret(DEFAULT_LABEL, prompt, with_label=False))
    return secrets


def _split_vault_id(slug: str) -> tuple[str, str]:
    """``label@source`` -> (label, source); no ``@`` -> ("", slug), as Ansible splits it."""
    label, sep, source = slug.partition("@")
    if not sep:
        label, source = "", slug
    if not source:
        raise VaultError(_one_line(f"--vault-id {slug!r}: no password source after '@'"))
    return label, source


def _prompt_secret(label: str, prompt: Callable[[str], str], with_label: bool) -> VaultSecret:
    """Ask on the terminal (``Vault password: `` / ``Vault password (label): ``)."""
    question = f"Vault password ({label}): " if with_label else "Vault password: "
    try:
        answer = prompt(question)
    except EOFError:
        raise VaultError(f"EOFError (ctrl-d) on prompt for (vault-id {_one_line(label)})") from None
    password = answer.encode("utf-8").strip()
    if not password:
        raise VaultError("Invalid vault password was provided (prompt, vault-id "
                         f"{_one_line(label)}): it is empty")
    return VaultSecret(label, password, "prompt")


def _file_secret(path: str, label: str, client_label: str,
                 known: Sequence[VaultSecret]) -> VaultSecret:
    """A password file's content, or an executable's stdout."""
    full = os.path.abspath(os.path.expanduser(os.path.expandvars(path)))
    where = f"{_one_line(full)} (vault-id {_one_line(label)})"
    if not os.path.exists(full):
        raise VaultError(f"The vault password file {where} was not found")
    if os.path.isdir(full):
        raise VaultError(f"The vault password file provided {where} can not be a directory")
    if _is_executable(full):
        password = _run_script(full, label, client_label, where)
        kind = "script"
    else:
        password = _read_password_file(full, known, where)
        kind = "file"
    if not password:
        raise VaultError(f"Invalid vault password was provided from {kind} {where}: it is empty")
    return VaultSecret(label, password, full)


def _is_executable(path: str) -> bool:
    """Any execute bit set, as Ansible's ``is_executable`` (not ``os.access``: root)."""
    mode = os.stat(path).st_mode
    return stat.S_ISREG(mode) and bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))


def _read_password_file(path: str, known: Sequence[VaultSecret], where: str) -> bytes:
    """A plain password file: content stripped; itself vaulted -> decrypted with ``known``."""
    try:
        with open(path, "rb") as f:
            data = f.read().strip()
    except OSError as exc:
        raise VaultError(f"Could not read vault password file {where}: {exc.strerror}") from None
    if is_vaulted(data):
        data = decrypt(data, known, path).encode("utf-8")
    return data.strip(b"\r\n")


def _run_script(path: str, label: str, client_label: str, where: str) -> bytes:
    """Run a password script (``--vault-id <label>`` for a ``*-client`` one); its stdout."""
    client = os.path.splitext(path)[0].endswith("-client")
    argv = [path, "--vault-id", client_label] if client and client_label else [path]
    what = "Vault password client script" if client else "Vault password script"
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=SCRIPT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise VaultError(f"{what} {where} timed out after {SCRIPT_TIMEOUT:g} s") from None
    except OSError as exc:
        raise VaultError(f"Problem running {what.lower()} {where} ({exc.strerror}). If this is "
                         "not a script, remove the executable bit from the file.") from None
    if proc.returncode != 0:
        last = _last_line(proc.stderr)
        if client and proc.returncode == CLIENT_UNKNOWN_ID_RC:
            raise VaultError(f"{what} {where} did not find a secret for vault-id="
                             f"{_one_line(label)}: {last}")
        raise VaultError(f"{what} {where} returned non-zero ({proc.returncode}): {last}")
    return proc.stdout.strip(b"\r\n")


def _last_line(stderr: bytes, limit: int = 200) -> str:
    """The last non-blank line of a script's stderr, shortened; "(no stderr)" if none."""
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return "(no stderr)"
    last = lines[-1]
    return last if len(last) <= limit else last[: limit - 3] + "..."


def _one_line(text: str) -> str:
    """``text`` with control characters (newlines first) escaped, for one-line messages."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


# --- decryption ----------------------------------------------------------------------------


def is_vaulted(text: str | bytes) -> bool:
    """Whether ``text`` is a vault: starts with ``$ANSIBLE_VAULT;`` (after whitespace)."""
    if isinstance(text, bytes):
        return _VAULTED_BYTES.match(text) is not None
    return _VAULTED_STR.match(text) is not None


class _Envelope:
    """A parsed vault: the 1.2 header's vault-id (None for 1.1), salt, HMAC, ciphertext."""

    __slots__ = ("label", "salt", "hmac", "ciphertext")

    def __init__(self, label: str | None, salt: bytes, hmac: bytes, ciphertext: bytes) -> None:
        self.label, self.salt, self.hmac, self.ciphertext = label, salt, hmac, ciphertext


def decrypt(text: str | bytes, secrets: Sequence[VaultSecret], source: str) -> SecretText:
    """The plaintext of a vault, trying the secrets whose label matches a 1.2 header first,
    then the others (Ansible's default, ``vault_id_match`` off). ``source`` names the file
    (and key) in messages, which are one line and never show a password or plaintext."""
    where = _one_line(source)
    env = _parse(text, where)
    label = _one_line(env.label or DEFAULT_LABEL)
    if not secrets:
        raise VaultError(f"Attempting to decrypt but no vault secrets found: {where} "
                         f"(vault-id {label}); give --vault-password-file, --ask-vault-pass "
                         "or --vault-id")
    for secret in _candidates(secrets, env.label):
        plain = _open(env, secret.password)
        if plain is not None:
            return _utf8(_unpad(plain, where), where)
    raise VaultError("Decryption failed (no vault secrets were found that could decrypt) on "
                     f"{where} (vault-id {label})")


def _candidates(secrets: Sequence[VaultSecret], label: str | None) -> list[VaultSecret]:
    """Secrets in trial order: those labelled like the vault first, then the rest."""
    if label is None:
        return list(secrets)
    return ([s for s in secrets if s.label == label]
            + [s for s in secrets if s.label != label])


def _parse(text: str | bytes, where: str) -> _Envelope:
    """Header and hex body of a vault; VaultError (naming ``where``) if it is malformed."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise VaultError(f"Vault format error on {where}: not ASCII text") from None
    lines = text.strip().splitlines()
    if not lines:
        raise VaultError(f"Vault format error on {where}: empty, no $ANSIBLE_VAULT header")
    header = [part.strip() for part in lines[0].split(";")]
    if header[0] != HEADER or len(header) < 3:
        raise VaultError(f"Vault format error on {where}: no $ANSIBLE_VAULT;<version>;<cipher> "
                         "header")
    if header[1] not in VERSIONS:
        raise VaultError(f"Vault format error on {where}: unsupported vault version "
                         f"{_one_line(header[1])!r} (ctl reads {', '.join(VERSIONS)})")
    if header[2] != CIPHER:
        raise VaultError(f"Vault format error on {where}: cipher {_one_line(header[2])!r} "
                         f"could not be found (ctl reads {CIPHER})")
    label = header[3] if len(header) > 3 and header[3] else None
    try:
        body = bytes.fromhex("".join(line.strip() for line in lines[1:]))
        salt_hex, hmac_hex, cipher_hex = body.split(b"\n", 2)
        env = _Envelope(label, bytes.fromhex(salt_hex.decode("ascii")),
                        bytes.fromhex(hmac_hex.decode("ascii")),
                        bytes.fromhex(cipher_hex.decode("ascii")))
    except ValueError:  # bad hex, too few lines, non-ASCII (UnicodeDecodeError)
        raise VaultError(f"Vault format error on {where}: the body is not the vault's "
                         "hex(salt)/hex(hmac)/hex(ciphertext)") from None
    if not env.salt or len(env.hmac) != 32 or not env.ciphertext:
        raise VaultError(f"Vault format error on {where}: empty salt or ciphertext, or an HMAC "
                         "that is not 32 bytes")
    return env


@functools.lru_cache(maxsize=256)
def _derive(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    """(AES key, HMAC key, CTR counter) from PBKDF2; cached as Ansible does (10,000 rounds of
    SHA-256 cost milliseconds, and one value may be opened under many names)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=2 * KEY_LEN + IV_LEN, salt=salt,
                     iterations=KDF_ITERATIONS)
    key = kdf.derive(password)
    return key[:KEY_LEN], key[KEY_LEN:2 * KEY_LEN], key[2 * KEY_LEN:]


def _open(env: _Envelope, password: bytes) -> bytes | None:
    """The padded plaintext, or None when the HMAC does not match (a wrong password)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    aes_key, hmac_key, counter = _derive(password, env.salt)
    mac = hmac.HMAC(hmac_key, hashes.SHA256())
    mac.update(env.ciphertext)
    try:
        mac.verify(env.hmac)  # constant-time comparison
    except InvalidSignature:
        return None
    decryptor = Cipher(algorithms.AES(aes_key), modes.CTR(counter)).decryptor()
    return decryptor.update(env.ciphertext) + decryptor.finalize()


def _unpad(padded: bytes, where: str) -> bytes:
    """PKCS7 (128-bit blocks) removed; a bad pad behind a good HMAC is a damaged vault."""
    from cryptography.hazmat.primitives import padding

    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise VaultError(f"Vault format error on {where}: bad padding after decryption") from None


def _utf8(plain: bytes, where: str) -> SecretText:
    try:
        return SecretText(plain.decode("utf-8"))
    except UnicodeDecodeError:
        raise VaultError(f"Vault content of {where} is not UTF-8 text") from None


# --- YAML ----------------------------------------------------------------------------------

# libyaml's safe loader when PyYAML was built with it (as controller.inventory)
_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _VaultLoader(_BASE_LOADER):  # type: ignore[valid-type,misc]
    """The safe loader plus ``!vault``; secrets and source are class (or instance)
    attributes, so the constructor is registered once, not per file."""

    vault_secrets: Sequence[VaultSecret] = ()
    vault_source: str = "<yaml>"


def _construct_vault(loader: _VaultLoader, node: yaml.Node) -> Sealed:
    """``!vault |`` -> a Sealed value; nothing is decrypted until ``reveal()``."""
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, "the !vault tag needs a string (the vault text)", node.start_mark)
    ciphertext = loader.construct_scalar(node)
    source = f"{loader.vault_source}: line {node.start_mark.line + 1}"
    return Sealed(ciphertext, functools.partial(decrypt, ciphertext, loader.vault_secrets, source))


_VaultLoader.add_constructor("!vault", _construct_vault)


@functools.lru_cache(maxsize=128)
def _loader_class(secrets: tuple[VaultSecret, ...], source: str) -> type[yaml.SafeLoader]:
    return type("VaultLoader", (_VaultLoader,), {"vault_secrets": secrets,
                                                  "vault_source": source})


def vault_loader(secrets: Sequence[VaultSecret], source: str) -> type[yaml.SafeLoader]:
    """A safe loader class (libyaml's when available) that turns ``!vault`` into ``Sealed``
    values opened with ``secrets``, messages naming ``source`` and the line. Cached."""
    return _loader_class(tuple(secrets), source)


def load_vars_text(text: str, secrets: Sequence[VaultSecret], source: str) -> Any:
    """The data of a vars or inventory file's YAML ``text``. A wholly vaulted file is decrypted
    (every string in it, keys excepted, becomes SecretText); inline ``!vault`` values become
    Sealed. Bad YAML: InventoryError naming ``source`` and the line, never vaulted text."""
    if is_vaulted(text):
        plain = decrypt(text, secrets, source)
        return _as_secret(_parse_yaml(plain, secrets, source, vaulted=True), {})
    return _parse_yaml(text, secrets, source, vaulted=False)


def _parse_yaml(text: str, secrets: Sequence[VaultSecret], source: str, vaulted: bool) -> Any:
    loader = _VaultLoader(str(text))  # libyaml takes an exact str, not SecretText
    loader.vault_secrets = secrets
    loader.vault_source = source
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        if vaulted:  # a problem may quote the text: keep the plaintext out, chain included
            problem = _QUOTED.sub("...", problem)
            raise InventoryError(_one_line(f"{source}:{where}: invalid YAML: {problem}")) from None
        raise InventoryError(_one_line(f"{source}:{where}: invalid YAML: {problem}")) from exc
    finally:
        loader.dispose()


def _as_secret(value: Any, memo: dict[int, Any]) -> Any:
    """``value`` with every string (dict keys excepted) made SecretText; aliases and cycles
    (YAML anchors) keep their shape."""
    if isinstance(value, str):
        return SecretText(value)
    if isinstance(value, dict):
        if id(value) in memo:
            return memo[id(value)]
        out: dict[Any, Any] = {}
        memo[id(value)] = out
        for key, item in value.items():
            out[key] = _as_secret(item, memo)
        return out
    if isinstance(value, list):
        if id(value) in memo:
            return memo[id(value)]
        seq: list[Any] = []
        memo[id(value)] = seq
        seq.extend(_as_secret(item, memo) for item in value)
        return seq
    return value
