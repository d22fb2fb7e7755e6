"""The Strategy base class, the Selection result, and the contract the core enforces (DESIGN §3).

A plugin implements :meth:`Strategy.query`; callers use :meth:`Strategy.select`, which checks
the budget, the round, the task, the model's capabilities and fitted state first, and after
``query``:

* that ``query`` left the pool as it found it (labeled mask, labels, ids, modality arrays):
  a strategy returns positions, the caller labels them. A change is undone and reported as a
  :class:`ContractError` naming the plugin;
* that the global random state of ``numpy.random``, Python's ``random`` and (when imported)
  ``torch`` is unchanged: picks must come from the ``rng`` argument only. What happens when it
  changed is the *global-RNG policy*: ``"error"`` (the default: a :class:`ContractError`),
  ``"warn"`` (a :class:`GlobalRandomStateWarning`) or ``"ignore"``; set it with
  :func:`set_global_rng_policy` or the environment variable ``MMAL_GLOBAL_RNG``. The check
  sees draws from the global generators, not a fresh unseeded ``np.random.default_rng()``;
  the conformance kit (:mod:`mmal.testing`) also runs a strategy twice under different
  global seeds;
* that the Selection obeys the contract (:func:`validate_selection`).

Each check costs ``O(N)`` copies of the mask and labels, small next to any query.
"""

from __future__ import annotations

import os
import random as _pyrandom
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .errors import CapabilityError, ContractError, GlobalRandomStateWarning, PoolError
from .model import check_fitted, check_requirements
from .pool import Pool

GLOBAL_RNG_ENV = "MMAL_GLOBAL_RNG"
GLOBAL_RNG_POLICIES = ("error", "warn", "ignore")
_policy: str | None = None

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
        self, model: Any, pool: Pool, budget: int, *, rng: np.random.Generator, round: int = 1, candidates: Any = None
    ) -> Selection:
        """Pick ``min(budget, n_unlabeled)`` unlabeled samples, validated against the contract.

        ``candidates`` (unlabeled positions in any order, or a bool mask ``[N]``) restricts the
        choice to them: the strategy runs on ``pool.take(labeled + candidates)``, as if the other
        unlabeled samples were absent (as ``mmal.arrays``' ``candidates=``), and the positions
        returned are ``pool``'s; ``info`` is as computed on that smaller pool, whose rows are
        ``info["pool_positions"]``."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{self.label}: rng must be a numpy.random.Generator (see mmal.rng.derive_rng), got {type(rng).__name__}")
        if not isinstance(pool, Pool):
            raise PoolError(f"{self.label}: pool must be a mmal.Pool, got {type(pool).__name__}")
        if candidates is not None:
            from .arrays._checks import candidate_positions

            keep = np.union1d(pool.labeled_positions(), candidate_positions(candidates, pool.n, pool.labeled))
            sel = self.select(model, pool.take(keep), budget, rng=rng, round=round)
            return Selection(keep[sel.positions], scores=sel.scores, info={**sel.info, "pool_positions": keep})
        if isinstance(round, (bool, np.bool_)) or not isinstance(round, (int, np.integer)) or round < 1:
            raise PoolError(f"{self.label}: round must be an int >= 1 (1 for the first query), got {round!r}")
        k = effective_budget(budget, pool)
        self.check(model, pool)
        if model is not None:
            check_fitted(model, pool, self.label)
        policy = global_rng_policy()
        pool_before = _PoolPrint(pool)
        rng_before = global_random_state() if policy != "ignore" else None
        selection = self.query(model, pool, k, rng=rng, round=int(round))
        pool_before.check(pool, self.label)
        if rng_before is not None:
            _check_global_rng(rng_before, self.label, policy, model)
        validate_selection(selection, pool, k, self.label)
        return selection


def global_rng_policy() -> str:
    """What :meth:`Strategy.select` does when a query changed the global random state."""
    policy = _policy or os.environ.get(GLOBAL_RNG_ENV, "").strip().lower() or "error"
    if policy not in GLOBAL_RNG_POLICIES:
        raise PoolError(f"{GLOBAL_RNG_ENV}={policy!r}; use one of {list(GLOBAL_RNG_POLICIES)}")
    return policy


def set_global_rng_policy(policy: str | None) -> str | None:
    """Set the global-RNG policy (``"error"``, ``"warn"``, ``"ignore"``; ``None``: back to
    ``MMAL_GLOBAL_RNG`` or ``"error"``). Returns the previous setting."""
    global _policy
    if policy is not None and policy not in GLOBAL_RNG_POLICIES:
        raise PoolError(f"global-RNG policy must be one of {list(GLOBAL_RNG_POLICIES)} or None, got {policy!r}")
    old, _policy = _policy, policy
    return old


def global_random_state() -> dict[str, Any]:
    """A fingerprint of the global generators: numpy's legacy one, Python's, and torch's if imported."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    out: dict[str, Any] = {"numpy.random": (keys.copy(), pos, has_gauss, gauss), "random": _pyrandom.getstate()}
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "random"):
        out["torch"] = torch.random.get_rng_state().numpy().copy()
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def changed_generators(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names of the global generators whose state differs (torch only when seen both times)."""
    return [k for k in before if k in after and not _same(before[k], after[k])]


def _torch_fresh_state() -> np.ndarray:
    """torch's global state as it was right after its last seeding (torch seeds itself on import)."""
    import torch

    g = torch.Generator()
    g.manual_seed(torch.initial_seed())
    return g.get_state().numpy()


def _check_global_rng(before: dict[str, Any], who: str, policy: str, model: Any) -> None:
    after = global_random_state()
    if "torch" in after and "torch" not in before:  # torch was first imported during the query
        before = {**before, "torch": _torch_fresh_state()}
    changed = changed_generators(before, after)
    if not changed:
        return
    by = f" (or the task model {type(model).__name__} it called)" if model is not None else ""
    msg = (f"{who}{by} drew from the global random state of {changed} during query, so its picks change from run "
           "to run; draw only from the rng argument (e.g. rng.choice, rng.permutation; torch.Generator seeded from "
           "rng.integers)")
    if policy == "error":
        raise ContractError(f"{msg}. Set {GLOBAL_RNG_ENV}=warn (or mmal.strategy.set_global_rng_policy('warn')) to go on anyway")
    warnings.warn(msg, GlobalRandomStateWarning, stacklevel=4)


class _PoolPrint:
    """What ``query`` must leave as it found it: mask, labels, ids, the modality and lengths arrays."""

    def __init__(self, pool: Pool) -> None:
        self.labeled = pool.labeled.copy()
        self.labels = {h: v.copy() for h, v in pool.labels.items()}
        self.ids = pool.ids.copy()
        self.arrays = (dict(pool.modalities), dict(pool.lengths), pool.labeled, dict(pool.labels), pool.ids)

    def check(self, pool: Pool, who: str) -> None:
        changes = []
        if pool.labeled.shape != self.labeled.shape or not np.array_equal(pool.labeled, self.labeled):
            at = np.flatnonzero(pool.labeled != self.labeled)[:5].tolist() if pool.labeled.shape == self.labeled.shape else "all"
            changes.append(f"the labeled mask (positions {at})")
        for h, v in self.labels.items():
            now = pool.labels.get(h)
            if now is None or now.shape != v.shape or not np.array_equal(now, v, equal_nan=True):
                changes.append(f"labels[{h!r}]")
        if set(pool.labels) != set(self.labels):
            changes.append("the label heads")
        if pool.ids.shape != self.ids.shape or not np.array_equal(pool.ids, self.ids):
            changes.append("ids")
        mods, lengths, _, _, _ = self.arrays
        if pool.modalities.keys() != mods.keys() or any(pool.modalities[m] is not a for m, a in mods.items()):
            changes.append("the modality arrays")
        if pool.lengths.keys() != lengths.keys() or any(pool.lengths[m] is not a for m, a in lengths.items()):
            changes.append("the lengths arrays")
        if not changes:
            return
        mods, lengths, labeled, labels, ids = self.arrays  # undo, so the caller's pool stays right
        labeled[...] = self.labeled
        for h, v in labels.items():
            v[...] = self.labels[h]
        ids[...] = self.ids
        pool.modalities, pool.lengths, pool.labeled, pool.labels, pool.ids = mods, lengths, labeled, labels, ids
        raise ContractError(
            f"{who} changed the pool inside query ({', '.join(changes)}); a strategy must not label or edit the pool: "
            "it returns positions and the caller labels them. The pool was restored"
        )


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
    pos = pos.astype(np.int64)
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
