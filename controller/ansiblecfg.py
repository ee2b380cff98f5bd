"""Ansible's own settings, read as Ansible reads them: ``ansible.cfg`` and ``ANSIBLE_*``.

Two of the layers :mod:`controller.settings` combines (command-line options and ctl's
defaults are not here):

* ``env``: ``ANSIBLE_*`` environment variables, which win over the file;
* ``cfg``: the one ``ansible.cfg`` Ansible would use: the first of ``$ANSIBLE_CONFIG`` (a file,
  or a directory holding ``ansible.cfg``), ``./ansible.cfg`` (skipped, with Ansible's warning,
  when the current directory is world-writable), ``~/.ansible.cfg``, ``/etc/ansible/ansible.cfg``.

Each setting's ini section/keys, environment variables and type come from ansible-core's
``config/base.yml`` and the plugin options Ansible really applies (``ssh`` connection, ``sh``
shell). When several keys or variables of one setting are set, the one listed last wins, as in
Ansible. Values convert as Ansible converts them (``ensure_type``): a quoted ini string loses its
quotes, paths expand ``$VAR`` and ``~`` and are relative to the file's directory (an environment
variable's to the current directory), ``%`` is literal (``%%h`` stays ``%%h``). Where Ansible
silently guesses, ctl refuses: a boolean that is not yes/no/true/false/on/off/y/n/t/f/1/0 is
a :class:`ConfigError` (Ansible takes it as false); an empty ``ANSIBLE_*`` variable of a
non-string setting counts as unset (Ansible turns an empty boolean into false). An empty path
counts as unset (Ansible makes it the file's directory).
"""

from __future__ import annotations

import configparser
import decimal
import os
import pwd
import re
import stat
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import ConfigError

__all__ = [
    "ANSIBLE_SETTINGS",
    "SYSTEM_CONFIG",
    "WORLD_WRITABLE_WARNING",
    "AnsibleLayers",
    "CfgKey",
    "Sourced",
    "convert",
    "dump",
    "load_layers",
    "locate_config",
    "read_config",
    "read_env",
]

SYSTEM_CONFIG = "/etc/ansible/ansible.cfg"

# ansible/config/manager.py, find_ini_config_file(), word for word.
WORLD_WRITABLE_WARNING = (
    "Ansible is being run in a world writable directory ({cwd}),"
    " ignoring it as an ansible.cfg source."
    " For more information see"
    " https://docs.ansible.com/ansible/devel/reference_appendices/config.html"
    "#cfg-in-world-writable-dir"
)

KINDS = frozenset({"str", "int", "float", "bool", "path", "pathlist", "list", "vault_ids"})


@dataclass(frozen=True)
class Sourced:
    """A value and where it came from: ``"/p/ansible.cfg:12 [defaults] remote_user"``,
    ``"env ANSIBLE_REMOTE_USER"``, ``"default"``, ..."""

    value: Any
    origin: str


@dataclass(frozen=True)
class CfgKey:
    """One setting: ctl's name, its ini keys in ``section`` (plus ``extra_ini`` pairs in other
    sections), its environment variables and its kind. Within keys and within env, a later
    entry wins over an earlier one, as in Ansible."""

    name: str
    section: str
    keys: tuple[str, ...]
    env: tuple[str, ...]
    kind: str
    extra_ini: tuple[tuple[str, str], ...] = ()

    @property
    def ini(self) -> tuple[tuple[str, str], ...]:
        """Every (section, key), lowest precedence first."""
        return tuple((self.section, key) for key in self.keys) + self.extra_ini


def _row(name: str, section: str, key: str, env: str, kind: str, **more: Any) -> CfgKey:
    return CfgKey(name, section, (key,), (env,), kind, **more)


_D, _SSH, _PE = "defaults", "ssh_connection", "privilege_escalation"

ANSIBLE_SETTINGS: tuple[CfgKey, ...] = (
    _row("inventory", _D, "inventory", "ANSIBLE_INVENTORY", "pathlist"),
    _row("remote_user", _D, "remote_user", "ANSIBLE_REMOTE_USER", "str"),
    _row("remote_port", _D, "remote_port", "ANSIBLE_REMOTE_PORT", "int"),
    _row("private_key_file", _D, "private_key_file", "ANSIBLE_PRIVATE_KEY_FILE", "path"),
    _row("forks", _D, "forks", "ANSIBLE_FORKS", "int"),
    # The ssh plugin also lists [ssh_connection] timeout and ANSIBLE_SSH_TIMEOUT, but Ansible
    # overrides them with this one (the play context's timeout), so they have no effect.
    _row("timeout", _D, "timeout", "ANSIBLE_TIMEOUT", "int"),
    CfgKey("host_key_checking", _D, ("host_key_checking",),
           ("ANSIBLE_HOST_KEY_CHECKING", "ANSIBLE_SSH_HOST_KEY_CHECKING"), "bool",
           extra_ini=((_SSH, "host_key_checking"),)),
    _row("ssh_args", _SSH, "ssh_args", "ANSIBLE_SSH_ARGS", "str"),
    _row("ssh_common_args", _SSH, "ssh_common_args", "ANSIBLE_SSH_COMMON_ARGS", "str"),
    _row("ssh_extra_args", _SSH, "ssh_extra_args", "ANSIBLE_SSH_EXTRA_ARGS", "str"),
    _row("ask_pass", _D, "ask_pass", "ANSIBLE_ASK_PASS", "bool"),
    _row("connection_password_file", _D, "connection_password_file",
         "ANSIBLE_CONNECTION_PASSWORD_FILE", "path"),
    _row("become", _PE, "become", "ANSIBLE_BECOME", "bool"),
    _row("become_method", _PE, "become_method", "ANSIBLE_BECOME_METHOD", "str"),
    _row("become_user", _PE, "become_user", "ANSIBLE_BECOME_USER", "str"),
    _row("become_exe", _PE, "become_exe", "ANSIBLE_BECOME_EXE", "str"),
    _row("become_flags", _PE, "become_flags", "ANSIBLE_BECOME_FLAGS", "str"),
    _row("become_ask_pass", _PE, "become_ask_pass", "ANSIBLE_BECOME_ASK_PASS", "bool"),
    _row("become_password_file", _D, "become_password_file", "ANSIBLE_BECOME_PASSWORD_FILE",
         "path"),
    _row("vault_password_file", _D, "vault_password_file", "ANSIBLE_VAULT_PASSWORD_FILE",
         "path"),
    _row("vault_identity_list", _D, "vault_identity_list", "ANSIBLE_VAULT_IDENTITY_LIST",
         "vault_ids"),
    _row("ask_vault_pass", _D, "ask_vault_pass", "ANSIBLE_ASK_VAULT_PASS", "bool"),
    # Remote paths: '~' is the remote home, so these stay strings.
    _row("async_dir", _D, "async_dir", "ANSIBLE_ASYNC_DIR", "str"),
    CfgKey("remote_tmp", _D, ("remote_tmp",), ("ANSIBLE_REMOTE_TEMP", "ANSIBLE_REMOTE_TMP"),
           "str"),
    _row("python_interpreter", _D, "interpreter_python", "ANSIBLE_PYTHON_INTERPRETER", "str"),
    # Ansible's default for -P/--poll.
    _row("poll_interval", _D, "poll_interval", "ANSIBLE_POLL_INTERVAL", "int"),
)

_BY_NAME = {row.name: row for row in ANSIBLE_SETTINGS}


# --- paths -------------------------------------------------------------------------------

_VAR = re.compile(r"\$(\w+|\{[^}]*\})", re.ASCII)


def _expandvars(text: str, env: Mapping[str, str]) -> str:
    """``os.path.expandvars`` over ``env``: unknown variables are left as written."""
    if "$" not in text:
        return text

    def sub(match: re.Match[str]) -> str:
        name = match.group(1).strip("{}")
        return env.get(name, match.group(0))

    return _VAR.sub(sub, text)


def _expanduser(text: str, env: Mapping[str, str]) -> str:
    """``os.path.expanduser`` with ``HOME`` taken from ``env``."""
    if not text.startswith("~"):
        return text
    end = text.find("/", 1)
    end = len(text) if end < 0 else end
    try:
        if end == 1:
            home = env.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir
        else:
            home = pwd.getpwnam(text[1:end]).pw_dir
    except KeyError:
        return text
    return (home.rstrip("/") + text[end:]) or "/"


def resolve_path(path: str, basedir: str, env: Mapping[str, str]) -> str:
    """Ansible's ``unfrackpath(path, follow=False, basedir=...)``: expand ``$VAR`` then ``~``,
    join a relative path to ``basedir``, normalise (symlinks are kept)."""
    expanded = _expanduser(_expandvars(path, env), env)
    return os.path.normpath(os.path.join(basedir, expanded))


# --- values --------------------------------------------------------------------------------

_TRUE = frozenset({"y", "yes", "on", "1", "true", "t"})
_FALSE = frozenset({"n", "no", "off", "0", "false", "f"})


def _unquote(text: str) -> str:
    """Ansible's ``unquote``: drop one pair of matching outer quotes."""
    quoted = len(text) > 1 and text[0] == text[-1] and text[0] in "\"'" and text[-2] != "\\"
    return text[1:-1] if quoted else text


def _to_int(raw: str) -> int:
    try:
        number = decimal.Decimal(raw)
        whole = int(number)
    except (decimal.DecimalException, ValueError, OverflowError):
        raise ValueError("an integer") from None
    if number != whole:
        raise ValueError("an integer")
    return whole


def _to_float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("a number") from None


def _to_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("a boolean (yes/no, true/false, on/off, 1/0)")


def _vault_id(entry: str, basedir: str, env: Mapping[str, str]) -> str:
    """``label@source`` (or a bare source, as Ansible allows) with the source resolved, unless
    it is a prompt."""
    label, sep, source = entry.partition("@")
    if not sep:
        label, source = "", entry
    if not source or source in ("prompt", "prompt_ask_vault_pass"):
        return entry
    resolved = resolve_path(source, basedir, env)
    return f"{label}@{resolved}" if sep else resolved


def convert(kind: str, raw: str, basedir: str, env: Mapping[str, str], ini: bool = False) -> Any:
    """``raw`` as a ``kind`` value; None when it counts as unset. Raises ValueError("<what it
    should be>") when it cannot be one. ``ini``: the value came from a file, so a quoted string
    loses its quotes (as Ansible does)."""
    if kind == "str":
        return _unquote(raw) if ini else raw
    if kind == "int":
        return _to_int(raw)
    if kind == "float":
        return _to_float(raw)
    if kind == "bool":
        return _to_bool(raw)
    if kind == "path":
        return resolve_path(raw, basedir, env) if raw else None
    items = [item.strip() for item in raw.split(",")]
    if kind == "pathlist":
        paths = [resolve_path(item, basedir, env) for item in items if item]
        return paths or None
    entries = [_unquote(item) for item in items if item]
    if kind == "vault_ids":
        entries = [_vault_id(entry, basedir, env) for entry in entries]
    if kind in ("list", "vault_ids"):
        return entries or None
    raise ValueError(f"of unknown kind {kind!r}")


# --- locating the file -------------------------------------------------------------------


def _readable(path: str) -> bool:
    return os.path.exists(path) and os.access(path, os.R_OK)


def locate_config(env: Mapping[str, str], cwd: str, *,
                  system: str | None = None) -> tuple[str | None, list[str]]:
    """The ansible.cfg Ansible would read (or None), and the warnings finding it gave.
    ``system``: the last resort, :data:`SYSTEM_CONFIG` unless given."""
    candidates: list[str] = []
    from_env: str | None = None
    if "ANSIBLE_CONFIG" in env:
        from_env = resolve_path(env["ANSIBLE_CONFIG"], cwd, env)
        if os.path.isdir(from_env):
            from_env = os.path.join(from_env, "ansible.cfg")
        candidates.append(from_env)

    cwd_cfg = os.path.join(cwd, "ansible.cfg")
    skipped_public = False
    try:
        public = bool(os.stat(cwd).st_mode & stat.S_IWOTH)
    except OSError:
        pass  # an inaccessible cwd is no config source
    else:
        if not public:
            candidates.append(cwd_cfg)
        else:
            skipped_public = os.path.exists(cwd_cfg)

    candidates.append(resolve_path("~/.ansible.cfg", cwd, env))
    candidates.append(SYSTEM_CONFIG if system is None else system)
    path = next((c for c in candidates if _readable(c)), None)

    warnings = []
    if from_env is not None and path != from_env:
        warnings.append(f"ANSIBLE_CONFIG={env['ANSIBLE_CONFIG']!r}: {from_env} does not exist "
                        "or is not readable, ignoring it")
    if skipped_public and (from_env is None or path != from_env):
        warnings.append(WORLD_WRITABLE_WARNING.format(cwd=cwd))
    return path, warnings


# --- reading the file --------------------------------------------------------------------

_SECTION = re.compile(r"\[(?P<header>.+)\]")  # configparser's SECTCRE
_OPTION = re.compile(r"(?P<option>.*?)\s*[=:]")  # configparser's OPTCRE, up to the delimiter
_INLINE_COMMENT = re.compile(r"\s;")


def _strip_comment(line: str) -> str:
    """The line without an inline ``;`` comment (one preceded by whitespace), stripped."""
    match = _INLINE_COMMENT.search(line)
    return (line[: match.start()] if match else line).strip()


def _key_lines(text: str) -> dict[tuple[str, str], int]:
    """Line number of every ``key = value`` per (section, lower-cased key), the way
    configparser reads: indented lines under a key continue its value, comments and blank
    lines are skipped."""
    lines: dict[tuple[str, str], int] = {}
    section: str | None = None
    key_indent: int | None = None  # indentation of the key whose value may continue
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        indent = len(line) - len(line.lstrip())
        if key_indent is not None and indent > key_indent:
            continue
        key_indent = None
        value = _strip_comment(line)
        header = _SECTION.match(value)
        if header:
            section = header.group("header")
            continue
        option = _OPTION.match(value)
        if section is not None and option and option.group("option"):
            lines[(section, option.group("option").rstrip().lower())] = lineno
            key_indent = indent
    return lines


def _syntax_error(path: str, text: str, err: configparser.Error) -> ConfigError:
    source = text.splitlines()

    def line(number: int) -> str:
        return source[number - 1].strip() if 0 < number <= len(source) else ""

    if isinstance(err, configparser.MissingSectionHeaderError):
        where, what = err.lineno, f"{line(err.lineno)!r} comes before any [section] header"
    elif isinstance(err, configparser.DuplicateSectionError):
        where, what = err.lineno or 0, f"section [{err.section}] appears twice"
    elif isinstance(err, configparser.DuplicateOptionError):
        where, what = err.lineno or 0, f"{err.option!r} is set twice in [{err.section}]"
    elif isinstance(err, configparser.ParsingError) and err.errors:
        where = err.errors[0][0]
        what = f"{line(where)!r} is neither 'key = value' nor a [section] header"
        if len(err.errors) > 1:
            what += f" (and {len(err.errors) - 1} more bad lines)"
    else:
        where, what = 0, " ".join(str(err).split())
    place = f"{path}:{where}" if where else path
    return ConfigError(f"{place}: {what}")


def _parse(path: str) -> tuple[configparser.ConfigParser, str]:
    if os.path.splitext(path)[1] not in (".cfg", ".ini"):
        raise ConfigError(f"{path}: not a .cfg or .ini file, which is all Ansible reads")
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read it: {err.strerror or err}") from None
    # As Ansible: inline ';' comments, duplicate keys/sections refused (strict), values raw.
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    try:
        parser.read_string(text, source=path)
    except configparser.Error as err:
        raise _syntax_error(path, text, err) from None
    return parser, text


def read_config(path: str, env: Mapping[str, str] | None = None) -> dict[str, Sourced]:
    """The settings ``path`` sets, typed, each with its ``file:line [section] key`` origin.
    ``env`` supplies ``$VAR`` and ``~`` in paths (default: this process's environment)."""
    env = os.environ if env is None else env
    path = os.path.abspath(path)
    parser, text = _parse(path)
    lines = _key_lines(text)
    basedir = os.path.dirname(path)
    found: dict[str, Sourced] = {}
    for row in ANSIBLE_SETTINGS:
        hit: tuple[str, str, str] | None = None
        for section, key in row.ini:
            raw = parser.get(section, key, raw=True, fallback=None)
            if raw is not None:
                hit = (section, key, raw)
        if hit is None:
            continue
        section, key, raw = hit
        if (section, key) not in lines and (parser.default_section, key) in lines:
            section = parser.default_section  # inherited from [DEFAULT]
        lineno = lines.get((section, key))
        where = f"{path}:{lineno}" if lineno else path
        value = _typed(row, raw, basedir, env, ini=True, label=f"{where}: [{section}] {key}")
        if value is not None:
            found[row.name] = Sourced(value, f"{where} [{section}] {key}")
    return found


def _typed(row: CfgKey, raw: str, basedir: str, env: Mapping[str, str], ini: bool,
           label: str) -> Any:
    try:
        return convert(row.kind, raw, basedir, env, ini=ini)
    except ValueError as err:
        raise ConfigError(f"{label} = {raw!r} is not {err}") from None


# --- the environment ---------------------------------------------------------------------


def read_env(env: Mapping[str, str], cwd: str | None = None) -> dict[str, Sourced]:
    """The settings ``ANSIBLE_*`` variables set, typed; relative paths are relative to ``cwd``
    (default: the current directory), as in Ansible."""
    cwd = os.getcwd() if cwd is None else cwd
    found: dict[str, Sourced] = {}
    for row in ANSIBLE_SETTINGS:
        names = [name for name in row.env if name in env]
        if not names:
            continue
        name = names[-1]
        raw = env[name]
        if raw == "" and row.kind != "str":
            continue  # an empty variable of a typed setting: unset
        value = _typed(row, raw, cwd, env, ini=False, label=f"env {name}")
        if value is not None:
            found[row.name] = Sourced(value, f"env {name}")
    return found


# --- both --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnsibleLayers:
    """The env and cfg layers of one run, and which file the cfg layer came from."""

    path: str | None
    env: dict[str, Sourced]
    cfg: dict[str, Sourced]
    warnings: list[str]

    def get(self, name: str) -> Sourced | None:
        """The setting from ``ANSIBLE_*`` if set there, else from the file, else None."""
        return self.env.get(name) or self.cfg.get(name)


def load_layers(env: Mapping[str, str] | None = None, cwd: str | None = None) -> AnsibleLayers:
    """Find and read ansible.cfg and the ``ANSIBLE_*`` variables, as Ansible would."""
    env = os.environ if env is None else env
    cwd = os.getcwd() if cwd is None else cwd
    path, warnings = locate_config(env, cwd)
    cfg = read_config(path, env) if path is not None else {}
    return AnsibleLayers(path, read_env(env, cwd), cfg, warnings)


def dump(layers: AnsibleLayers) -> list[tuple[str, Any, str]]:
    """(name, value, origin) of every setting the env or cfg layer sets, sorted by name."""
    rows = []
    for name in sorted(_BY_NAME):
        found = layers.get(name)
        if found is not None:
            rows.append((name, found.value, found.origin))
    return rows
