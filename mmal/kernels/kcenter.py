"""Greedy k-center (farthest-first traversal), CoreSet's selection (Sener & Savarese 2018, Alg. 1).

Each pick is ``argmax_i min_{j in labeled ∪ picked} ||x_i - x_j||``. The minimum vector is
initialized against the labeled set in blocked GEMMs and then updated against the newest
center only (one GEMV per pick), in float32 with a bounded error; the few rows that the bound
leaves in contention for the arg-max get float64 values (:class:`~mmal.kernels.cover.Cover`),
so the picks and radii are those of a float64 implementation. With no labeled points the first
pick is the largest-norm point (ties: lowest index). Ties in the argmax go to the lowest index.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..grads import RankOne
from .backend import device as _device, few_threads_for_small
from .cover import Cover
from .embedding import Embedding


def kcenter_greedy(
    x: np.ndarray | RankOne | Sequence[RankOne],
    k: int,
    *,
    labeled: np.ndarray | None = None,
    backend: str = "auto",
    return_distances: bool = False,
):
    """Positions of ``k`` unlabeled rows of ``x`` picked by greedy k-center, in pick order.

    ``labeled``: a bool mask ``[N]`` or positions of the already-covered rows (never picked).
    With ``return_distances=True`` also returns each pick's Euclidean distance to the
    covered set at the time it was picked (non-increasing; ``inf`` for the first pick when
    nothing is labeled).
    """
    e = Embedding(x, _device(backend), what="x")
    with few_threads_for_small(e.n * e.width):
        return _kcenter(e, k, labeled, return_distances)


def _kcenter(e, k, labeled, return_distances):
    n = e.n
    lab = _as_positions(labeled, n)
    n_free = n - len(lab)
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n_free:
        raise ValueError(f"k must be an int in 0..{n_free} (the rows not labeled), got {k!r}")
    out = np.empty(k, dtype=np.int64)
    radius = np.empty(k, dtype=np.float64)
    if k == 0:
        return (out, radius) if return_distances else out
    cover = Cover(e, covered=float("-inf"), nearest_two=True)
    with few_threads_for_small(e.n):  # vector ops on one thread; the GEMVs keep their threads
        return _picks(e, cover, lab, k, out, radius, return_distances)


def _picks(e, cover, lab, k, out, radius, return_distances):
    start = 0
    if len(lab):
        cover.add(lab)
    else:
        out[0], radius[0] = e.largest_norm(), np.inf
        cover.add(out[:1])
        start = 1
    # a pick that was the only candidate gets its exact radius at the end, from what it was then:
    # its float32 m, second-nearest m2, norm, nearest center, the centers' largest norm and count
    then = np.zeros((5, k))
    n_centers = np.zeros(k, dtype=np.int64)
    late = np.zeros(k, dtype=bool)
    for t in range(start, k):
        cand = cover.candidates()
        if len(cand) == 1:
            j = out[t] = int(cand[0])
            then[:, t] = [v[0] for v in cover.state(cand)] + [cover.c_max]
            n_centers[t], late[t] = len(cover.centers), True
        else:
            vals = cover.exact_values(cand)
            best = int(np.argmax(vals))  # cand is ascending: the first maximum is the lowest position
            out[t], radius[t] = cand[best], vals[best]
        if t + 1 < k:
            cover.add(out[t : t + 1])
    if late.any():
        radius[late] = _late_radii(e, cover, out, late, then, n_centers)
    radius[start:] = np.sqrt(radius[start:])
    return (out, radius) if return_distances else out


def _late_radii(e, cover, out, late, then, n_centers) -> np.ndarray:
    """Exact float64 squared radii of the single-candidate picks: the distance to the nearest
    center of the time when that was certain, else the minimum over the centers of the time."""
    t = np.flatnonzero(late)
    m, m2, sq, near, c_max = then[:, t]
    sure = cover.sure_nearest(m, m2, sq, c_max)
    vals = np.empty(len(t))
    if sure.any():
        vals[sure] = e.exact_sq_dists(out[t[sure]], cover.centers[near[sure].astype(np.int64)], pairs=True)
    for i in np.flatnonzero(~sure):
        vals[i] = e.exact_min_sq_dist(out[t[i] : t[i] + 1], cover.centers[: n_centers[t[i]]])[0]
    return vals


def _as_positions(labeled, n: int) -> np.ndarray:
    if labeled is None:
        return np.empty(0, dtype=np.int64)
    lab = np.asarray(labeled)
    if lab.dtype == bool:
        if lab.shape != (n,):
            raise ValueError(f"labeled as a mask must have shape ({n},), got {lab.shape}")
        return np.flatnonzero(lab)
    lab = lab.astype(np.int64).ravel()
    if lab.size and (lab.min() < 0 or lab.max() >= n):
        raise ValueError(f"labeled positions must be in 0..{n - 1}")
    return np.unique(lab)
