"""The inventory source formats beside YAML, read as Ansible reads them.

- INI: ``[group]`` host lines (``host key=value``, ``host:port``, ranges), ``[group:vars]``,
  ``[group:children]``; values go through ``ast.literal_eval`` as in Ansible.
- JSON in the dynamic-inventory shape (``{"group": {"hosts": [...], "vars": {...},
  "children": [...]}, "_meta": {"hostvars": {...}}}``): ``ansible-inventory --list`` output
  saved to a file, or an executable script run with ``--list``.
- A directory: every inventory file in it (hidden and backup files skipped).
- ``group_vars/`` and ``host_vars/`` beside a file or inside a directory: YAML files or
  directories of them, named after the group or host; they override the inventory's vars.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
from typing import Any, Sequence

from ..datafiles import load_yaml, read_text
from ..errors import InventoryError
from ..vault import VaultSecret
from .model import Inventory
from .reader import Reader, expand_ranges, read_yaml_inventory

SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
SKIP_SUFFIXES = ("~", ".orig", ".bak", ".retry", ".pyc", ".pyo", ".cfg", ".md", ".rst",
                 ".txt", ".swp")
VARS_SUFFIXES = (".yml", ".yaml", ".json", "")


def parse_value(text: str) -> Any:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, (str, int, float, bool, list, dict, type(None))) \
        else text


def read_ini(inv: Inventory, path: str, text: str) -> None:
    reader = Reader(inv, path)
    group, state = "ungrouped", "hosts"
    declared = {"all", "ungrouped"}
    pending: dict[str, tuple[int, str]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = f"{path}: line {number}"
        section = SECTION.match(line)
        if section:
            group, state = section.group(1), section.group(2) or "hosts"
            if state not in ("hosts", "vars", "children"):
                raise InventoryError(f"{where}: section [{group}:{state}] has an unknown type")
            reader.checked("group", group)
            inv.group(group)
            if state == "vars":
                pending.setdefault(group, (number, f"[{group}:vars] names a group never "
                                                   "defined"))
            else:
                declared.add(group)
            continue
        if line.startswith("["):
            raise InventoryError(f"{where}: invalid section {line!r}")
        if state == "hosts":
            read_host_line(reader, inv, where, group, line)
        elif state == "vars":
            key, eq, value = line.partition("=")
            if not eq:
                raise InventoryError(f"{where}: expected key=value, got {line!r}")
            inv.group(group).vars[key.strip()] = parse_value(value.strip())
        else:
            child = line.split()[0]
            reader.link(group, reader.checked("group", child))
            pending.setdefault(child, (number, f"[{group}:children] includes undefined "
                                                f"group {child!r}"))
    for name, (number, problem) in pending.items():
        if name not in declared:
            raise InventoryError(f"{path}: line {number}: {problem}")
    for name, grp in inv.groups.items():
        if name != "all" and not grp.parents:
            reader.link("all", name)


def read_host_line(reader: Reader, inv: Inventory, where: str, group: str, line: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InventoryError(f"{where}: cannot parse host line: {exc}") from exc
    pattern, port = tokens[0], None
    if pattern.count(":") == 1 and pattern.rsplit(":", 1)[1].isdigit():
        pattern, port_text = pattern.rsplit(":", 1)
        port = int(port_text)
    hostvars: dict[str, Any] = {}
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq:
            raise InventoryError(f"{where}: expected key=value after the host, got {token!r}")
        hostvars[key] = parse_value(value)
    if port is not None:
        hostvars["ansible_port"] = port
    for host in expand_ranges(reader.checked("host", pattern)):
        reader.add_host(inv.group(group), host, hostvars)


def is_list_shape(data: Any) -> bool:
    """Ansible's dynamic-inventory JSON (lists of hosts), not its YAML shape (mappings)."""
    if not isinstance(data, dict):
        return False
    if "_meta" in data:
        return True
    return any(isinstance(body, list) or (isinstance(body, dict) and (
        isinstance(body.get("hosts"), list) or isinstance(body.get("children"), list)))
        for body in data.values())


def read_list_json(inv: Inventory, source: str, data: Any) -> None:
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: inventory JSON must be an object")
    reader = Reader(inv, source)
    meta = data.get("_meta") or {}
    for name, body in data.items():
        if name == "_meta":
            continue
        group = inv.group(reader.checked("group", str(name)))
        if isinstance(body, list):
            body = {"hosts": body}
        if not isinstance(body, dict):
            raise InventoryError(f"{source}: group {name} must be a list or an object")
        gvars, hosts, children = (body.get("vars") or {}, body.get("hosts") or [],
                                  body.get("children") or [])
        if not isinstance(gvars, dict) or not isinstance(hosts, list) or \
                not isinstance(children, list):
            raise InventoryError(f"{source}: group {name}: vars must be an object, hosts and "
                                 "children lists")
        group.vars.update(gvars)
        for host in hosts:
            reader.add_host(group, reader.checked("host", str(host)), {})
        for child in children:
            reader.link(group.name, reader.checked("group", str(child)))
    hostvars = meta.get("hostvars") if isinstance(meta, dict) else None
    for host, hv in (hostvars or {}).items():
        if not isinstance(hv, dict):
            raise InventoryError(f"{source}: _meta.hostvars.{host} must be an object")
        if host in inv.host_vars:
            inv.host_vars[host].update(hv)
        else:
            reader.add_host(inv.group("ungrouped"), str(host), hv)
    for name, grp in inv.groups.items():
        if name != "all" and not grp.parents:
            reader.link("all", name)


def run_script(path: str) -> Any:
    try:
        proc = subprocess.run([path, "--list"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InventoryError(f"{path}: dynamic inventory script failed to run: {exc}") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise InventoryError(f"{path}: dynamic inventory script exited with "
                             f"{proc.returncode}: {last}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"{path}: dynamic inventory script printed non-JSON "
                             f"({exc.msg} at line {exc.lineno})") from exc


def read_file(inv: Inventory, path: str) -> None:
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".yml", ".yaml", ".json", ".ini") and os.access(path, os.X_OK):
        read_list_json(inv, path, run_script(path))
        return
    if suffix == ".ini":
        read_ini(inv, path, read_text(path))
        return
    try:
        data = load_yaml(path, inv.secrets)
    except InventoryError:
        if suffix in (".yml", ".yaml", ".json"):
            raise
        read_ini(inv, path, read_text(path))
        return
    if is_list_shape(data):
        read_list_json(inv, path, data)
    elif isinstance(data, dict) or suffix in (".yml", ".yaml", ".json") or data is None:
        read_yaml_inventory(inv, path, data)
    else:
        read_ini(inv, path, read_text(path))


def read_source(inv: Inventory, source: str) -> None:
    """One ``-i`` source that exists: a file or a directory of them."""
    if not os.path.isdir(source):
        read_file(inv, source)
        return
    for name in sorted(os.listdir(source)):
        path = os.path.join(source, name)
        if name.startswith(".") or name.endswith(SKIP_SUFFIXES) or \
                name in ("group_vars", "host_vars"):
            continue
        read_source(inv, path)


def read_vars_dirs(inv: Inventory, source: str) -> None:
    """group_vars/ and host_vars/ beside a file source, or inside a directory source."""
    base = source if os.path.isdir(source) else os.path.dirname(os.path.abspath(source))
    for kind in ("group_vars", "host_vars"):
        folder = os.path.join(base, kind)
        if not os.path.isdir(folder):
            continue
        for entry in sorted(os.listdir(folder)):
            if entry.startswith(".") or entry.endswith(SKIP_SUFFIXES):
                continue
            name, suffix = os.path.splitext(entry)
            if suffix not in VARS_SUFFIXES:
                name = entry
            values = vars_from(os.path.join(folder, entry), inv.secrets)
            if kind == "group_vars" and name in inv.groups:
                inv.groups[name].file_vars.update(values)
            elif kind == "host_vars" and name in inv.host_vars:
                inv.host_file_vars.setdefault(name, {}).update(values)


def vars_from(path: str, secrets: Sequence[VaultSecret] = ()) -> dict[str, Any]:
    if os.path.isdir(path):
        merged: dict[str, Any] = {}
        for entry in sorted(os.listdir(path)):
            if not entry.startswith(".") and not entry.endswith(SKIP_SUFFIXES):
                merged.update(vars_from(os.path.join(path, entry), secrets))
        return merged
    data = load_yaml(path, secrets)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: a vars file must be a mapping, got "
                             f"{type(data).__name__}")
    return data
