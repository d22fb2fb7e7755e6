"""Built-in plugin: Sequential GCN for active learning (Caramalau, Bhattarai & Kim 2021):
UncertainGCN (``"gcnal"``) and CoreGCN (``"coregcn"``).

Graph (Sec. 3.2): nodes are a random subset of the unlabeled pool (``subset``, 10000 in the
paper's code; at least the budget) plus every labeled sample, with L2-normalized fused
features ``V``. ``S = V V^T``; ``A = D^{-1} (S - I) + I`` with ``D`` the degree matrix of
``S - I`` (the reference code normalizes columns, the transpose; we follow the paper).
Negative cosine similarities, impossible for the paper's post-ReLU CNN features, are clipped
to 0 so ``D`` stays positive. Above ``dense_max`` nodes (default 4096, a 64 MiB matrix) only
each node's ``graph_k`` (default 32) most similar nodes keep their edge, symmetrized: a kNN
graph of ``O(n k)`` memory instead of ``n x n``.

GCN (Sec. 3.2 and the authors' code): ``relu(A V W1 + b1)`` (128 hidden, dropout 0.3), then
``sigmoid(A H W2 + b2)``; Adam (lr 1e-3, weight decay 5e-4), 200 full-graph steps on
the paper's binary cross-entropy, labeled = 1, unlabeled = 0::

    L = -(1/N_l) sum_{l} log s_l  -  lambda (1/N_u) sum_{u} log(1 - s_u),   lambda = 1.2

UncertainGCN picks the unlabeled nodes whose score is closest to ``s_margin`` (0.1):
``argmin |s_i - s_margin|`` (Sec. 3.3). CoreGCN runs greedy k-center on the GCN node embedding
``[H, A H W2 + b2]`` (the reference GCN's third output) with the labeled nodes as centers.
Training is seeded from ``rng`` inside ``torch.random.fork_rng`` (no global state touched).
"""

import numpy as np

import mmal
from mmal.kernels import kcenter_greedy, knn
from mmal.kernels.backend import few_threads_for_small
from mmal.model import EMBED

VARIANTS = ("uncertain", "core")


def gcn_adjacency(v: np.ndarray, *, dense_max: int = 4096, graph_k: int = 32):
    """``A = D^{-1}(S - I) + I`` for unit rows ``v``: a dense array, or scipy CSR above ``dense_max`` nodes."""
    import scipy.sparse as sp

    n = v.shape[0]
    if n <= dense_max:
        s = np.clip(v.astype(np.float64) @ v.T.astype(np.float64), 0.0, None)
        np.fill_diagonal(s, 0.0)
    else:
        sim, idx = knn(v, min(graph_k, n - 1), metric="ip")
        s = sp.csr_matrix((np.clip(sim.ravel(), 0.0, None), idx.ravel(), np.arange(0, sim.size + 1, sim.shape[1])), shape=(n, n))
        s = s.maximum(s.T).tocsr()
    deg = np.asarray(s.sum(axis=1)).ravel()
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    if isinstance(s, np.ndarray):
        return (inv[:, None] * s + np.eye(n)).astype(np.float32)
    return (sp.diags(inv) @ s + sp.eye(n)).tocsr().astype(np.float32)


def gcn_loss(logits, is_labeled, lam: float):
    """The binary loss above with log-sigmoid for stability; a missing side (no labeled nodes) contributes 0."""
    import torch.nn.functional as F

    terms = []
    if is_labeled.any():
        terms.append(-F.logsigmoid(logits[is_labeled]).mean())
    if (~is_labeled).any():
        terms.append(-lam * F.logsigmoid(-logits[~is_labeled]).mean())
    return sum(terms)


def train_gcn(v, adj, is_labeled, *, seed, hidden=128, dropout=0.3, lr=1e-3, weight_decay=5e-4, steps=200, lam=1.2):
    """Train the 2-layer GCN; return ``(scores [n], node embedding [n, hidden + 1])`` in eval mode."""
    import torch
    import torch.nn.functional as F

    def mm(a, b):
        return torch.sparse.mm(a, b) if a.is_sparse else a @ b

    with torch.random.fork_rng(devices=[]), few_threads_for_small(v.shape[0] * max(v.shape[1], hidden)):
        torch.manual_seed(seed)
        x = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
        a = _torch_adj(adj)
        ax = mm(a, x)  # A (V W1) = (A V) W1: the first propagation is done once
        lab = torch.from_numpy(np.asarray(is_labeled, dtype=bool))
        params = [_uniform((v.shape[1], hidden), hidden), _uniform((hidden,), hidden), _uniform((hidden, 1), 1), _uniform((1,), 1)]
        w1, b1, w2, b2 = params
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)

        def forward(train):
            h = torch.relu(ax @ w1 + b1)
            out = mm(a, F.dropout(h, dropout, training=train) @ w2) + b2
            return h, out[:, 0]

        for _ in range(steps):
            opt.zero_grad()
            gcn_loss(forward(True)[1], lab, lam).backward()
            opt.step()
        with torch.no_grad():
            h, logits = forward(False)
    return torch.sigmoid(logits).numpy().astype(np.float64), torch.cat([h, logits[:, None]], 1).numpy()


def _uniform(shape, fan_out):
    import torch

    bound = 1.0 / np.sqrt(fan_out)  # the reference GraphConvolution init
    return torch.empty(shape).uniform_(-bound, bound).requires_grad_()


def _torch_adj(adj):
    import torch

    if isinstance(adj, np.ndarray):
        return torch.from_numpy(adj)
    coo = adj.tocoo()
    idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    return torch.sparse_coo_tensor(idx, torch.from_numpy(coo.data), coo.shape).coalesce()


def uncertain_pick(scores: np.ndarray, k: int, s_margin: float):
    """The ``k`` nodes with score closest to ``s_margin`` (ties: lower index); their scores ``-|s - s_margin|``."""
    gap = np.abs(np.asarray(scores, dtype=np.float64) - s_margin)
    order = np.argsort(gap, kind="stable")[:k]
    return order, -gap[order]


class UncertainGCN(mmal.Strategy):
    """Sequential GCN: UncertainGCN (``variant="uncertain"``) or CoreGCN (``variant="core"``)."""

    requires = frozenset({EMBED})
    variant = "uncertain"

    def __init__(self, variant=None, subset=10000, s_margin=0.1, lam=1.2, hidden=128, dropout=0.3, lr=1e-3,
                 weight_decay=5e-4, steps=200, dense_max=4096, graph_k=32, backend="auto"):
        self.variant = variant or self.variant
        if self.variant not in VARIANTS:
            raise mmal.ConfigError(f"gcnal: variant must be one of {VARIANTS}, got {self.variant!r}")
        if int(subset) < 1:
            raise mmal.ConfigError(f"gcnal: subset (unlabeled nodes in the graph) must be >= 1, got {subset}")
        self.subset, self.s_margin, self.dense_max, self.graph_k, self.backend = int(subset), s_margin, dense_max, graph_k, backend
        self.train_kw = dict(hidden=hidden, dropout=dropout, lr=lr, weight_decay=weight_decay, steps=steps, lam=lam)

    def gcn(self, v, adj, is_labeled, seed):
        return train_gcn(v, adj, is_labeled, seed=seed, **self.train_kw)

    def query(self, model, pool, budget, *, rng, round):
        unl, lab = pool.unlabeled_positions(), pool.labeled_positions()
        m = min(len(unl), max(self.subset, budget))
        sub = unl if m == len(unl) else np.sort(rng.choice(unl, m, replace=False))
        nodes = np.concatenate([sub, lab])
        v = np.asarray(model.embed(pool, nodes)["fused"], dtype=np.float64)
        v = (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        is_labeled = np.arange(len(nodes)) >= m
        scores, feat = self.gcn(v, gcn_adjacency(v, dense_max=self.dense_max, graph_k=self.graph_k),
                                is_labeled, int(rng.integers(0, 2**31 - 1)))
        if self.variant == "uncertain":
            picks, sel_scores = uncertain_pick(scores[:m], budget, self.s_margin)
        else:
            picks = kcenter_greedy(feat, budget, labeled=is_labeled, backend=self.backend)
            sel_scores = None
        return mmal.Selection(sub[picks], scores=sel_scores, info={"gcn_score": scores[picks], "n_nodes": len(nodes)})


class CoreGCN(UncertainGCN):
    variant = "core"


@mmal.hookimpl
def register_strategies(register):
    register("gcnal", UncertainGCN, summary="UncertainGCN: labeled-vs-unlabeled GCN, picks near s_margin (Caramalau et al. 2021)",
             tasks="regression,classification", requires="embed")
    register("coregcn", CoreGCN, summary="CoreGCN: k-center on the labeled-vs-unlabeled GCN's features (Caramalau et al. 2021)",
             tasks="regression,classification", requires="embed")
