"""``{{ }}`` in inventory variables, rendered as Ansible renders them: lazily and recursively.

A variable is rendered when it is used (``HostVars[key]``), not when the inventory is read:
``ansible_host: "{{ lab_ip }}"`` renders ``lab_ip`` (and whatever that uses) on demand, and
each result is cached per host and key. Jinja2 is imported only when a used value actually
contains ``{{``, ``{%`` or ``{#``; ``import controller.templating`` alone does not import it.

As Ansible 2.19 does:

* a template that is one expression gives its native value (``"{{ 22 | int }}"`` -> 22,
  ``"{{ [1, 2] }}"`` -> a list); mixed text gives a ``str`` (``None`` joins as ``''``); an
  empty result is ``None``; trailing newlines of the template are kept;
* undefined variables are errors (``StrictUndefined``), but ``| default(...)`` and
  ``is defined`` see a variable whose own template uses an undefined name as undefined;
* text decrypted from a vault is never itself a template;
* the environment is sandboxed (``ImmutableSandboxedEnvironment``), with ``trim_blocks``.

A template that used a vaulted value (``SecretText``, or a ``Sealed`` one it revealed) gives a
``SecretText`` when its result is text, so ctl keeps masking it. Filters and lookups are a
fixed set (``FILTERS``, ``TESTS``, ``LOOKUPS``); anything else is a ``TemplateError`` naming
the host, the variable and what ctl supports, and an unsupported lookup never runs.

Not thread-safe per ``HostVars`` (a render in progress is tracked on the object); the shared
environment and the compiled-template cache are safe to use from any thread.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from .errors import CtlError, TemplateError
from .secret import Sealed, SecretText

MAGIC = ("inventory_hostname", "inventory_hostname_short", "group_names", "groups", "hostvars")
LISTED_MAGIC = MAGIC[:4]  # what iterating a host's variables shows besides its own, as Ansible
LOOKUPS = ("env", "file")
JINJA_FILTERS = ("default", "d", "int", "lower", "upper", "replace", "join", "trim", "string",
                 "float", "length", "count", "first", "last", "list", "map", "select", "reject",
                 "selectattr", "rejectattr", "sort")
ANSIBLE_FILTERS = ("bool", "regex_replace", "regex_search", "ternary", "basename", "dirname",
                   "quote", "to_json", "from_json", "mandatory", "split")
FILTERS = tuple(sorted(JINJA_FILTERS + ANSIBLE_FILTERS))
ANSIBLE_TESTS = ("match", "search", "regex")  # plus all of Jinja's own tests

_TEMPLATE_RE = re.compile(r"\{[{%#]")
_UNKNOWN_RE = re.compile(r"No (filter|test) named '([^']*)'")
_BOOL_TRUE = frozenset({"yes", "on", "true", "1"})
_BOOL_FALSE = frozenset({"no", "off", "false", "0"})
_CACHE_LIMIT = 4096

_lock = threading.Lock()
_environment: Any = None  # the Jinja environment, built on first need
_templates: dict[str, Any] = {}  # source -> compiled template


class _MissingError(TemplateError):
    """An undefined name, as seen from a template that uses the variable which lacked it:
    ``| default`` and ``is defined`` treat that variable as undefined, as Ansible does."""


class _Problem(Exception):
    """A filter's or lookup's complaint; becomes a ``TemplateError`` naming host and variable."""


def has_template(value: Any) -> bool:
    """Whether ``value`` (a str, or lists/dicts of them) holds ``{{``, ``{%`` or ``{#``.
    Vault text (``SecretText``) is never a template, as in Ansible 2.19."""
    if isinstance(value, str):
        return not isinstance(value, SecretText) and _TEMPLATE_RE.search(value) is not None
    if isinstance(value, dict):
        return any(has_template(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_template(item) for item in value)
    return False


@dataclass(frozen=True)
class InventoryContext:
    """What templates may see besides the host's own variables.

    ``group_names`` is Ansible's: the host's groups, sorted, without ``all``; Ansible 2.19
    gives ``['ungrouped']`` for a host in no other group."""

    groups: Mapping[str, list[str]]  # group -> hosts (Ansible's ``groups``, incl. all, ungrouped)
    group_names: Callable[[str], list[str]]  # host -> its groups, sorted, without all
    raw_vars: Callable[[str], Mapping[str, Any]]  # host -> merged raw vars, for hostvars[other]


class _Family:
    """The ``HostVars`` reachable from one another through ``hostvars``: one object per host,
    so a loop across hosts (web1.a -> db1.b -> web1.a) is seen as one."""

    __slots__ = ("members", "_hosts")

    def __init__(self, first: HostVars) -> None:
        self.members: dict[str, HostVars] = {first.host: first}
        self._hosts: frozenset[str] | None = None

    def knows(self, host: str, context: InventoryContext) -> bool:
        if self._hosts is None:
            self._hosts = frozenset(context.groups.get("all", ()))
        return host in self._hosts or host in self.members


class HostVars(Mapping[str, Any]):
    """One host's variables, rendered on access (get/[]), cached per key; the raw mapping
    is not changed. Magic variables: inventory_hostname, inventory_hostname_short,
    group_names, groups, hostvars (lazy HostVars of any host), plus `omit`-free."""

    def __init__(self, host: str, raw: Mapping[str, Any], context: InventoryContext,
                 source: str = "inventory") -> None:
        self.host = host
        self.context = context
        self.source = source  # where the raw values came from, for the caller's messages
        self._raw = raw
        self._cache: dict[str, Any] = {}
        self._active: set[str] = set()  # keys being rendered now: a loop if seen again
        self._family = _Family(self)

    def raw(self, key: str) -> Any:
        """The unrendered value (magic variables win over raw ones, as in Ansible)."""
        if key in MAGIC:
            return self._magic(key)
        return self._raw[key]

    def __getitem__(self, key: str) -> Any:
        try:
            return self._cache[key]
        except KeyError:
            pass
        value = self._render_key(key, self.raw(key))
        self._cache[key] = value
        return value

    def __contains__(self, key: object) -> bool:
        return key in MAGIC or key in self._raw

    def __iter__(self) -> Iterator[str]:
        yield from self._raw
        yield from (key for key in LISTED_MAGIC if key not in self._raw)

    def __len__(self) -> int:
        return len(self._raw) + sum(1 for key in LISTED_MAGIC if key not in self._raw)

    def __repr__(self) -> str:
        return f"HostVars({self.host!r})"

    def render(self, value: Any, label: str) -> Any:
        """Any value rendered with this host's variables (a module's ``-a``, say), not
        cached; errors name ``label`` where they would name a variable."""
        return self._render_key(label, value)

    def peer(self, host: str) -> HostVars:
        """Another host's variables, as ``hostvars[host]`` sees them (KeyError if unknown)."""
        family = self._family
        if host not in family.members:
            if not family.knows(host, self.context):
                raise KeyError(host)
            other = HostVars(host, self.context.raw_vars(host), self.context, self.source)
            other._family = family
            family.members[host] = other
        return family.members[host]

    def _magic(self, key: str) -> Any:
        if key == "inventory_hostname":
            return self.host
        if key == "inventory_hostname_short":
            return _short_name(self.host)
        if key == "group_names":
            return self.context.group_names(self.host)
        if key == "groups":
            return self.context.groups
        return _Peers(self, None)

    def _render_key(self, key: str, value: Any) -> Any:
        if isinstance(value, Sealed):
            return value.reveal()
        if not has_template(value):
            return value
        if key in self._active:
            raise TemplateError(f"{_where(self, key)}recursive loop detected in template")
        self._active.add(key)
        try:
            return _render(value, self, key)
        finally:
            self._active.discard(key)


class _Render:
    """One template being rendered: whether it used a vaulted value."""

    __slots__ = ("tainted",)

    def __init__(self) -> None:
        self.tainted = False


class _Scope(Mapping[str, Any]):
    """A host's variables as a template sees them: rendered, vaulted values revealed (and
    noted in the render), a variable that fails to render deferred until it is used."""

    __slots__ = ("_hv", "_render")

    def __init__(self, hv: HostVars, render: _Render) -> None:
        self._hv = hv
        self._render = render

    def __getitem__(self, name: str) -> Any:
        if name == "hostvars":
            return _Peers(self._hv, self._render)
        try:
            value = self._hv[name]
            if name in MAGIC:
                return value
            value, secret = _unseal(value)
        except CtlError as err:  # e.g. it uses an undefined name: fail only if it is used
            return _deferred(err, name)
        if secret:
            self._render.tainted = True
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._hv

    def __iter__(self) -> Iterator[str]:
        return iter(self._hv)

    def __len__(self) -> int:
        return len(self._hv)

    def missing(self, name: str) -> Any:
        return _undefined(f"host {self._hv.host!r} has no variable {name!r}", name)


class _Root(_Scope):
    """The top of a template's namespace: the host's variables, then the globals."""

    __slots__ = ("_globals",)

    def __init__(self, hv: HostVars, render: _Render, globals_: Mapping[str, Any]) -> None:
        super().__init__(hv, render)
        self._globals = globals_

    def __getitem__(self, name: str) -> Any:
        if name in self._hv:
            return super().__getitem__(name)
        return self._globals[name]

    def __contains__(self, name: object) -> bool:
        return name in self._hv or name in self._globals


class _Peers(Mapping[str, Any]):
    """``hostvars``: every inventory host's variables, each built only when looked at."""

    __slots__ = ("_origin", "_render")

    def __init__(self, origin: HostVars, render: _Render | None) -> None:
        self._origin = origin
        self._render = render

    def __getitem__(self, host: str) -> Any:
        peer = self._origin.peer(host)
        return peer if self._render is None else _Scope(peer, self._render)

    def __contains__(self, host: object) -> bool:
        return isinstance(host, str) and self._origin._family.knows(host, self._origin.context)

    def __iter__(self) -> Iterator[str]:
        return iter(self._origin.context.groups.get("all", ()))

    def __len__(self) -> int:
        return len(self._origin.context.groups.get("all", ()))

    def missing(self, name: str) -> Any:
        return _undefined(f"no host {name!r} in the inventory (hostvars)", name)


_VIEWS = (_Scope, _Peers)


def _short_name(host: str) -> str:
    """Ansible's ``inventory_hostname_short``: up to the first dot, but an IP address whole."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.split(".")[0]
    return host


def _where(hv: HostVars, key: str) -> str:
    return f"host {hv.host}: variable {key}: "


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# -- rendering ----------------------------------------------------------------------------


def _render(value: Any, hv: HostVars, key: str) -> Any:
    """Render every template in ``value``; containers are copied, other values kept."""
    if isinstance(value, str):
        return _render_text(value, hv, key)
    if isinstance(value, dict):
        return {k: _render(v, hv, key) if has_template(v) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, hv, key) if has_template(v) else v for v in value]
    if isinstance(value, tuple):
        return tuple(_render(v, hv, key) if has_template(v) else v for v in value)
    return value


def _render_text(source: str, hv: HostVars, key: str) -> Any:
    env = _get_environment()
    render = _Render()
    try:
        template = _compile(env, source)
        context = template.new_context(_Root(hv, render, env.globals), shared=True)
        result = env.concat(template.root_render_func(context))
    except CtlError:
        raise  # already names its host and variable (a nested render, a vault)
    except RecursionError:  # a chain too deep for Python's stack, as Ansible reports it
        raise TemplateError(f"{_where(hv, key)}recursive loop detected in template "
                            "(maximum recursion depth exceeded)") from None
    except Exception as exc:
        raise _as_error(exc, hv, key) from exc
    return _finish(source, result, render)


def _finish(source: str, result: Any, render: _Render) -> Any:
    """Put back the template's trailing newlines (Jinja drops one) and mark vault use."""
    if not isinstance(result, str):
        return result
    missing = (len(source) - len(source.rstrip("\n"))) - (len(result) - len(result.rstrip("\n")))
    if missing > 0:
        result += "\n" * missing
    if render.tainted and not isinstance(result, SecretText):
        result = SecretText(result)
    return result


def _as_error(exc: Exception, hv: HostVars, key: str) -> TemplateError:
    from jinja2 import TemplateSyntaxError, UndefinedError

    message = _one_line(getattr(exc, "message", None) or exc)
    unknown = _UNKNOWN_RE.search(message)
    if unknown:
        kind, name = unknown.groups()
        names = FILTERS if kind == "filter" else sorted(_get_environment().tests)
        message = f"no {kind} named {name!r} (ctl supports: {', '.join(names)})"
    elif isinstance(exc, UndefinedError):
        return _MissingError(_where(hv, key) + message)
    elif isinstance(exc, TemplateSyntaxError):
        message = f"template syntax error: {message}"
    elif not isinstance(exc, (_Problem, _jinja_error())):
        message = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return TemplateError(_where(hv, key) + message)


def _jinja_error() -> type[Exception]:
    from jinja2 import TemplateError as JinjaTemplateError

    return JinjaTemplateError


def _compile(env: Any, source: str) -> Any:
    """Compile once per distinct source (1,000 hosts, one template: one compile)."""
    template = _templates.get(source)
    if template is None:
        template = env.from_string(source)
        if len(_templates) >= _CACHE_LIMIT:
            _templates.clear()
        _templates[source] = template
    return template


def _concat(nodes: Any) -> Any:
    """Ansible 2.19's: one node is its native value; more are joined as text."""
    items = list(nodes)
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    return "".join("" if item is None else str(item) for item in items)


def _unseal(value: Any) -> tuple[Any, bool]:
    """Reveal ``Sealed`` values (copying containers that hold some); and whether any vaulted
    text is in ``value``."""
    if isinstance(value, str):
        return value, isinstance(value, SecretText)
    if isinstance(value, Sealed):
        return value.reveal(), True
    if isinstance(value, dict):
        pairs = [(k, *_unseal(v)) for k, v in value.items()]
        changed = any(new is not value[k] for k, new, _ in pairs)
        return ({k: new for k, new, _ in pairs} if changed else value,
                any(secret for _, _, secret in pairs))
    if isinstance(value, (list, tuple)):
        items = [_unseal(v) for v in value]
        changed = any(new is not old for (new, _), old in zip(items, value))
        rebuilt = type(value)(new for new, _ in items) if changed else value
        return rebuilt, any(secret for _, secret in items)
    return value, False


def _settle(value: Any) -> Any:
    """A template's output: fail on an undefined value anywhere in it, and turn ``hostvars``
    views into plain dicts."""
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, _VIEWS):
        return {k: _settle(value[k]) for k in value}
    if isinstance(value, dict):
        settled = {k: _settle(v) for k, v in value.items()}
        return value if all(settled[k] is value[k] for k in value) else settled
    if isinstance(value, (list, tuple)):
        items = [_settle(v) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
    return value


def _undefined(hint: str, name: str) -> Any:
    from jinja2 import StrictUndefined

    return StrictUndefined(hint=hint, name=name)


def _deferred(err: CtlError, name: str) -> Any:
    """A variable that failed to render, as an undefined value raising ``err`` when used."""
    from jinja2 import StrictUndefined

    return StrictUndefined(hint=err.message, name=name, exc=type(err))  # type: ignore[arg-type]


def _is_missing(value: Any) -> bool:
    """An undefined value that ``default`` may replace, as Ansible's: an undefined name or
    attribute, or one the sandbox refused; not a variable that failed to render otherwise
    (a loop, an unsupported filter, a vault that cannot be opened)."""
    from jinja2 import Undefined

    if not isinstance(value, Undefined):
        return False
    error = value._undefined_exception
    return not issubclass(error, CtlError) or issubclass(error, _MissingError)


# -- the environment ----------------------------------------------------------------------


def _get_environment() -> Any:
    global _environment
    if _environment is None:
        with _lock:
            if _environment is None:
                _environment = _build_environment()
    return _environment


def _build_environment() -> Any:
    from jinja2 import StrictUndefined, pass_context
    from jinja2.tests import TESTS

    @pass_context  # needs the context: no constant folding, every output is settled
    def finalize(_context: Any, value: Any) -> Any:
        return _settle(value)

    env = _environment_class()(undefined=StrictUndefined, trim_blocks=True,
                               keep_trailing_newline=False, autoescape=False,
                               finalize=finalize)
    env.filters = _filters()
    env.tests = dict(TESTS, defined=_test_defined, undefined=_test_undefined,
                     match=_test_match, search=_test_search, regex=_test_regex)
    env.globals.update(lookup=_lookup, query=_query, q=_query)
    return env


def _environment_class() -> Any:
    """Ansible's flavour of Jinja2's sandbox: native types, literal backslashes inside
    ``{{ }}``, and variables (never Python attributes) behind ``hostvars.web1.x``."""
    from jinja2.lexer import TOKEN_STRING, TOKEN_VARIABLE_BEGIN, TOKEN_VARIABLE_END, Lexer
    from jinja2.nativetypes import NativeCodeGenerator
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class CodeGenerator(NativeCodeGenerator):
        def _output_const_repr(self, group: Any) -> str:
            items = list(group)  # one constant keeps its type, as Ansible's generator does
            return repr(items[0]) if len(items) == 1 else repr("".join(map(str, items)))

    class BackslashLexer(Lexer):
        """Ansible's: a backslash in a string constant inside ``{{ }}`` is literal (YAML has
        already read the escapes), so ``regex_replace('(\\d+)', '\\1')`` means what it says."""

        def tokeniter(self, *args: Any, **kwargs: Any) -> Iterator[tuple[int, str, str]]:
            in_variable = False
            for lineno, kind, text in super().tokeniter(*args, **kwargs):
                if kind in (TOKEN_VARIABLE_BEGIN, TOKEN_VARIABLE_END):
                    in_variable = kind == TOKEN_VARIABLE_BEGIN
                elif in_variable and kind == TOKEN_STRING:
                    text = text.replace("\\", "\\\\")
                yield lineno, kind, text

    class Environment(ImmutableSandboxedEnvironment):
        code_generator_class = CodeGenerator
        concat = staticmethod(_concat)  # type: ignore[assignment]

        @property
        def lexer(self) -> Lexer:
            if "_lexer" not in self.__dict__:
                self.__dict__["_lexer"] = BackslashLexer(self)
            return self.__dict__["_lexer"]

        def getattr(self, obj: Any, attribute: str) -> Any:
            if isinstance(obj, _VIEWS):  # hostvars.web1.x: variables, never Python attributes
                return obj[attribute] if attribute in obj else obj.missing(attribute)
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            if isinstance(obj, _VIEWS):
                return obj[argument] if argument in obj else obj.missing(str(argument))
            return super().getitem(obj, argument)

    return Environment


def _filters() -> dict[str, Callable[..., Any]]:
    from jinja2.filters import FILTERS as JINJA

    own: dict[str, Callable[..., Any]] = {
        "default": _default, "d": _default, "bool": _to_bool, "regex_replace": _regex_replace,
        "regex_search": _regex_search, "ternary": _ternary, "basename": _basename,
        "dirname": _dirname, "quote": _quote, "to_json": _to_json, "from_json": _from_json,
        "mandatory": _mandatory, "split": _split,
    }
    return {name: own[name] if name in own else JINJA[name] for name in FILTERS}


# -- filters and tests (Ansible's semantics) ----------------------------------------------


def _default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """Jinja's ``default``, but a variable that failed to render for another reason than an
    undefined name still fails (Ansible's)."""
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        if _is_missing(value):
            return default_value
        value._fail_with_undefined_error()
    if boolean and not value:
        return default_value
    return value


def _to_bool(value: Any) -> Any:
    """Ansible's ``bool``: yes/on/true/1 -> True, no/off/false/0 -> False (any case)."""
    if isinstance(value, str):
        check: Any = value.lower()
    elif isinstance(value, int):
        check = str(value).lower()
    else:
        check = value
    try:
        if check in _BOOL_TRUE:
            return True
        if check in _BOOL_FALSE:
            return False
        return check == 1
    except TypeError:
        return False


def _flags(ignorecase: Any, multiline: Any) -> int:
    return (re.I if ignorecase else 0) | (re.M if multiline else 0)


def _regex_replace(value: Any = "", pattern: str = "", replacement: str = "",
                   ignorecase: bool = False, multiline: bool = False, count: int = 0,
                   mandatory_count: int = 0) -> str:
    text = str(value)
    output, subs = re.compile(pattern, _flags(ignorecase, multiline)).subn(
        replacement, text, count=count)
    if mandatory_count and mandatory_count != subs:
        raise _Problem(f"regex_replace: {pattern!r} should match {mandatory_count} times, "
                       f"but matches {subs} times")
    return output


def _regex_search(value: Any, regex: str, *groups: str, ignorecase: bool = False,
                  multiline: bool = False) -> Any:
    wanted: list[Any] = []
    for arg in groups:
        named = re.match(r"\\g<(\S+)>", arg)
        numbered = re.match(r"\\(\d+)", arg)
        if named:
            wanted.append(named.group(1))
        elif numbered:
            wanted.append(int(numbered.group(1)))
        else:
            raise _Problem(f"regex_search: unknown argument {arg!r}")
    match = re.search(regex, str(value), _flags(ignorecase, multiline))
    if match is None:
        return None
    return [match.group(item) for item in wanted] if wanted else match.group()


def _ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    if value is None and none_val is not None:
        return none_val
    return true_val if value else false_val


def _basename(value: str) -> str:
    return os.path.basename(value)


def _dirname(value: str) -> str:
    return os.path.dirname(value)


def _quote(value: Any) -> str:
    import shlex

    return shlex.quote("" if value is None else str(value))


def _to_json(value: Any, **kwargs: Any) -> str:
    import json

    return json.dumps(value, default=_json_default, **kwargs)


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _from_json(value: Any, **kwargs: Any) -> Any:
    import json

    return json.loads(value, **kwargs)


def _mandatory(value: Any, msg: Any = None) -> Any:
    from jinja2 import Undefined

    if isinstance(value, Undefined) and not _is_missing(value):
        value._fail_with_undefined_error()
    if isinstance(value, Undefined):
        if msg is not None:
            raise _Problem(str(msg))
        name = value._undefined_name
        raise _Problem(f"Mandatory variable {name!r} not defined." if name is not None
                       else "Mandatory variable not defined.")
    return value


def _split(value: str, sep: Any = None, maxsplit: int = -1) -> list[str]:
    return str.split(value, sep, maxsplit)


def _test_defined(value: Any) -> bool:
    from jinja2 import Undefined

    if isinstance(value, Undefined) and not _is_missing(value):
        value._fail_with_undefined_error()
    return not isinstance(value, Undefined)


def _test_undefined(value: Any) -> bool:
    return not _test_defined(value)


def _test_regex(value: Any, pattern: str = "", ignorecase: bool = False,
                multiline: bool = False, match_type: str = "search") -> bool:
    if match_type not in ("match", "search", "fullmatch"):
        raise _Problem(f"regex: match_type must be match, search or fullmatch, not {match_type!r}")
    finder = getattr(re.compile(pattern, _flags(ignorecase, multiline)), match_type)
    return finder(str(value)) is not None


def _test_match(value: Any, pattern: str = "", ignorecase: bool = False,
                multiline: bool = False) -> bool:
    return _test_regex(value, pattern, ignorecase, multiline, "match")


def _test_search(value: Any, pattern: str = "", ignorecase: bool = False,
                 multiline: bool = False) -> bool:
    return _test_regex(value, pattern, ignorecase, multiline, "search")


# -- lookups ------------------------------------------------------------------------------


def _lookup(name: str, *terms: Any, wantlist: bool = False, errors: str = "strict",
            **options: Any) -> Any:
    """``lookup('env', 'A', 'B')``: Ansible's shaping of the result unless ``wantlist``:
    one value as is, several strings joined with commas."""
    values = _run_lookup(name, terms, errors, options)
    if values is None:
        return [] if wantlist else None
    if wantlist or not values:
        return values
    if len(values) == 1:
        return values[0]
    return ",".join(values) if all(isinstance(v, str) for v in values) else values


def _query(name: str, *terms: Any, **options: Any) -> Any:
    """``query``/``q``: the lookup's values, always a list."""
    options["wantlist"] = True
    return _lookup(name, *terms, **options)


def _run_lookup(name: str, terms: tuple[Any, ...], errors: str,
                options: dict[str, Any]) -> list[Any] | None:
    plugin = name.removeprefix("ansible.builtin.") if isinstance(name, str) else name
    if plugin not in LOOKUPS:  # refused before anything runs
        raise _Problem(f"lookup plugin {name!r} is not supported by ctl "
                       f"(supported: {', '.join(LOOKUPS)})")
    if errors not in ("strict", "ignore"):
        raise _Problem(f"lookup({name!r}): errors must be 'strict' or 'ignore', not {errors!r}")
    run = _lookup_env if plugin == "env" else _lookup_file
    try:
        return run([str(term) for term in terms], **options)
    except TypeError as exc:  # an option the plugin does not have
        raise _Problem(f"lookup({name!r}): {exc}") from None
    except _Problem:
        if errors == "ignore":
            return None
        raise


def _lookup_env(terms: list[str], default: Any = "") -> list[Any]:
    return [os.environ.get(term, default) for term in terms]


def _lookup_file(terms: list[str], lstrip: bool = False, rstrip: bool = True) -> list[str]:
    contents = []
    for term in terms:
        try:
            with open(term, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            raise _Problem(f"lookup('file'): file not found: {term!r}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise _Problem(f"lookup('file'): cannot read {term!r}: "
                           f"{_one_line(getattr(exc, 'strerror', None) or exc)}") from None
        text = text.lstrip() if lstrip else text
        contents.append(text.rstrip() if rstrip else text)
    return contents
