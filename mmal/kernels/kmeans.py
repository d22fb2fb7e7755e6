"""Weighted k-means (Lloyd) and the nearest unique point to each centroid (DBAL, Zhdanov 2019)."""

from __future__ import annotations

import heapq
import warnings

import numpy as np

from .backend import as_f32, device as _device, few_threads_for_small
from .embedding import Embedding
from .kmeanspp import _check_k, d2_seeding
from .knn import knn


def weighted_kmeans(
    x: np.ndarray, k: int, weights: np.ndarray, rng: np.random.Generator, *, iters: int = 100, backend: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Minimize ``sum_i w_i ||x_i - mu_{a(i)}||^2``: ``(centroids [k, D], assignment [N])``.

    Seeding is weighted k-means++ (first center drawn with probability ``w_i / sum w``, then
    ``w_i D_i^2``, as :func:`~mmal.kernels.kmeanspp.d2_seeding`), then Lloyd iterations until the assignment
    stops changing or ``iters`` is reached. A cluster that loses all its weight keeps its
    previous centroid. Assignments use the backend's exact 1-NN search.
    """
    import scipy.sparse as sp
    import torch

    x = as_f32(x)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D array [N, D], got shape {x.shape}")
    n = x.shape[0]
    k = _check_k(k, n)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be {n} finite non-negative numbers (one per row of x)")
    if not w.sum() > 0:
        warnings.warn("weighted_kmeans: every weight is 0; using equal weights", RuntimeWarning, stacklevel=2)
        w = np.ones(n)
    if k == 0:
        return np.empty((0, x.shape[1]), np.float32), np.full(n, -1, dtype=np.int64)
    cw = np.cumsum(w)
    first = min(int(np.searchsorted(cw, rng.random() * cw[-1], side="right")), int(np.flatnonzero(w > 0)[-1]))
    e = Embedding(x, _device(backend), what="x")
    with few_threads_for_small(e.n * e.width):
        seeds = d2_seeding(e, first, k, rng, weights=torch.as_tensor(w, dtype=torch.float64, device=e.device))
    centroids = x[seeds].copy()
    x64 = x.astype(np.float64)
    assign = None
    for _ in range(max(1, iters)):
        new = knn(centroids, 1, queries=x, backend=backend)[1][:, 0]
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        member = sp.csr_matrix((w, (assign, np.arange(n))), shape=(k, n))
        mass = np.asarray(member.sum(1)).ravel()
        keep = mass > 0
        centroids[keep] = (np.asarray(member @ x64)[keep] / mass[keep, None]).astype(np.float32)
    return centroids, assign


def nearest_to_centroids(x: np.ndarray, centroids: np.ndarray, *, backend: str = "auto", n_candidates: int = 64) -> np.ndarray:
    """For each centroid the position of a row of ``x``, all distinct: greedy by distance.

    Exactly the greedy matching "repeatedly take the closest (centroid, point) pair among
    unmatched centroids and unused points" (ties: lower centroid index), computed lazily from
    each centroid's ``n_candidates`` nearest rows (refilled when used up), never ``k x N``.
    Returns ``positions [k]`` with ``positions[j]`` the row given to centroid ``j``.
    """
    x, c = as_f32(x), as_f32(centroids)
    n, k = x.shape[0], c.shape[0]
    if c.ndim != 2 or x.ndim != 2 or c.shape[1] != x.shape[1]:
        raise ValueError(f"centroids must be [k, {x.shape[1] if x.ndim == 2 else 'D'}] like x [N, D], got {c.shape} and {x.shape}")
    if k > n:
        raise ValueError(f"{k} centroids but only {n} rows in x; each centroid needs its own row")
    if k == 0:
        return np.empty(0, dtype=np.int64)
    m = min(n, max(1, n_candidates))
    dist, idx = knn(x, m, queries=c, backend=backend)
    cand = [(dist[j], idx[j]) for j in range(k)]
    ptr = np.zeros(k, dtype=np.int64)
    taken = np.zeros(n, dtype=bool)
    out = np.full(k, -1, dtype=np.int64)
    heap = [(float(dist[j, 0]), j) for j in range(k)]
    heapq.heapify(heap)
    while heap:
        _, j = heapq.heappop(heap)
        d, i = cand[j]
        p = ptr[j]
        while p < len(i) and taken[i[p]]:
            p += 1
        if p == ptr[j]:  # its best untaken candidate is the global best pair
            out[j] = i[p]
            taken[i[p]] = True
            continue
        while p == len(i):  # every candidate taken: fetch more for this centroid
            dd, ii = knn(x, min(n, 2 * len(i)), queries=c[j : j + 1], backend=backend)
            cand[j] = d, i = dd[0], ii[0]
            p = int(np.argmin(taken[i])) if not taken[i].all() else len(i)
        ptr[j] = p
        heapq.heappush(heap, (float(d[p]), j))
    return out
