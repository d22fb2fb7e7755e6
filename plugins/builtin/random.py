"""Built-in plugin: the Random strategy (uniform sampling without replacement)."""

import mmal


class Random(mmal.Strategy):
    """Each unlabeled sample is equally likely; the unbiased baseline of every paper."""

    needs_model = False

    def query(self, model, pool, budget, *, rng, round):
        return mmal.Selection(mmal.arrays.random(pool.n, budget, rng, candidates=pool.unlabeled_positions()).positions)


@mmal.hookimpl
def register_strategies(register):
    register("random", Random, summary="uniform sampling without replacement", tasks="regression,classification")
