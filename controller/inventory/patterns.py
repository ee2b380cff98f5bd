"""Host patterns, as Ansible's ``--limit``: ``all``, ``*``, groups, hosts, globs
(``web*``), regexes (``~web\\d+``), unions (``a:b``, ``a,b``), intersections (``a:&b``)
and exclusions (``a:!b``)."""

from __future__ import annotations

import fnmatch
import re

from ..errors import PatternError
from .model import Inventory


def split_pattern(pattern: str) -> list[str]:
    separator = "," if "," in pattern else ":"
    return [term.strip() for term in pattern.split(separator) if term.strip()]


def _match_term(inv: Inventory, term: str) -> list[str]:
    hosts = list(inv.host_vars)
    if term in ("all", "*"):
        return hosts
    if term in inv.groups:
        return inv.hosts_in(term)
    if term in inv.host_vars:
        return [term]
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except re.error as exc:
            raise PatternError(f"host pattern {term!r} is not a valid regex: {exc}") from exc
        names = [g for g in inv.groups if regex.match(g)]
        return [h for h in hosts if regex.match(h) or any(h in inv.hosts_in(g) for g in names)]
    groups = [g for g in inv.groups if fnmatch.fnmatchcase(g, term)]
    in_groups = {h for g in groups for h in inv.hosts_in(g)}
    return [h for h in hosts if fnmatch.fnmatchcase(h, term) or h in in_groups]


def select_hosts(inv: Inventory, pattern: str | None) -> list[str]:
    """The hosts a pattern selects, in inventory order; PatternError if none."""
    pattern = (pattern or "all").strip()
    if pattern.startswith("@"):
        try:
            with open(pattern[1:], encoding="utf-8") as f:
                pattern = ",".join(line.strip() for line in f if line.strip())
        except OSError as exc:
            raise PatternError(f"{pattern[1:]}: cannot read limit file: {exc.strerror}") from exc
    terms = split_pattern(pattern)
    chosen: list[str] = []
    for term in (t for t in terms if t[0] not in "!&"):
        chosen += [h for h in _match_term(inv, term) if h not in chosen]
    if terms and all(t[0] in "!&" for t in terms):
        chosen = list(inv.host_vars)
    for term in (t for t in terms if t[0] == "&"):
        keep = set(_match_term(inv, term[1:]))
        chosen = [h for h in chosen if h in keep]
    for term in (t for t in terms if t[0] == "!"):
        drop = set(_match_term(inv, term[1:]))
        chosen = [h for h in chosen if h not in drop]
    if not chosen:
        raise PatternError(f"host pattern {pattern!r} matches no host in "
                           f"{', '.join(inv.sources)}")
    return chosen
