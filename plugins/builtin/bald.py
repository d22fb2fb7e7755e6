"""Built-in plugin: BALD with MC dropout (Gal, Islam & Ghahramani 2017, "Deep Bayesian Active
Learning with Image Data", Eq. 2 / Houlsby et al. 2011).

The score is the mutual information between the prediction and the weights, estimated from
``T`` stochastic forward passes (dropout on)::

    I[y; w | x] = H[ (1/T) sum_t p_t ] - (1/T) sum_t H[p_t],   H[p] = -sum_c p_c log p_c, 0 log 0 = 0

and the batch is the top-``k`` (ties: lower position first). The dropout seed comes from ``rng``.
"""

import numpy as np

import mmal
from mmal.model import PREDICT_PROBA_SAMPLES


def mutual_information(p: np.ndarray, rows: int = 4096) -> np.ndarray:
    """BALD scores from MC samples ``p [n, C, T]``, in float64 over ``rows`` samples at a time
    (at VGGSound scale ``p`` alone is 2.2 GB in float32)."""
    from scipy.special import xlogy  # x log y with 0 log 0 = 0

    out = np.empty(len(p))
    for s in range(0, len(p), rows):
        q = np.asarray(p[s : s + rows], dtype=np.float64)
        mean = q.mean(axis=2)
        out[s : s + rows] = -xlogy(mean, mean).sum(axis=1) + xlogy(q, q).sum(axis=1).mean(axis=1)
    return out


class BALD(mmal.Strategy):
    """Top-k mutual information under MC dropout."""

    requires = frozenset({PREDICT_PROBA_SAMPLES})
    tasks = frozenset({"classification"})

    def __init__(self, T: int = 10):
        if int(T) < 2:
            raise mmal.ConfigError(f"bald: T (MC-dropout samples) must be >= 2, got {T}")
        self.T = int(T)

    def query(self, model, pool, budget, *, rng, round):
        unl = pool.unlabeled_positions()
        seed = int(rng.integers(0, 2**31 - 1))
        mi = mutual_information(model.predict_proba_samples(pool, unl, T=self.T, seed=seed))
        order = np.argsort(-mi, kind="stable")[:budget]
        return mmal.Selection(unl[order], scores=mi[order], info={"mc_seed": seed})


@mmal.hookimpl
def register_strategies(register):
    register("bald", BALD, summary="MC-dropout mutual information, top-k (Gal et al. 2017)",
             tasks="classification", requires="predict_proba_samples")
