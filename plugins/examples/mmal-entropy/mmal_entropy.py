"""An mmal plugin in one file: pick the samples whose fused prediction has the highest entropy."""

import numpy as np

import mmal


class Entropy(mmal.Strategy):
    tasks = frozenset({"classification"})

    def query(self, model, pool, budget, *, rng, round):
        unlabeled = pool.unlabeled_positions()
        p = np.clip(model.predict_proba(pool, unlabeled)["M"], 1e-12, 1.0)
        entropy = -(p * np.log(p)).sum(axis=1)
        best = np.argsort(-entropy, kind="stable")[:budget]
        return mmal.Selection(unlabeled[best], entropy[best])


@mmal.hookimpl
def register_strategies(register):
    register("entropy", Entropy, summary="maximum entropy of the fused prediction", tasks="classification")
