"""mmal: active-learning strategies for multimodal data, extensible by plugins.

    >>> import mmal
    >>> ds = mmal.datasets.get("toy", size="tiny", seed=0)
    >>> strategy = mmal.strategies.get("random")
    >>> ds.train.label(ds.train.ids[:10], ds.oracle(ds.train.ids[:10]))
    >>> picked = strategy.select(None, ds.train, 5, rng=mmal.derive_rng(0, 1, "random"))
    >>> len(picked.positions)
    5

The core never imports torch at import time; task models and strategies that need it import
it when they are built.
"""

from importlib import metadata as _metadata

from .data import Dataset, SimulatedOracle
from .errors import (
    ArgumentError, ArrayError, CapabilityError, ConfigError, ContractError, MMALError, PluginError, PoolError, StoreError,
    UnknownNameError,
)
from .grads import RankOne
from .loop import LoopState, RoundRecord, run_loop
from .model import CAPABILITIES, TaskModel
from .plugins import Registry, datasets, hookimpl, hookspec, strategies, task_models
from .pool import Pool, Task
from .rng import derive_rng, derive_seed
from .strategy import Selection, Strategy
from .testing import check_strategy
from .bench import run_bench  # noqa: E402  (after the core it builds on)
from . import adapters  # noqa: E402  (TorchModel, SklearnModel: imported on first use)
from . import arrays  # noqa: E402  (every strategy's math on plain arrays)

try:
    __version__ = _metadata.version("multimodal-al")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = [
    "ArgumentError", "StoreError", "ArrayError", "CAPABILITIES", "CapabilityError", "ConfigError", "ContractError", "Dataset", "LoopState", "MMALError",
    "PluginError", "Pool", "PoolError", "RankOne", "Registry", "RoundRecord", "Selection", "SimulatedOracle",
    "Strategy", "Task", "TaskModel", "UnknownNameError", "check_strategy", "datasets", "derive_rng", "derive_seed",
    "hookimpl", "hookspec", "run_bench", "run_loop", "strategies", "task_models", "__version__",
    "adapters", "arrays",
]
