"""BADGE (Ash et al. 2020, Alg. 1): k-means++ seeding over gradient embeddings.

The embedding of sample ``i`` is the last layer's gradient ``g_i = delta_i ⊗ h_i`` with
``delta_i = p_i - e_{argmax p_i}`` (the cross-entropy's gradient at the pseudo-label) and
``h_i`` the layer's input, given factored as ``(delta, h)`` or as an explicit ``[N, D]`` array.
k-means++: the first pick is the largest ``||g||``, each next one is drawn with probability
``D(g)^2 / sum D^2``, ``D`` the distance to the nearest pick (:func:`mmal.kernels.kmeanspp`;
``g`` is never built from its factors).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArrayError
from ..grads import RankOne, sq_norms
from ..kernels import kmeanspp
from ._checks import Picks, array, candidate_positions, check_budget, generator

Embedding = Any  # an array [N, D], a RankOne, a (delta, h) pair, or a sequence of RankOne blocks


def _rank_one(delta: Any, h: Any, name: str) -> RankOne:
    d = array(delta, f"{name} delta", ndim=2, shape="[N, c]", dtype=None)
    x = array(h, f"{name} h", ndim=2, shape="[N, d]", dtype=None, n=len(d))
    return RankOne(d, x)


def gradient_embedding(embedding: Embedding, name: str = "embedding"):
    """A checked embedding: an explicit ``[N, D]`` array, a :class:`~mmal.RankOne` (or a pair
    ``(delta [N, c], h [N, d])``), or a sequence of RankOne blocks (their concatenation)."""
    if isinstance(embedding, RankOne):
        return _rank_one(embedding.delta, embedding.h, name)
    if isinstance(embedding, tuple) and len(embedding) == 2 and not isinstance(embedding[0], (RankOne, tuple)):
        return _rank_one(*embedding, name)
    if isinstance(embedding, (list, tuple)):
        if not embedding:
            raise ArrayError(f"{name} is an empty list; give an array [N, D], (delta, h) or RankOne blocks")
        if not all(isinstance(b, RankOne) or (isinstance(b, tuple) and len(b) == 2) for b in embedding):
            raise ArrayError(f"{name} as a list must hold RankOne blocks or (delta, h) pairs")
        out = [_rank_one(*((b.delta, b.h) if isinstance(b, RankOne) else b), f"{name} block {j}")
               for j, b in enumerate(embedding)]
        if len({len(b) for b in out}) != 1:
            raise ArrayError(f"{name}: the blocks have different numbers of rows {[len(b) for b in out]}; one row per sample")
        return out
    return array(embedding, name, ndim=2, shape="[N, D] (or (delta, h) factors)", dtype=None)


def embedding_rows(emb) -> int:
    return len(emb[0]) if isinstance(emb, list) else len(emb)


def take_rows(emb, rows: np.ndarray):
    """``emb`` restricted to ``rows`` (the same object when ``rows`` is every row in order)."""
    if len(rows) == embedding_rows(emb):
        return emb
    if isinstance(emb, list):
        return [b.take(rows) for b in emb]
    return emb.take(rows) if isinstance(emb, RankOne) else emb[rows]


def embedding_sq_norms(emb) -> np.ndarray:
    """``||g_i||^2`` per row."""
    if isinstance(emb, (RankOne, list)):
        return sq_norms(emb)
    return np.einsum("nd,nd->n", emb, emb)


def badge(embedding: Embedding, budget: int, rng: np.random.Generator | int, *, candidates: Any = None,
          backend: str = "auto") -> Picks:
    """k-means++ seeding of ``budget`` rows of the gradient ``embedding``, in pick order.

    ``info["grad_sq_norm"]``: ``||g||^2`` of each pick."""
    emb = gradient_embedding(embedding)
    cand = candidate_positions(candidates, embedding_rows(emb))
    k = check_budget(budget, len(cand))
    e = take_rows(emb, cand)
    picks = kmeanspp(e, k, generator(rng), backend=backend)
    return Picks(cand[picks], info={"grad_sq_norm": embedding_sq_norms(e)[picks]})

