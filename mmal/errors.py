"""Exceptions raised by mmal. Every message names the field at fault and the fix."""


class MMALError(Exception):
    """Base class of every mmal error."""


class PoolError(MMALError, ValueError):
    """A Pool was built or labeled with bad input."""


class ArrayError(MMALError, ValueError):
    """An array given to :mod:`mmal.arrays` has the wrong shape or values, or bad candidates."""


class CapabilityError(MMALError, TypeError):
    """A task model lacks a capability a strategy requires, or a task is unsupported."""


class ContractError(MMALError, AssertionError):
    """A strategy returned a Selection that breaks the contract (names the plugin)."""


class PluginError(MMALError, RuntimeError):
    """A plugin failed to load, or two plugins claim one name."""


class UnknownNameError(MMALError, KeyError):
    """An unknown strategy, task model or dataset name (with a "did you mean")."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else ""


class ConfigError(MMALError, ValueError):
    """A configuration value or file is wrong."""


class ArgumentError(ConfigError, TypeError):
    """An unknown, missing or mistyped argument of a strategy, task model or dataset (a
    ``TypeError`` too, as Python raises for a bad call)."""


class StoreError(MMALError):
    """A results store or output file is unreadable, unsafe (a link), full or unwritable, or
    belongs to another run (also importable as ``mmal.bench.store.StoreError``)."""


class PluginWarning(UserWarning):
    """A plugin's name is shadowed by a built-in one (the built-in wins), or a plugin was renamed."""


class GlobalRandomStateWarning(UserWarning):
    """A strategy's query drew from global random state (policy ``"warn"``, see ``mmal.strategy``)."""


class MissingExtraError(MMALError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""
