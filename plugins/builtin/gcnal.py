"""Built-in plugin: Sequential GCN for active learning (Caramalau, Bhattarai & Kim 2021):
UncertainGCN (``"gcnal"``) and CoreGCN (``"coregcn"``).

The math (the graph over a random subset of the unlabeled pool plus every labeled sample, the
2-layer GCN trained labeled = 1 vs unlabeled = 0, the picks ``argmin |s - s_margin|`` or greedy
k-center on the GCN's node embedding) is :func:`mmal.arrays.gcnal` / :func:`mmal.arrays.coregcn`;
this plugin gives them the model's fused feature, embedded for the graph's nodes only.
"""

import numpy as np

import mmal
from mmal.arrays._gcnal import Graph, _knn_graph, check_graph_params, gcn_graph, gcn_loss, train_gcn  # noqa: F401
from mmal.model import EMBED

VARIANTS = ("uncertain", "core")


class UncertainGCN(mmal.Strategy):
    """Sequential GCN: UncertainGCN (``variant="uncertain"``) or CoreGCN (``variant="core"``)."""

    requires = frozenset({EMBED})
    variant = "uncertain"

    def __init__(self, variant=None, subset=10000, s_margin=0.1, lam=1.2, hidden=128, dropout=0.3, lr=1e-3,
                 weight_decay=5e-4, steps=200, dense_mib=2048, graph_k=32, backend="auto"):
        self.variant = variant or self.variant
        if self.variant not in VARIANTS:
            raise mmal.ConfigError(f"gcnal: variant must be one of {VARIANTS}, got {self.variant!r}")
        try:
            check_graph_params(int(subset), float(dense_mib), int(graph_k))
        except mmal.ArrayError as e:
            raise mmal.ConfigError(f"gcnal: {e}") from None
        self.subset, self.s_margin, self.dense_mib, self.graph_k, self.backend = int(subset), s_margin, float(dense_mib), int(graph_k), backend
        self.train_kw = dict(hidden=hidden, dropout=dropout, lr=lr, weight_decay=weight_decay, steps=steps, lam=lam)

    def gcn(self, v, graph, is_labeled, seed):
        return train_gcn(v, graph, is_labeled, seed=seed, **self.train_kw)

    def query(self, model, pool, budget, *, rng, round):
        def fused(rows):  # only the graph's nodes are embedded
            return np.asarray(model.embed(pool, rows)["fused"])

        kw = dict(subset=self.subset, dense_mib=self.dense_mib, graph_k=self.graph_k, backend=self.backend, gcn=self.gcn)
        if self.variant == "uncertain":
            picked = mmal.arrays.gcnal(fused, pool.labeled, budget, rng, s_margin=self.s_margin, **kw)
        else:
            picked = mmal.arrays.coregcn(fused, pool.labeled, budget, rng, **kw)
        return mmal.Selection(picked.positions, scores=picked.picked_scores, info=picked.info)


class CoreGCN(UncertainGCN):
    variant = "core"


@mmal.hookimpl
def register_strategies(register):
    register("gcnal", UncertainGCN, summary="UncertainGCN: labeled-vs-unlabeled GCN, picks near s_margin (Caramalau et al. 2021)",
             tasks="regression,classification", requires="embed")
    register("coregcn", CoreGCN, summary="CoreGCN: k-center on the labeled-vs-unlabeled GCN's features (Caramalau et al. 2021)",
             tasks="regression,classification", requires="embed")
