"""BMMAL (Shen et al., ACM MM 2023, Sec. 3.3-3.5) on arrays, for ``M`` modalities.

Inputs: the subset outcomes ``V[S, i]`` for every modality subset ``S`` (bit ``j`` of ``S`` is
modality ``j``; ``2^M`` rows, BMMAL's ``V(S)`` is the fused probability of the pseudo class with
the modalities outside ``S`` zeroed), the fused classifier's output gradient ``delta [N, C]`` and
what that classifier reads from each modality alone, ``z_m [N, d_m]`` (Eq. 13). Then

- Eq. 10 Shapley values ``phi`` and Eq. 12 contributions ``Phi_m = |phi_m| / sum_j |phi_j|``
  (uniform ``1/M`` where every ``phi`` is 0; :mod:`mmal.shapley`);
- Eq. 14 generalized: ``w_m = 1 - (max_j Phi_j - Phi_m)`` (``1 - rho`` for two modalities);
- Eq. 15: the embedding's blocks ``(w_m delta) ⊗ z_m``, never built;
- k-means++ seeding over that embedding, as BADGE.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ArrayError
from ..grads import RankOne
from ..kernels import kmeanspp
from ..shapley import contributions, shapley
from ._checks import Picks, array, candidate_positions, check_budget, generator, scatter


def modality_weights(Phi: np.ndarray) -> np.ndarray:
    """Eq. 14 generalized: ``w_m = 1 - (max_j Phi_j - Phi_m)`` (1 for the strongest modality)."""
    return 1.0 - (Phi.max(1, keepdims=True) - Phi)


def scale_blocks(delta: np.ndarray, z: Sequence[np.ndarray], weights: np.ndarray) -> list[RankOne]:
    """Eq. 15 on arrays: the RankOne blocks ``(w_m delta, z_m)``, ``weights [N, M]``."""
    delta, w = np.asarray(delta, dtype=np.float32), np.asarray(weights, dtype=np.float32)
    return [RankOne(delta * w[:, j : j + 1], np.asarray(zm, dtype=np.float32)) for j, zm in enumerate(z)]


def bmmal(subset_values: Any, delta: Any, inputs: Sequence[Any], budget: int, rng: np.random.Generator | int, *,
          candidates: Any = None, backend: str = "auto") -> Picks:
    """k-means++ over the Shapley-scaled gradient blocks; picks in pick order.

    ``subset_values [2^M, N]``, ``delta [N, C]``, ``inputs``: ``M`` arrays ``z_m [N, d_m]`` in
    the bit order of ``subset_values``. ``info``: ``"contributions"`` ``Phi [N, M]`` and
    ``"weights"`` ``w [N, M]`` (NaN rows outside the candidates)."""
    V = array(subset_values, "subset_values", ndim=2, shape="[2^M, N] (one row per modality subset)")
    n_mod = int(np.log2(len(V))) if len(V) > 1 else 0
    if n_mod < 1 or 1 << n_mod != len(V):
        raise ArrayError(f"subset_values must have 2^M rows, one per modality subset (bit j = modality j), got {len(V)}")
    n = V.shape[1]
    d = array(delta, "delta", ndim=2, shape="[N, C]", dtype=None)
    if len(d) != n:
        raise ArrayError(f"delta has {len(d)} rows but subset_values has {n} columns (samples); one per sample")
    if isinstance(inputs, np.ndarray) or len(inputs) != n_mod:
        raise ArrayError(f"inputs must be a list of {n_mod} arrays z_m [N, d_m] (one per modality, the bit order of "
                         f"subset_values), got {type(inputs).__name__} of length {len(inputs)}")
    z = [array(zm, f"inputs[{j}]", ndim=2, shape="[N, d_m]", dtype=None, n=n) for j, zm in enumerate(inputs)]
    cand = candidate_positions(candidates, n)
    k = check_budget(budget, len(cand))
    Phi = contributions(shapley(V[:, cand]))
    w = modality_weights(Phi)
    rows = slice(None) if len(cand) == n else cand  # a view when every sample is a candidate
    picks = kmeanspp(scale_blocks(d[rows], [zm[rows] for zm in z], w), k, generator(rng), backend=backend)
    return Picks(cand[picks], info={"contributions": scatter(Phi, cand, n), "weights": scatter(w, cand, n)})
