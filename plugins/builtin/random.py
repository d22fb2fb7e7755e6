"""Built-in plugin: the Random strategy (uniform sampling without replacement)."""

import numpy as np

import mmal


class Random(mmal.Strategy):
    """Each unlabeled sample is equally likely; the unbiased baseline of every paper."""

    needs_model = False

    def query(self, model, pool, budget, *, rng, round):
        return mmal.Selection(rng.choice(pool.unlabeled_positions(), size=budget, replace=False).astype(np.int64))


@mmal.hookimpl
def register_strategies(register):
    register("random", Random, summary="uniform sampling without replacement", tasks="regression,classification")
