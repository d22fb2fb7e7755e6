"""Built-in plugin: BADGE (Ash et al. 2020, "Deep Batch Active Learning by Diverse, Uncertain
Gradient Lower Bounds"), Alg. 1.

Each unlabeled sample is embedded as the gradient of the fused head's cross-entropy, with
the model's own prediction as the pseudo-label, w.r.t. the fused classifier's last linear
layer: ``g_i = (p_i - e_{argmax p_i}) ⊗ h_i`` (Sec. 3). The batch is the k-means++ seeding of
those embeddings, run in factored form (:func:`mmal.arrays.badge`): ``g`` is never built.
"""

import mmal
from mmal.model import GRAD_EMBED


class Badge(mmal.Strategy):
    """k-means++ over last-layer gradient embeddings (uncertainty = norm, diversity = spread)."""

    requires = frozenset({GRAD_EMBED})
    tasks = frozenset({"classification"})

    def __init__(self, head: str = "M", backend: str = "auto"):
        self.head, self.backend = head, backend

    def query(self, model, pool, budget, *, rng, round):
        unl = pool.unlabeled_positions()
        emb = model.grad_embed(pool, unl, head=self.head, layer=f"head:{self.head}")
        picked = mmal.arrays.badge(emb, budget, rng, backend=self.backend)
        return mmal.Selection(unl[picked.positions], info=picked.info)


@mmal.hookimpl
def register_strategies(register):
    register("badge", Badge, summary="k-means++ on last-layer gradient embeddings (Ash et al. 2020)",
             tasks="classification", requires="grad_embed")
