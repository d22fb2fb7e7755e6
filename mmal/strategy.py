"""The Strategy base class, the Selection result, and the contract the core enforces (DESIGN §3).

A plugin implements :meth:`Strategy.query`; callers use :meth:`Strategy.select`, which checks
the budget, the task and the model's capabilities first and validates what ``query``
returned, naming the plugin when it breaks the contract.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .errors import CapabilityError, ContractError, PoolError
from .model import check_requirements
from .pool import Pool

ALL_TASKS = frozenset({"regression", "classification"})


@dataclass
class Selection:
    """Unique unlabeled positions, best first, with their scores and optional info.

    ``scores`` (optional) must be non-increasing: the best sample first. Sequential
    strategies (k-means++, k-center) may leave it ``None`` and report per-pick values in
    ``info``. ``info`` carries anything else worth recording (per-criterion scores, timings).
    """

    positions: np.ndarray
    scores: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def ids(self, pool: Pool) -> np.ndarray:
        return pool.ids[self.positions]


class Strategy:
    """Base class of every AL strategy.

    Subclasses set ``requires`` (model capabilities, see :mod:`mmal.model`) and ``tasks``,
    and implement :meth:`query`; a strategy that reads no model sets ``needs_model = False``. All randomness must come from the ``rng`` argument; state
    across rounds must be a function of ``round`` (1 for the first query), never a counter.
    """

    requires: ClassVar[frozenset[str]] = frozenset()
    tasks: ClassVar[frozenset[str]] = ALL_TASKS
    needs_model: ClassVar[bool] = True
    name: str = ""
    plugin: str = ""

    def query(self, model: Any, pool: Pool, budget: int, *, rng: np.random.Generator, round: int) -> Selection:
        raise NotImplementedError

    @property
    def label(self) -> str:
        name = self.name or type(self).__name__
        plugin = self.plugin or type(self).__module__
        return f"strategy {name!r} (plugin {plugin!r})"

    def check(self, model: Any, pool: Pool) -> None:
        """Raise before any work if the task or the model does not fit this strategy."""
        name = self.name or type(self).__name__
        if self.needs_model and model is None:
            raise CapabilityError(f"strategy {name!r} needs a trained task model; got model=None")
        check_requirements(name, self.requires, self.tasks, model, pool)

    def select(
        self, model: Any, pool: Pool, budget: int, *, rng: np.random.Generator, round: int = 1
    ) -> Selection:
        """Pick ``min(budget, n_unlabeled)`` unlabeled samples, validated against the contract."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{self.label}: rng must be a numpy.random.Generator (see mmal.rng.derive_rng), got {type(rng).__name__}")
        k = effective_budget(budget, pool)
        self.check(model, pool)
        selection = self.query(model, pool, k, rng=rng, round=round)
        validate_selection(selection, pool, k, self.label)
        return selection


def effective_budget(budget: int, pool: Pool) -> int:
    """``min(budget, n_unlabeled)``; errors for a bad budget or an empty unlabeled pool."""
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, (int, np.integer)):
        raise PoolError(f"budget must be a positive int, got {budget!r}")
    if budget <= 0:
        raise PoolError(f"budget must be a positive int, got {budget}; ask for at least 1 sample")
    n_unlabeled = pool.n_unlabeled
    if n_unlabeled == 0:
        raise PoolError("the pool has no unlabeled samples left to select from")
    if budget > n_unlabeled:
        warnings.warn(
            f"budget {budget} is larger than the {n_unlabeled} unlabeled samples; selecting all of them",
            stacklevel=3,
        )
        return n_unlabeled
    return int(budget)


def validate_selection(selection: Any, pool: Pool, k: int, who: str) -> None:
    """Raise :class:`ContractError` naming ``who`` unless ``selection`` obeys the contract."""
    if not isinstance(selection, Selection):
        raise ContractError(f"{who} returned {type(selection).__name__}, not a mmal.Selection")
    pos = np.asarray(selection.positions)
    if pos.ndim != 1 or not (np.issubdtype(pos.dtype, np.integer) or pos.size == 0):
        raise ContractError(f"{who} returned positions of shape {pos.shape} and dtype {pos.dtype}; need a 1-D integer array")
    if pos.size != k:
        raise ContractError(f"{who} returned {pos.size} positions; the contract asks for exactly {k} (min(budget, n_unlabeled))")
    if pos.size and (pos.min() < 0 or pos.max() >= pool.n):
        raise ContractError(f"{who} returned positions out of range 0..{pool.n - 1}: {pos[(pos < 0) | (pos >= pool.n)][:5].tolist()}")
    uniq, counts = np.unique(pos, return_counts=True)
    if uniq.size != pos.size:
        raise ContractError(f"{who} returned duplicate positions: {uniq[counts > 1][:5].tolist()}")
    if pool.labeled[pos].any():
        raise ContractError(f"{who} returned already labeled positions: {pos[pool.labeled[pos]][:5].tolist()}")
    if selection.scores is not None:
        scores = np.asarray(selection.scores, dtype=np.float64)
        if scores.shape != pos.shape:
            raise ContractError(f"{who} returned scores of shape {scores.shape} for {pos.size} positions")
        if not np.isfinite(scores).all():
            raise ContractError(f"{who} returned NaN or inf scores")
        if np.any(np.diff(scores) > 1e-9 * max(1.0, float(np.abs(scores).max(initial=0.0)))):
            raise ContractError(f"{who} returned scores that are not best first (non-increasing)")
    selection.positions = pos.astype(np.int64)
