"""Datasets: a train pool to select from, a simulated oracle with its true labels, a test pool.

Dataset factories are registered by plugins (``register_datasets``) and called as
``factory(size=..., seed=..., **kw) -> Dataset``. Generators and loaders live in this
package; see ``mmal.data.synthetic`` and ``mmal.data.loaders``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from ..pool import Pool


class Oracle(Protocol):
    """Gives labels per head for the requested ids (a human oracle reads them from a file)."""

    def __call__(self, ids: Sequence | np.ndarray) -> dict[str, np.ndarray]: ...


class SimulatedOracle:
    """An oracle that answers from known true labels (benchmarks)."""

    def __init__(self, ids: np.ndarray, truth: Mapping[str, np.ndarray]) -> None:
        self._pos = {k: i for i, k in enumerate(np.asarray(ids).tolist())}
        self.truth = {h: np.array(v, dtype=np.float64) for h, v in truth.items()}

    def __call__(self, ids: Sequence | np.ndarray) -> dict[str, np.ndarray]:
        try:
            pos = np.array([self._pos[k] for k in np.asarray(ids).tolist()], dtype=np.int64)
        except KeyError as exc:
            raise KeyError(f"the oracle has no label for id {exc.args[0]!r}") from None
        return {h: v[pos] for h, v in self.truth.items()}


@dataclass
class Dataset:
    """A benchmark dataset: ``train`` (labels hidden), its ``oracle``, and a labeled ``test``."""

    name: str
    train: Pool
    test: Pool
    oracle: Oracle
    valid: Pool | None = None
    default_task_model: str = "linear"
    info: dict[str, Any] = field(default_factory=dict)


def split_dataset(
    name: str,
    pool: Pool,
    n_train: int,
    n_test: int,
    *,
    n_valid: int = 0,
    default_task_model: str = "linear",
    info: dict[str, Any] | None = None,
) -> Dataset:
    """Cut a fully labeled pool into train (labels hidden behind an oracle), valid and test, in order."""
    if n_train + n_valid + n_test > pool.n:
        raise ValueError(f"split sizes {n_train}+{n_valid}+{n_test} exceed the pool's {pool.n} samples")
    tr = pool.take(np.arange(n_train))
    oracle = SimulatedOracle(tr.ids, tr.labels)
    for v in tr.labels.values():
        v[:] = np.nan
    tr.labeled[:] = False
    valid = pool.take(np.arange(n_train, n_train + n_valid)) if n_valid else None
    test = pool.take(np.arange(n_train + n_valid, n_train + n_valid + n_test))
    return Dataset(name, tr, test, oracle, valid, default_task_model, dict(info or {}))
