"""Plugin registry on pluggy: strategies, task models and datasets come from entry points.

A plugin is any object (usually a module) listed in the ``mmal`` entry-point group that
implements some of the hooks below with ``@mmal.hookimpl``::

    @mmal.hookimpl
    def register_strategies(register):
        register("entropy", "mmal_entropy.strategy:Entropy", summary="max entropy", tasks="classification")

``register(name, target, *, summary="", **meta)`` takes a ``"module:attr"`` string (imported
only when the entry is used, so ``mmal list`` stays instant) or the object itself. Built-in
plugins register through these same entry points; the core names no plugin.

A plugin that fails to import, or whose hook raises, is listed as broken and the others keep
working. Two plugins registering one name is an error on that name. Set
``MMAL_DISABLE_PLUGIN_AUTOLOAD=1`` to load no entry points (tests), and
``MMAL_BLOCK_PLUGINS=a,b`` to skip the named entry points.
"""

from __future__ import annotations

import difflib
import importlib
import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from .errors import PluginError, UnknownNameError

PROJECT = "mmal"
ENTRY_POINT_GROUP = "mmal"
AUTOLOAD_ENV = "MMAL_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "MMAL_BLOCK_PLUGINS"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

KINDS = ("strategy", "task_model", "dataset")
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
        except Exception as exc:  # report which plugin's entry is broken
            raise PluginError(f"{self.kind} {self.name!r} from plugin {self.plugin!r} failed to load {self.target!r}: {exc}") from exc
        return obj


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
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in blocked or ep.name in self.info:
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.name if dist else None, dist.version if dist else None)
            self.info[ep.name] = info
            try:
                self.pm.register(ep.load(), name=ep.name)
            except Exception as exc:
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
        if self._entries is None:
            self._collect()
        assert self._entries is not None
        return self._entries[kind]

    def conflicts(self, kind: str) -> dict[str, list[str]]:
        self.entries(kind)
        return {name: plugins for (k, name), plugins in self._conflicts.items() if k == kind}

    def broken(self) -> dict[str, str]:
        self.entries(KINDS[0])
        return {name: info.error for name, info in self.info.items() if info.error}

    def _collect(self) -> None:
        entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self._conflicts = {}
        for kind in KINDS:
            caller = getattr(self.pm.hook, _HOOK_OF_KIND[kind])
            for impl in caller.get_hookimpls():
                plugin_name = impl.plugin_name
                info = self.info.setdefault(plugin_name, PluginInfo(plugin_name))
                if info.error:
                    continue

                def register(name: str, target: Any, *, summary: str = "", _kind=kind, _p=info, **meta: Any) -> None:
                    if not isinstance(name, str) or not name:
                        raise PluginError(f"plugin {_p.name!r} registered a {_kind} with an empty or non-string name")
                    if name in entries[_kind]:
                        first = entries[_kind][name].plugin
                        self._conflicts.setdefault((_kind, name), [first]).append(_p.name)
                        return
                    entries[_kind][name] = Entry(_kind, name, target, _p.name, _p.dist, _p.version, summary, meta)

                try:
                    impl.function(register=register)
                except Exception as exc:
                    info.error = _describe(exc)
                    for k in KINDS:  # a plugin whose hook raised contributes nothing
                        entries[k] = {n: e for n, e in entries[k].items() if e.plugin != plugin_name}
        self._entries = entries


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


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
        return name in self.plugins.entries(self.kind)

    def __iter__(self):
        return iter(self.names())

    def entry(self, name: str) -> Entry:
        conflicts = self.plugins.conflicts(self.kind)
        if name in conflicts:
            raise PluginError(
                f"{self.kind} name {name!r} is registered by several plugins: {conflicts[name]}; "
                f"uninstall one, or set {BLOCK_ENV}=<plugin> to skip it"
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

    def get(self, name: str, **params: Any) -> Any:
        """Build the named object with ``params``; strategies learn their name and plugin."""
        entry = self.entry(name)
        obj = entry.load()(**params)
        if self.kind == "strategy":
            obj.name, obj.plugin = name, entry.plugin
        return obj


strategies = Registry("strategy")
task_models = Registry("task_model")
datasets = Registry("dataset")
