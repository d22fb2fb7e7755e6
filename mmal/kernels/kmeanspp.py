"""k-means++ seeding (Arthur & Vassilvitskii 2007) as used by BADGE (Ash et al. 2020, Alg. 1).

First center: the largest-norm point (ties: lowest index), as in BADGE's reference code.
Each later center is drawn with probability ``D(x)^2 / sum D^2`` (``D`` = distance to the
nearest chosen center). The minimum vector ``D^2`` is kept on the device and updated against
the newest center only: one GEMV pass per pick, no Python loop over points. Sampling is
cumsum + searchsorted on the device against one uniform per pick drawn from ``rng``
(``rng.random(k - 1)``), so one rng stream gives the same picks on every backend.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ..grads import RankOne
from .backend import device as _device, few_threads_for_small
from .embedding import Embedding


def kmeanspp(
    emb: np.ndarray | RankOne | Sequence[RankOne], k: int, rng: np.random.Generator, *, backend: str = "auto"
) -> np.ndarray:
    """Positions of ``k`` k-means++ seeds among ``emb``'s rows, in pick order.

    ``emb``: an array ``[N, D]``, a :class:`~mmal.grads.RankOne`, or a sequence of RankOne
    blocks (their concatenation); rank-1 input is never materialized (memory ``O(N (c+d))``).
    Already-picked points are never picked again; when every remaining point has ``D^2 = 0``
    the rest are drawn uniformly among the unpicked points, with a warning.
    """
    e = Embedding(emb, _device(backend))
    k = _check_k(k, e.n)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    with few_threads_for_small(e.n * e.width):
        sq = e.sq_norms()
        first = int(sq.argmax())  # torch returns the first maximal index
        return d2_seeding(e, sq, first, rng.random(k - 1))


def d2_seeding(e: Embedding, sq, first: int, u: np.ndarray, weights=None) -> np.ndarray:
    """D^2 sampling from ``first``, one uniform ``u[t]`` per further pick.

    With ``weights`` (a float32 tensor [N]) the probability is ``w_i D_i^2 / sum w D^2``
    (weighted k-means++ seeding).
    """
    import torch

    n = e.n
    picked = torch.zeros(n, dtype=torch.bool, device=e.device)
    out = np.empty(len(u) + 1, dtype=np.int64)
    out[0] = first
    picked[first] = True
    mind = e.sq_dists(first, sq)
    mind[first] = 0.0
    warned = False
    for t, ut in enumerate(u, start=1):
        w = mind.double() if weights is None else mind.double() * weights.double()
        cum = torch.cumsum(w, 0)
        total = float(cum[-1])
        if not total > 0.0:
            if not warned:
                warnings.warn(
                    f"k-means++: every unpicked point has D^2 = 0 after {t} picks (duplicates of the centers); "
                    f"picking the remaining {len(u) + 1 - t} uniformly among the {n - t} unpicked points",
                    RuntimeWarning,
                    stacklevel=3,
                )
                warned = True
            cum = torch.cumsum((~picked).double(), 0)
            total = float(cum[-1])
        j = int(torch.searchsorted(cum, torch.tensor([ut * total], dtype=torch.float64, device=e.device), right=True))
        if j >= n or bool(picked[j]):  # ut * total rounded up to total: the last point with mass
            j = int(torch.nonzero(cum < cum[-1]).numel())
        out[t] = j
        picked[j] = True
        mind = torch.minimum(mind, e.sq_dists(j, sq))
        mind[j] = 0.0
    return out


def _check_k(k, n: int) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative int, got {k!r}")
    if k > n:
        raise ValueError(f"k={k} is larger than the {n} points; ask for at most {n}")
    return int(k)
