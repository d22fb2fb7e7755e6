"""Built-in plugin: CoreSet (Sener & Savarese 2018, "Active Learning for Convolutional Neural
Networks: A Core-Set Approach"), the greedy k-center of Alg. 1.

Each pick is the unlabeled sample farthest from its nearest labeled-or-picked sample,
``argmax_i min_j ||f_i - f_j||`` (:func:`mmal.arrays.coreset`), on the model's fused feature
(``features="fused"``) or the concatenation of the per-modality encoder features
(``features="concat"``). The paper's robust (outlier-budget MIP) refinement is not used, as in
the GRACE and BMMAL baselines. Scores are each pick's covering radius at the time it was picked
(non-increasing; none when nothing is labeled: the first radius is infinite).
"""

import numpy as np

import mmal
from mmal.model import EMBED

FEATURES = ("fused", "concat")


def pool_features(model, pool, features: str, positions=None) -> np.ndarray:
    """The fused feature, or the per-modality encoder features side by side."""
    emb = model.embed(pool, positions)
    if features == "fused":
        return np.asarray(emb["fused"], dtype=np.float32)
    return np.concatenate([np.asarray(v, dtype=np.float32) for k, v in emb.items() if k != "fused"], axis=1)


class CoreSet(mmal.Strategy):
    """Greedy k-center over the labeled set (farthest-first traversal)."""

    requires = frozenset({EMBED})

    def __init__(self, features: str = "fused", backend: str = "auto"):
        if features not in FEATURES:
            raise mmal.ConfigError(f"coreset: features must be one of {FEATURES}, got {features!r}")
        self.features, self.backend = features, backend

    def query(self, model, pool, budget, *, rng, round):
        picked = mmal.arrays.coreset(pool_features(model, pool, self.features), pool.labeled, budget, backend=self.backend)
        radius = picked.info["radius"]
        return mmal.Selection(picked.positions, scores=radius if np.isfinite(radius).all() else None, info=picked.info)


@mmal.hookimpl
def register_strategies(register):
    register("coreset", CoreSet, summary="greedy k-center on the fused feature (Sener & Savarese 2018)",
             tasks="regression,classification", requires="embed")
