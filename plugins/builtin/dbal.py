"""Built-in plugin: Diverse mini-Batch Active Learning (Zhdanov 2019), "weighted K-means".

1. Prefilter the ``beta * k`` most uncertain unlabeled samples (beta = 10 as in the paper).
2. Weighted k-means with ``k`` clusters on their fused features, weights = uncertainty.
3. The batch: the sample closest to each centroid, no sample twice (greedy by distance,
   :func:`mmal.kernels.nearest_to_centroids`); ordered by uncertainty, best first.

The math is :func:`mmal.arrays.dbal`; the fused features are computed for the prefiltered
samples only. Uncertainty, classification: the margin ``1 - (p_(1) - p_(2))`` of the fused
head's top two class probabilities (the paper's margin informativeness). Regression (GRACE runs
DBAL on SIMSv2): the predictive standard deviation of the fused prediction over ``T``
MC-dropout passes, ``std_t yhat_t`` (``predict_proba_samples``), seeded from ``rng``.
"""

import numpy as np

import mmal
from mmal.model import EMBED, PREDICT_PROBA_SAMPLES, check_requirements


class DBAL(mmal.Strategy):
    """Uncertainty prefilter + weighted k-means + nearest sample to each centroid."""

    requires = frozenset({EMBED})  # + predict_proba_samples for regression (see check)

    def __init__(self, beta: int = 10, T: int = 10, iters: int = 100, backend: str = "auto"):
        if int(beta) < 1:
            raise mmal.ConfigError(f"dbal: beta (prefilter factor) must be >= 1, got {beta}")
        self.beta, self.T, self.iters, self.backend = int(beta), int(T), int(iters), backend

    def check(self, model, pool):
        extra = {PREDICT_PROBA_SAMPLES} if pool.task.kind == "regression" else set()
        check_requirements(self.name or "dbal", self.requires | extra, self.tasks, model, pool)

    def uncertainty(self, model, pool, positions, rng):
        if pool.task.is_classification:
            return mmal.arrays.margin_scores(model.predict_proba(pool, positions)["M"])
        seed = int(rng.integers(0, 2**31 - 1))
        return mmal.arrays.predictive_std(model.predict_proba_samples(pool, positions, T=self.T, seed=seed))

    def query(self, model, pool, budget, *, rng, round):
        unl = pool.unlabeled_positions()
        u = self.uncertainty(model, pool, unl, rng)

        def fused(rows):  # only the prefiltered samples are embedded
            return np.asarray(model.embed(pool, unl[rows])["fused"])

        picked = mmal.arrays.dbal(fused, u, budget, rng, beta=self.beta, iters=self.iters, backend=self.backend)
        return mmal.Selection(unl[picked.positions], scores=picked.picked_scores, info=picked.info)


@mmal.hookimpl
def register_strategies(register):
    register("dbal", DBAL, summary="uncertainty prefilter + weighted k-means (Zhdanov 2019)",
             tasks="regression,classification", requires="embed (+ predict_proba_samples for regression)")
