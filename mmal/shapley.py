"""Modality contributions by exact Shapley values over modality subsets (BMMAL Eqs. 10-12).

``V(S)`` is a model outcome with only the modalities in ``S`` present (the others' encoder
features zeroed, ``model.predict_masked``). Subsets are bitmasks: bit ``j`` is
``modalities[j]``, so ``values[S]`` for ``S`` in ``0..2^M - 1``.
"""

from __future__ import annotations

from math import factorial
from typing import Any, Callable, Sequence

import numpy as np


def subset_values(
    model: Any,
    pool: Any,
    positions: np.ndarray | None,
    modalities: Sequence[str],
    outcome: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """``V[S, i]`` for every subset ``S``: ``outcome(masked fused prediction [n, C]) -> [n]``.

    The default outcome is BMMAL's: the probability of the pseudo class (the argmax of the
    full fused prediction). Shape ``[2^M, n]``; ``2^M`` masked predictions.
    """
    every = frozenset(modalities)
    full = np.asarray(model.predict_masked(pool, positions, absent=frozenset()), dtype=np.float64)
    if outcome is None:
        yhat, rows = full.argmax(1), np.arange(len(full))

        def outcome(p: np.ndarray) -> np.ndarray:
            return p[rows, yhat]

    values = np.empty((1 << len(modalities), len(full)))
    for mask in range(len(values)):
        present = {m for j, m in enumerate(modalities) if mask >> j & 1}
        probs = full if present == every else np.asarray(model.predict_masked(pool, positions, absent=every - present), dtype=np.float64)
        values[mask] = outcome(probs)
    return values


def shapley(values: np.ndarray) -> np.ndarray:
    """Eq. 10 from ``values [2^M, n]``: ``phi [n, M]``,
    ``phi_j = sum_{S not containing j} |S|! (M - |S| - 1)! / M! [V(S + j) - V(S)]``."""
    n_mod = int(np.log2(len(values)))
    if 1 << n_mod != len(values):
        raise ValueError(f"values must have 2^M rows (one per modality subset), got {len(values)}")
    phi = np.zeros((values.shape[1], n_mod))
    for j in range(n_mod):
        for mask in range(len(values)):
            if mask >> j & 1:
                continue
            s = bin(mask).count("1")
            weight = factorial(s) * factorial(n_mod - s - 1) / factorial(n_mod)
            phi[:, j] += weight * (values[mask | 1 << j] - values[mask])
    return phi


def contributions(phi: np.ndarray) -> np.ndarray:
    """Eq. 12 ``Phi = |phi| / sum |phi|`` per sample; uniform ``1/M`` where every phi is 0."""
    a = np.abs(phi)
    total = a.sum(1, keepdims=True)
    return np.divide(a, total, out=np.full_like(a, 1.0 / a.shape[1]), where=total > 0)
