"""Diverse mini-Batch Active Learning (Zhdanov 2019), "weighted K-means", on arrays.

1. Prefilter the ``beta * budget`` most uncertain candidates (``beta = 10`` in the paper).
2. Weighted k-means with ``budget`` clusters on their features, weights = uncertainty:
   ``min sum_i u_i ||x_i - mu_{a(i)}||^2`` (:func:`mmal.kernels.weighted_kmeans`, seeded from ``rng``).
3. The batch: the sample closest to each centroid, no sample twice
   (:func:`mmal.kernels.nearest_to_centroids`), ordered by uncertainty, best first.

Uncertainty is yours: the paper's margin ``1 - (p_(1) - p_(2))`` (:func:`margin_scores`), or
for regression the MC-dropout predictive std (:func:`predictive_std`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import ArrayError
from ..kernels import nearest_to_centroids, weighted_kmeans
from ._checks import Picks, array, candidate_positions, check_budget, generator, scatter


def feature_rows(features: Any | Callable[[np.ndarray], Any], rows: np.ndarray, n: int, name: str = "features",
                 dtype=np.float32) -> np.ndarray:
    """The ``dtype`` feature rows at ``rows``: of an array ``[N, D]``, or what ``features(rows)`` returns
    (a function computes features for the rows a strategy needs only)."""
    if callable(features):
        x = array(features(rows), f"{name}(positions)", ndim=2, shape="[len(positions), D]", dtype=dtype)
        if len(x) != len(rows):
            raise ArrayError(f"{name}(positions) returned {len(x)} rows for {len(rows)} positions; one row per position")
        return x
    return array(features, name, ndim=2, shape="[N, D]", dtype=dtype, n=n)[rows]


def dbal(features: Any, uncertainty: Any, budget: int, rng: np.random.Generator | int, *, beta: int = 10,
         iters: int = 100, candidates: Any = None, backend: str = "auto") -> Picks:
    """Zhdanov's DBAL on ``features [N, D]`` (or a function of positions) and ``uncertainty [N]`` (>= 0).

    ``scores``: the uncertainty of every candidate; ``info["n_prefiltered"]``: ``min(n, beta * budget)``."""
    u = array(uncertainty, "uncertainty", ndim=1, shape="[N]")
    if (u < 0).any():
        raise ArrayError(f"uncertainty must be >= 0 (it weighs k-means), got {u.min():.3g} at row {int(u.argmin())}; "
                         f"use margin_scores, entropy_scores or predictive_std")
    if isinstance(beta, bool) or not isinstance(beta, (int, np.integer)) or beta < 1:
        raise ArrayError(f"beta (prefilter factor) must be an int >= 1, got {beta!r}")
    n = len(u)
    cand = candidate_positions(candidates, n)
    k = check_budget(budget, len(cand))
    uc = u[cand]
    top = np.argsort(-uc, kind="stable")[: min(len(cand), beta * k)]
    x = feature_rows(features, cand[top], n)
    centroids, _ = weighted_kmeans(x, k, uc[top], generator(rng), iters=iters, backend=backend)
    picks = top[nearest_to_centroids(x, centroids, backend=backend)]
    order = picks[np.argsort(-uc[picks], kind="stable")]
    return Picks(cand[order], scatter(uc, cand, n), {"n_prefiltered": len(top)})
