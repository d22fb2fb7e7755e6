"""Plugin registry on pluggy: strategies, task models and datasets come from entry points.

A plugin is any object (usually a module) listed in the ``mmal`` entry-point group that
implements some of the hooks below with ``@mmal.hookimpl``::

    @mmal.hookimpl
    def register_strategies(register):
        register("entropy", "mmal_entropy.strategy:Entropy", summary="max entropy", tasks="classification")

``register(name, target, *, summary="", **meta)`` takes a ``"module:attr"`` string (imported
only when the entry is used, so ``mmal list`` stays instant) or the object itself. Built-in
plugins register through these same entry points; the core names no plugin.

A plugin that fails to import, or whose hook raises (``SystemExit`` and ``KeyboardInterrupt``
included), is listed as broken and the others keep working. A lazy target (``"module:attr"``)
that raises ``SystemExit`` when it is imported is a :class:`PluginError`; a ``KeyboardInterrupt``
there (Ctrl-C while torch imports) stays an interrupt.

Names: every entry is reachable as ``<plugin>:<name>`` (``dup:random``). A bare name
registered by several plugins resolves to the built-in one (distribution ``multimodal-al``)
when exactly one of them is built in, with a :class:`mmal.errors.PluginWarning`; otherwise
the bare name is an error naming the plugins (use the qualified names, uninstall one, or
block one). An entry point whose name is already taken (the built-ins load first) is renamed
``<distribution>.<name>``, with a warning. Set ``MMAL_DISABLE_PLUGIN_AUTOLOAD=1`` to load no
entry points (tests), and ``MMAL_BLOCK_PLUGINS=a,b`` to skip the named entry points.

:meth:`Registry.get` checks keyword arguments against the target's signature before calling
it: an unknown name gets a "did you mean", a missing required one is named, a value whose
type contradicts a simple annotation (``int``, ``float``, ``bool``, ``str``, ``Literal[...]``,
their unions with ``None``) is refused; ``TypeError`` / ``ValueError`` from the constructor
become :class:`mmal.ConfigError` naming the entry.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import traceback
import typing
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Mapping

import pluggy

from .errors import ArgumentError, ConfigError, MMALError, PluginError, PluginWarning, UnknownNameError

PROJECT = "mmal"
ENTRY_POINT_GROUP = "mmal"
AUTOLOAD_ENV = "MMAL_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "MMAL_BLOCK_PLUGINS"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

KINDS = ("strategy", "task_model", "dataset")
BUILTIN_DIST = "multimodal-al"
_CAUGHT = (Exception, SystemExit, KeyboardInterrupt)  # a plugin module's import or hook never ends the program
_HOOK_OF_KIND = {"strategy": "register_strategies", "task_model": "register_task_models", "dataset": "register_datasets"}


class HookSpecs:
    """The hooks a plugin may implement; each receives a ``register`` callback."""

    @hookspec
    def register_strategies(self, register: Callable[..., None]) -> None:
        """Register strategy classes: ``register(name, "module:Class", summary=..., tasks=..., requires=...)``."""

    @hookspec
    def register_task_models(self, register: Callable[..., None]) -> None:
        """Register task-model classes: ``register(name, "module:Class", summary=..., capabilities=...)``."""

    @hookspec
    def register_datasets(self, register: Callable[..., None]) -> None:
        """Register dataset factories ``f(size=..., seed=..., **kw) -> mmal.data.Dataset``."""


@dataclass
class Entry:
    """One registered name: where it comes from and how to build it."""

    kind: str
    name: str
    target: str | Any
    plugin: str
    dist: str | None = None
    version: str | None = None
    summary: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        if not isinstance(self.target, str):
            return self.target
        module, _, attr = self.target.partition(":")
        try:
            obj = importlib.import_module(module)
            for part in attr.split(".") if attr else []:
                obj = getattr(obj, part)
        except (Exception, SystemExit) as exc:  # report which plugin's entry is broken
            raise PluginError(f"{self.kind} {self.name!r} from plugin {self.plugin!r} failed to load {self.target!r}: "
                              f"{_describe(exc)}") from exc
        return obj

    @property
    def qualified(self) -> str:
        return f"{self.plugin}:{self.name}"

    @property
    def builtin(self) -> bool:
        return self.dist == BUILTIN_DIST


@dataclass
class PluginInfo:
    name: str
    dist: str | None = None
    version: str | None = None
    error: str | None = None  # set when the plugin is broken


class Plugins:
    """A pluggy PluginManager plus the registries built from its hooks."""

    def __init__(self, autoload: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(HookSpecs)
        self.info: dict[str, PluginInfo] = {}
        self._entries: dict[str, dict[str, Entry]] | None = None
        self._conflicts: dict[tuple[str, str], list[str]] = {}
        if autoload is None:
            autoload = os.environ.get(AUTOLOAD_ENV, "").strip() not in ("1", "true", "yes")
        if autoload:
            self.load_entry_points()

    # ---------------------------------------------------------------- loading
    def load_entry_points(self) -> None:
        blocked = {b.strip() for b in os.environ.get(BLOCK_ENV, "").split(",") if b.strip()}

        def order(ep: Any) -> tuple[bool, str]:  # the built-ins first: they keep their names
            dist = getattr(ep, "dist", None)
            return (not (dist is not None and dist.name == BUILTIN_DIST), ep.name)

        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=order):
            dist = getattr(ep, "dist", None)
            dist_name = dist.name if dist else None
            if ep.name in blocked or (dist_name and f"{dist_name}.{ep.name}" in blocked):
                continue
            name = ep.name
            if name in self.info:
                if self.info[name].dist == dist_name:  # the same distribution seen twice on sys.path
                    continue
                name = f"{dist_name}.{ep.name}"
                warnings.warn(f"entry point {ep.name!r} of {dist_name!r} has the name of an already loaded plugin "
                              f"(from {self.info[ep.name].dist!r}); it is loaded as plugin {name!r}", PluginWarning,
                              stacklevel=2)
                if name in self.info:
                    continue
            info = PluginInfo(name, dist_name, dist.version if dist else None)
            self.info[name] = info
            try:
                self.pm.register(ep.load(), name=name)
            except _CAUGHT as exc:
                info.error = _describe(exc)
        self._entries = None

    def register(self, plugin: Any, name: str, *, version: str | None = None) -> None:
        """Register a plugin object in-process (tests, notebooks)."""
        if name in self.info:
            raise PluginError(f"a plugin named {name!r} is already registered")
        self.pm.register(plugin, name=name)
        self.info[name] = PluginInfo(name, None, version)
        self._entries = None

    # -------------------------------------------------------------- registries
    def entries(self, kind: str) -> dict[str, Entry]:
        """Bare name -> the entry it resolves to (conflicting names: the first registered)."""
        return self._registry(kind)[0]

    def all_entries(self, kind: str) -> dict[str, list[Entry]]:
        """Bare name -> every plugin's entry of that name, in registration order."""
        return self._registry(kind)[1]

    def conflicts(self, kind: str) -> dict[str, list[str]]:
        """Names several plugins register with no single built-in among them: an error as a bare name."""
        return {n: [e.plugin for e in es] for n, es in self.all_entries(kind).items() if len(es) > 1 and _winner(es) is None}

    def shadowed(self, kind: str) -> dict[str, list[str]]:
        """Names a built-in and other plugins register: the built-in wins; the others by ``plugin:name``."""
        return {n: [e.plugin for e in es if not e.builtin] for n, es in self.all_entries(kind).items()
                if len(es) > 1 and _winner(es) is not None}

    def broken(self) -> dict[str, str]:
        self.entries(KINDS[0])
        return {name: info.error for name, info in self.info.items() if info.error}

    def _registry(self, kind: str) -> tuple[dict[str, Entry], dict[str, list[Entry]]]:
        if self._entries is None:
            self._collect()
        assert self._entries is not None
        return self._entries[kind]

    def _collect(self) -> None:
        every: dict[str, dict[str, list[Entry]]] = {k: {} for k in KINDS}
        for kind in KINDS:
            caller = getattr(self.pm.hook, _HOOK_OF_KIND[kind])
            for impl in caller.get_hookimpls():
                plugin_name = impl.plugin_name
                info = self.info.setdefault(plugin_name, PluginInfo(plugin_name))
                if info.error:
                    continue

                def register(name: str, target: Any, *, summary: str = "", _kind=kind, _p=info, **meta: Any) -> None:
                    if not isinstance(name, str) or not name or ":" in name:
                        raise PluginError(f"plugin {_p.name!r} registered a {_kind} named {name!r}; a name is a "
                                          "non-empty string without ':'")
                    every[_kind].setdefault(name, []).append(Entry(_kind, name, target, _p.name, _p.dist, _p.version, summary, meta))

                try:
                    impl.function(register=register)
                except _CAUGHT as exc:
                    info.error = _describe(exc)
                    for k in KINDS:  # a plugin whose hook raised contributes nothing
                        for n in list(every[k]):
                            every[k][n] = [e for e in every[k][n] if e.plugin != plugin_name]
                            if not every[k][n]:
                                del every[k][n]
        self._entries = {}
        for kind in KINDS:
            resolved = {n: _winner(es) or es[0] for n, es in every[kind].items()}
            self._entries[kind] = (resolved, every[kind])
            for n, es in every[kind].items():
                win = _winner(es) if len(es) > 1 else None
                if win is not None:
                    others = ", ".join(f"{e.qualified!r} ({e.dist or 'in-process'})" for e in es if e is not win)
                    warnings.warn(f"{kind} name {n!r} is registered by the built-in plugin {win.plugin!r} and by {others}; "
                                  f"the built-in wins. Use the qualified name to pick the other one", PluginWarning,
                                  stacklevel=2)


def _winner(entries: list[Entry]) -> Entry | None:
    """The entry a bare name resolves to: the only one, or the single built-in among several."""
    if len(entries) == 1:
        return entries[0]
    builtins = [e for e in entries if e.builtin]
    return builtins[0] if len(builtins) == 1 else None


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    what = {SystemExit: " (the plugin called sys.exit)", KeyboardInterrupt: " (raised KeyboardInterrupt)"}.get(type(exc), "")
    text = f": {exc}" if str(exc) else ""
    return f"{type(exc).__name__}{text}{what}{where}"


_default: Plugins | None = None


def default() -> Plugins:
    """The process-wide plugin manager, built on first use."""
    global _default
    if _default is None:
        _default = Plugins()
    return _default


def reset(plugins: Plugins | None = None) -> Plugins:
    """Replace the process-wide manager (a fresh autoloading one if ``plugins`` is None)."""
    global _default
    _default = plugins if plugins is not None else Plugins()
    return _default


class Registry:
    """Names of one kind (strategies, task models or datasets) from every plugin."""

    def __init__(self, kind: str, plugins: Plugins | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.kind = kind
        self._plugins = plugins

    @property
    def plugins(self) -> Plugins:
        return self._plugins if self._plugins is not None else default()

    def names(self) -> list[str]:
        return sorted(self.plugins.entries(self.kind))

    def __contains__(self, name: str) -> bool:
        try:
            self.entry(name)
        except MMALError:
            return False
        return True

    def __iter__(self):
        return iter(self.names())

    def entry(self, name: str) -> Entry:
        """The entry of a bare ``name`` or a qualified ``plugin:name``."""
        if not isinstance(name, str):
            raise UnknownNameError(f"a {self.kind} name must be a string, got {name!r}")
        every = self.plugins.all_entries(self.kind)
        if ":" in name:
            plugin, _, bare = name.partition(":")
            hits = [e for e in every.get(bare, []) if e.plugin == plugin]
            if hits:
                return hits[0]
            owners = [e.qualified for e in every.get(bare, [])]
            hint = f"; {bare!r} is registered as {owners}" if owners else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}: plugin {plugin!r} registers no {self.kind} {bare!r}{hint}")
        conflicts = self.plugins.conflicts(self.kind)
        if name in conflicts:
            qualified = [f"{p}:{name}" for p in conflicts[name]]
            raise PluginError(
                f"{self.kind} name {name!r} is registered by several plugins: {conflicts[name]}; pick one by its "
                f"qualified name ({' or '.join(repr(q) for q in qualified)}), uninstall one, or set {BLOCK_ENV}=<plugin> to skip it"
            )
        entries = self.plugins.entries(self.kind)
        if name not in entries:
            lower = {n.lower(): n for n in entries}
            close = [lower[c] for c in difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.5)]
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
            broken = self.plugins.broken()
            extra = f" (broken plugins: {sorted(broken)})" if broken else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} Known: {sorted(entries)}{extra}")
        return entries[name]

    def load(self, name: str) -> Any:
        """The registered class or factory, imported now."""
        return self.entry(name).load()

    def check_params(self, name: str, params: Mapping[str, Any], *, reserved: tuple[str, ...] = ()) -> None:
        """Raise :class:`ConfigError` unless ``params`` fit the signature of ``name``'s target."""
        entry = self.entry(name)
        problems = param_problems(entry.load(), params, reserved=reserved, probe=self.kind != "dataset")
        if problems:
            raise ArgumentError(f"{self.kind} {name!r} (plugin {entry.plugin!r}): {'; '.join(problems)}")

    def get(self, name: str, **params: Any) -> Any:
        """Build the named object with ``params``; strategies learn their name and plugin."""
        entry = self.entry(name)
        target = entry.load()
        problems = param_problems(target, params, probe=self.kind != "dataset")
        if problems:
            raise ArgumentError(f"{self.kind} {name!r} (plugin {entry.plugin!r}): {'; '.join(problems)}")
        try:
            obj = target(**params)
        except MMALError:
            raise
        except (TypeError, ValueError) as exc:
            raise (ArgumentError if isinstance(exc, TypeError) else ConfigError)(f"{self.kind} {name!r} (plugin {entry.plugin!r}) rejected its arguments {params}: "
                              f"{type(exc).__name__}: {exc}") from exc
        if self.kind == "strategy":
            obj.name, obj.plugin = name, entry.plugin
        return obj


# ------------------------------------------------------------------ argument checks
def _parameters(target: Any) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool] | None:
    """The keyword parameters of ``target`` (a class: its ``__init__`` and, while one passes
    ``**kw`` on, its bases'), their type hints, and whether it still takes any keyword."""
    if inspect.isclass(target):
        chain = [c.__init__ for c in inspect.getmro(target) if "__init__" in vars(c) and c is not object]
    else:
        chain = [target]
    params: dict[str, inspect.Parameter] = {}
    hints: dict[str, Any] = {}
    takes_any = False
    for fn in chain:
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):  # a builtin or an object without a signature: nothing to check
            return None
        try:
            fn_hints = typing.get_type_hints(fn)
        except Exception:  # an annotation that does not resolve: no type checks from it
            fn_hints = {}
        takes_any = False
        for n, p in sig.parameters.items():
            if p.kind == p.VAR_KEYWORD:
                takes_any = True
            elif n != "self" and p.kind not in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY) and n not in params:
                params[n] = p
                if n in fn_hints:
                    hints[n] = fn_hints[n]
        if not takes_any:
            break
    return params, hints, takes_any


def param_problems(target: Any, params: Mapping[str, Any], *, reserved: tuple[str, ...] = (), probe: bool = False) -> list[str]:
    """What is wrong with calling ``target(**params)``: unknown names (with "did you mean"),
    missing required ones, values of a type a simple annotation rules out. ``reserved``
    names are supplied by the caller (a dataset's ``size`` and ``seed``). With ``probe``, a
    factory that takes only ``**kwargs`` is called once without arguments and the class of
    what it returns is checked instead (cheap for strategies and task models, never for datasets)."""
    found = _parameters(target)
    if found is None:
        return []
    ps, hints, takes_any = found
    if takes_any and probe and params and not inspect.isclass(target):
        try:
            built = target()
        except BaseException:  # a factory that needs arguments: nothing more to learn
            built = None
        if built is not None and _parameters(type(built)) is not None:
            ps2, hints2, any2 = _parameters(type(built))  # type: ignore[misc]
            ps, hints, takes_any = {**ps, **ps2}, {**hints, **hints2}, any2
    problems = []
    allowed = [n for n in ps if n not in reserved]
    for key in params:
        if key in reserved:
            problems.append(f"{key!r} is set by mmal, not by an argument")
        elif key not in ps and not takes_any:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"no parameter {key!r}{hint} Parameters: {allowed}")
    for n, p in ps.items():
        if p.default is p.empty and n not in params and n not in reserved:
            problems.append(f"missing the required parameter {n!r}")
    for key, value in params.items():
        if key in ps and key in hints:
            bad = _type_problem(hints[key], value)
            if bad:
                problems.append(f"parameter {key!r} must be {bad}, got {type(value).__name__} {value!r}")
    return problems


_SIMPLE = {int: "an int", float: "a number", bool: "true or false", str: "a string"}


def _type_problem(hint: Any, value: Any) -> str | None:
    """A description of what ``hint`` accepts when ``value`` does not fit it, else None (unknown hints pass)."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        return None if value in choices and type(value) in {type(c) for c in choices} else f"one of {list(choices)}"
    options = typing.get_args(hint) if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) else (hint,)
    if any(o not in _SIMPLE and o is not type(None) and typing.get_origin(o) is not typing.Literal for o in options):
        return None
    for o in options:
        if o is type(None) and value is None:
            return None
        if typing.get_origin(o) is typing.Literal and _type_problem(o, value) is None:
            return None
        if o is bool and isinstance(value, bool):
            return None
        if o is int and isinstance(value, int) and not isinstance(value, bool):
            return None
        if o is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        if o is str and isinstance(value, str):
            return None
    words = [_SIMPLE.get(o) or ("none" if o is type(None) else f"one of {list(typing.get_args(o))}") for o in options]
    return " or ".join(words)


strategies = Registry("strategy")
task_models = Registry("task_model")
datasets = Registry("dataset")
