"""Built-in plugin: BALD with MC dropout (Gal, Islam & Ghahramani 2017, "Deep Bayesian Active
Learning with Image Data", Eq. 2 / Houlsby et al. 2011).

The score is the mutual information between the prediction and the weights, estimated from
``T`` stochastic forward passes (dropout on), :func:`mmal.arrays.bald`::

    I[y; w | x] = H[ (1/T) sum_t p_t ] - (1/T) sum_t H[p_t],   H[p] = -sum_c p_c log p_c, 0 log 0 = 0

and the batch is the top-``k`` (ties: lower position first). The dropout seed comes from ``rng``.
"""

import mmal
from mmal.model import PREDICT_PROBA_SAMPLES


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
        picked = mmal.arrays.bald(model.predict_proba_samples(pool, unl, T=self.T, seed=seed), budget)
        return mmal.Selection(unl[picked.positions], scores=picked.picked_scores, info={"mc_seed": seed})


@mmal.hookimpl
def register_strategies(register):
    register("bald", BALD, summary="MC-dropout mutual information, top-k (Gal et al. 2017)",
             tasks="classification", requires="predict_proba_samples")
