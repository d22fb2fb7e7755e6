"""Conformance kit: check any strategy against the contract of DESIGN §3.

    >>> from mmal.testing import check_strategy
    >>> check_strategy("random")            # raises AssertionError naming the plugin on failure

``check_strategy`` runs, on a small synthetic pool (or the ``dataset`` / ``model_factory``
you give): every budget 1..n_unlabeled, a budget over the pool (a warning, all remaining
returned), a pool with one unlabeled sample, determinism for one seed, independence from
global numpy / torch random state, and a clear error for a model without the required
capabilities.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from .data import Dataset
from .errors import CapabilityError, ContractError
from .plugins import Registry, strategies, task_models
from .rng import derive_rng
from .strategy import Strategy, changed_generators, global_random_state


class _NoCapabilities:
    """A model with the base protocol and no optional capability."""

    capabilities: frozenset[str] = frozenset()

    def fit(self, pool, *, seed=0):
        return self

    def predict(self, pool, positions=None):
        n = pool.n if positions is None else len(positions)
        return {"M": np.zeros(n)}

    def predict_proba(self, pool, positions=None):
        n = pool.n if positions is None else len(positions)
        c = pool.task.n_classes or 1
        return {"M": np.full((n, c), 1.0 / c)}


def _meta_set(entry: Any, key: str) -> set[str]:
    return {c.strip() for c in str(entry.meta.get(key, "")).split(",") if c.strip()}


def default_model_factory(
    requires: frozenset[str], task: str | None = None, registry: Registry = task_models
) -> Callable[[], Any]:
    """A factory for the first registered task model (by name) whose declared capabilities cover
    ``requires`` and whose declared ``tasks`` (when it declares them) include ``task``."""
    for name in registry.names():
        entry = registry.entry(name)
        tasks = _meta_set(entry, "tasks")
        if set(requires) <= _meta_set(entry, "capabilities") and (task is None or not tasks or task in tasks):
            return lambda name=name: registry.get(name)
    raise LookupError(f"no registered task model offers {sorted(requires)} for {task or 'any'} tasks; pass model_factory=")


def _small_dataset(task: str, seed: int) -> Dataset:
    from .data.toy import make_toy

    return make_toy(36, seed=seed, task=task)


def _fresh(strategy: Strategy | Callable[[], Strategy] | str, registry: Registry) -> Strategy:
    if isinstance(strategy, str):
        return registry.get(strategy)
    if isinstance(strategy, Strategy):
        return strategy
    return strategy()


def check_strategy(
    strategy: Strategy | Callable[[], Strategy] | str,
    *,
    dataset: Dataset | None = None,
    model_factory: Callable[[], Any] | None = None,
    n_labeled: int = 12,
    seed: int = 0,
    registry: Registry = strategies,
) -> None:
    """Run the conformance checks; raise AssertionError (ContractError) naming the plugin."""
    s = _fresh(strategy, registry)
    who = s.label
    tasks = sorted(s.tasks)
    for task in tasks:
        ds = dataset or _small_dataset(task, seed)
        if ds.train.task.kind not in s.tasks:
            continue
        pool = ds.train.take(np.arange(ds.train.n))
        first = pool.ids[:n_labeled]
        pool.label(first, ds.oracle(first))
        make_model = model_factory or default_model_factory(s.requires, ds.train.task.kind)
        model = make_model()
        model.fit(pool, seed=seed)
        n_unl = pool.n_unlabeled

        def run(p, budget, r=1, model=model):
            return _fresh(strategy, registry).select(model, p, budget, rng=derive_rng(seed, r, s.name or "kit"), round=r)

        for budget in range(1, n_unl + 1):
            sel = run(pool, budget)
            again = run(pool, budget)
            if not np.array_equal(sel.positions, again.positions):
                raise ContractError(f"{who} is not deterministic for one seed (budget {budget})")

        np.random.seed(1)
        before = global_random_state()
        a = run(pool, max(1, n_unl // 2))
        if changed_generators(before, global_random_state()):
            raise ContractError(f"{who} used global random state (numpy or torch); use the rng argument")
        np.random.seed(2)
        b = run(pool, max(1, n_unl // 2))
        if not np.array_equal(a.positions, b.positions):
            raise ContractError(f"{who} selection depends on global random state; use the rng argument")

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            over = run(pool, n_unl + 5)
        if not any("larger than" in str(w.message) for w in caught):
            raise ContractError(f"{who}: a budget over the pool did not warn")
        if sorted(over.positions.tolist()) != sorted(pool.unlabeled_positions().tolist()):
            raise ContractError(f"{who}: a budget over the pool must return every unlabeled sample")

        last = pool.take(np.arange(pool.n))
        rest = last.unlabeled_positions()[1:]
        last.label(last.ids[rest], ds.oracle(last.ids[rest]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # budget 3 > 1 unlabeled warns by design
            one = run(last, 3)
        if one.positions.tolist() != [int(last.unlabeled_positions()[0])]:
            raise ContractError(f"{who}: with one unlabeled sample left it must return that sample")

        if s.requires:
            try:
                run(pool, 2, model=_NoCapabilities())
            except CapabilityError:
                pass
            else:
                raise ContractError(f"{who} ran with a model lacking {sorted(s.requires)} instead of raising CapabilityError")
