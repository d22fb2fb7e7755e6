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
