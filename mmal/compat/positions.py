"""``X`` as pool positions: how a multimodal Pool passes through scikit-learn and modAL.

modAL and scikit-learn hand a 2-D ``X`` around and index its rows; a multimodal sample does
not fit in one row, so a row of ``X`` is the sample's *position* in the Pool. ``pool_X(pool)``
is the column ``[[0], [1], ..., [N-1]]`` (a 1-D vector of ints works too); modAL slices,
stacks and deletes those rows like any features and mmal reads the modalities behind them.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..errors import PoolError
from ..pool import Pool


def pool_X(pool: Pool, positions: Iterable[int] | np.ndarray | None = None) -> np.ndarray:
    """The modAL / scikit-learn ``X`` of ``pool``: a column ``[n, 1]`` of sample positions."""
    pos = np.arange(pool.n) if positions is None else as_positions(positions, pool.n, "positions")
    return pos.astype(np.int64).reshape(-1, 1)


def as_positions(X: Any, n: int, what: str = "X") -> np.ndarray:
    """The pool positions in ``X`` (a column ``[k, 1]`` or a vector ``[k]`` of ints in ``0..n-1``)."""
    a = np.asarray(X)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise PoolError(
            f"{what} must hold pool positions, one per row: a column [k, 1] or a vector [k] of ints "
            f"(build it with mmal.compat.modal.pool_X(pool)); got shape {a.shape}. For feature rows, "
            "call as_query_strategy without pool="
        )
    if not np.issubdtype(a.dtype, np.integer):
        whole = np.issubdtype(a.dtype, np.floating) and bool(np.all(a == np.round(a)))
        if a.size and not whole:
            raise PoolError(f"{what} must hold integer pool positions (see mmal.compat.modal.pool_X); got dtype {a.dtype}")
    a = a.astype(np.int64)
    bad = (a < 0) | (a >= n)
    if bad.any():
        raise PoolError(f"{what} has positions {a[bad][:5].tolist()} outside the pool's 0..{n - 1}; rows of X are pool positions")
    return a


def with_labels(pool: Pool, labeled: np.ndarray, labels: dict[str, np.ndarray]) -> Pool:
    """``pool``'s samples (modality arrays shared, not copied) with other labels and mask."""
    return Pool(pool.modalities, pool.task, ids=pool.ids, labels=labels, lengths=pool.lengths,
                labeled=labeled, meta=pool.meta, check_finite=False)


def unique_labels(pos: np.ndarray, y: Any, head: str) -> tuple[np.ndarray, np.ndarray]:
    """One label per position: repeats (modAL's bootstrap) must agree and count once."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != pos.shape:
        raise PoolError(f"y must hold one {head!r} label per row of X ({pos.size}), got shape {y.shape}")
    try:
        y = y.astype(np.float64)
    except (TypeError, ValueError):
        raise PoolError("y must be numbers: class indices 0..C-1 (map names with pool.task.class_names) "
                        f"or regression values; got dtype {y.dtype}") from None
    if np.isnan(y).any():
        raise PoolError(f"y has NaN at rows {np.flatnonzero(np.isnan(y))[:5].tolist()}; give every row of X its label")
    uniq, first, inverse = np.unique(pos, return_index=True, return_inverse=True)
    clash = y != y[first][inverse]
    if clash.any():
        raise PoolError(f"X repeats positions {np.unique(pos[clash])[:5].tolist()} with different labels in y; a sample has one label")
    return uniq, y[first]
