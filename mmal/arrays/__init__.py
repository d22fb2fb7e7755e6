"""The array-level API: every strategy's math on plain numpy (or torch) arrays (DESIGN §8, layer 1).

No Pool and no task model: pass the arrays a strategy reads and get a :class:`Picks` back,
``positions`` best first (pick order for sequential strategies) and, where the strategy scores
samples, ``scores`` of every candidate (``[N]``, NaN outside the candidates). ``candidates=``
(positions among the ``N`` rows, or a bool mask) restricts the choice everywhere. Randomness
comes only from ``rng`` (a ``numpy.random.Generator`` or an int seed): the built-in strategy
plugins call these functions with the Generator they get, so identical arrays give identical
picks through :class:`mmal.Pool` and here.

    random(n, budget, rng)                         uniform without replacement
    least_confidence(proba, budget)                1 - p_(1)                      proba [N, C] or [N, C, T]
    margin(proba, budget)                          1 - (p_(1) - p_(2))
    entropy(proba, budget)                         -sum_c p_c log p_c
    bald(samples, budget)                          H[mean_t p_t] - mean_t H[p_t]  samples [N, C, T]
    top_scores(scores, budget)                     your own scores [N]
    coreset(features, labeled, budget)             greedy k-center: argmax_i min_j ||x_i - x_j||
    badge(embedding, budget, rng)                  k-means++ on g = delta ⊗ h (or [N, D])
    bmmal(subset_values, delta, inputs, budget, rng)   Shapley weights (Eqs. 10-14) on blocks (w_m delta) ⊗ z_m (Eq. 15), k-means++
    dbal(features, uncertainty, budget, rng)       top beta*budget uncertain, weighted k-means, nearest to each centroid
    gcnal / coregcn(features, labeled, budget, rng)   a labeled-vs-unlabeled GCN: |s - s_margin| / k-center on its features
    grace(gradients, budget, round=t)              Eq. 7 alpha_t s_e + s_i s_r of Eqs. 4-6, Eq. 8 alpha_t

and the per-sample scores alone: :func:`least_confidence_scores`, :func:`margin_scores`,
:func:`entropy_scores`, :func:`mutual_information`, :func:`predictive_std`, :func:`grace_scores`.
Bad input (a wrong rank, NaN / inf, logits for probabilities, a mask of the wrong length, bad
candidates, a budget over the candidates) raises :class:`mmal.ArrayError` naming the argument.
"""

from ._badge import badge
from ._bmmal import bmmal, modality_weights, scale_blocks
from ._checks import Picks
from ._coreset import coreset
from ._dbal import dbal
from ._gcnal import coregcn, gcnal
from ._grace import ModalityGradients, cosine_rows, curriculum_alpha, grace, grace_scores, minmax, rank_normalize
from ._uncertainty import (
    bald, entropy, entropy_scores, least_confidence, least_confidence_scores, margin, margin_scores, mutual_information,
    predictive_std, random, top_scores,
)

__all__ = [
    "ModalityGradients", "Picks", "badge", "bald", "bmmal", "coregcn", "coreset", "cosine_rows", "curriculum_alpha",
    "dbal", "entropy", "entropy_scores", "gcnal", "grace", "grace_scores", "least_confidence", "least_confidence_scores", "margin",
    "margin_scores", "minmax", "modality_weights", "mutual_information", "predictive_std", "random", "rank_normalize",
    "scale_blocks", "top_scores",
]
