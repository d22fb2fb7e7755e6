"""Built-in plugin: Diverse mini-Batch Active Learning (Zhdanov 2019), "weighted K-means".

1. Prefilter the ``beta * k`` most uncertain unlabeled samples (beta = 10 as in the paper).
2. Weighted k-means with ``k`` clusters on their fused features, weights = uncertainty.
3. The batch: the sample closest to each centroid, no sample twice (greedy by distance,
   :func:`mmal.kernels.nearest_to_centroids`); ordered by uncertainty, best first.

Uncertainty, classification: the margin ``1 - (p_(1) - p_(2))`` of the fused head's top two
class probabilities (the paper's margin informativeness). Regression (GRACE runs DBAL on
SIMSv2): the predictive standard deviation of the fused prediction over ``T`` MC-dropout
passes, ``std_t yhat_t`` (``predict_proba_samples``), seeded from ``rng``.
"""

import numpy as np

import mmal
from mmal.kernels import nearest_to_centroids, weighted_kmeans
from mmal.model import EMBED, PREDICT_PROBA_SAMPLES, check_requirements


def margin_uncertainty(proba: np.ndarray) -> np.ndarray:
    """``1 - (p_(1) - p_(2))`` per row of ``proba [n, C]``."""
    top2 = np.sort(np.asarray(proba, dtype=np.float64), axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def mc_std_uncertainty(samples: np.ndarray) -> np.ndarray:
    """Std over the ``T`` MC-dropout predictions ``[n, 1, T]`` of a regression head."""
    return np.asarray(samples, dtype=np.float64)[:, 0, :].std(axis=1)


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
            return margin_uncertainty(model.predict_proba(pool, positions)["M"])
        seed = int(rng.integers(0, 2**31 - 1))
        return mc_std_uncertainty(model.predict_proba_samples(pool, positions, T=self.T, seed=seed))

    def query(self, model, pool, budget, *, rng, round):
        unl = pool.unlabeled_positions()
        u = self.uncertainty(model, pool, unl, rng)
        top = np.argsort(-u, kind="stable")[: min(len(unl), self.beta * budget)]
        x = np.asarray(model.embed(pool, unl[top])["fused"], dtype=np.float32)
        centroids, _ = weighted_kmeans(x, budget, u[top], rng, iters=self.iters, backend=self.backend)
        picks = top[nearest_to_centroids(x, centroids, backend=self.backend)]
        order = np.argsort(-u[picks], kind="stable")
        return mmal.Selection(unl[picks[order]], scores=u[picks[order]], info={"n_prefiltered": len(top)})


@mmal.hookimpl
def register_strategies(register):
    register("dbal", DBAL, summary="uncertainty prefilter + weighted k-means (Zhdanov 2019)",
             tasks="regression,classification", requires="embed (+ predict_proba_samples for regression)")
