"""Sequential GCN for active learning (Caramalau, Bhattarai & Kim 2021) on features:
UncertainGCN (:func:`gcnal`) and CoreGCN (:func:`coregcn`).

Graph (Sec. 3.2): nodes are a random subset of the candidates (``subset``, 10000 in the paper's
code; at least the budget) plus every labeled row, with L2-normalized features ``V``.
``S = V V^T``; ``A = D^{-1} (S - I) + I`` with ``D`` the degree matrix of ``S - I`` (the
reference code normalizes columns, the transpose; we follow the paper). Negative cosine
similarities, impossible for the paper's post-ReLU CNN features, are clipped to 0 so ``D``
stays positive. The graph is the paper's dense one wherever it fits (:func:`gcn_graph`): in
factored form ``A z = D^{-1} (V (V^T z) - diag(S) z) + z`` when ``V >= 0`` (no clipping needed,
``O(n d)``), else materialized in float32 (built in row blocks) while ``n^2`` floats fit
``dense_mib``; only above that does each node keep its ``graph_k`` most similar nodes (a
symmetrized kNN graph). ``info["graph"]`` says which.

GCN (Sec. 3.2 and the authors' code): ``relu(A V W1 + b1)`` (128 hidden, dropout 0.3), then
``sigmoid(A H W2 + b2)``; Adam (lr 1e-3, weight decay 5e-4), 200 full-graph steps on the
paper's binary cross-entropy, labeled = 1, unlabeled = 0::

    L = -(1/N_l) sum_{l} log s_l  -  lambda (1/N_u) sum_{u} log(1 - s_u),   lambda = 1.2

UncertainGCN picks the unlabeled nodes whose score is closest to ``s_margin`` (0.1):
``argmin |s_i - s_margin|`` (Sec. 3.3). CoreGCN runs greedy k-center on the GCN node embedding
``[H, A H W2 + b2]`` (the reference GCN's third output) with the labeled nodes as centers.
Randomness: the node subset is drawn from ``rng``, then the GCN's torch seed; training runs
inside ``torch.random.fork_rng`` (no global state touched).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import ArrayError
from ..kernels import kcenter_greedy, knn
from ..kernels.backend import few_threads_for_small
from ._checks import Picks, check_budget, generator, scatter
from ._coreset import features_and_mask

#: temporaries of the dense graph's row-block build (float64 similarities of a block of rows)
BLOCK_MIB = 64


class Graph:
    """The GCN's propagation ``z -> A z`` (torch, differentiable) for ``A = D^{-1}(S - I) + I``.

    ``name``: ``"dense"`` or ``"knn(k=K)"``; ``work``: elements touched per product (threads);
    :meth:`toarray` gives ``A`` as a float64 array (small graphs, tests)."""

    def __init__(self, name, n, work, mm, toarray):
        self.name, self.n, self.work, self.mm, self._toarray = name, n, work, mm, toarray

    def toarray(self) -> np.ndarray:
        return self._toarray()


def gcn_graph(v: np.ndarray, *, dense_mib: float = 2048, graph_k: int = 32, block_mib: float = BLOCK_MIB,
              backend: str = "auto") -> Graph:
    """The graph of unit rows ``v`` [n, d]: dense (factored when ``v >= 0``, else a float32 ``n x n``
    matrix if it takes at most ``dense_mib`` MiB), else the kNN graph with ``graph_k`` neighbours."""
    n = v.shape[0]
    if bool((v >= 0).all()):
        return _factored_graph(v)
    if n * n * 4 <= dense_mib * 2**20:
        return _dense_graph(v, block_mib)
    return _knn_graph(v, min(graph_k, n - 1), backend)


def _inverse(deg: np.ndarray) -> np.ndarray:
    return np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)


def _factored_graph(v) -> Graph:
    """``S = V V^T >= 0``: ``(S - I) z = V (V^T z) - diag(S) z`` and ``deg = V (V^T 1) - diag(S)``."""
    import torch

    n = v.shape[0]
    v64 = v.astype(np.float64)
    diag = np.einsum("ij,ij->i", v64, v64)
    inv = _inverse(v64 @ v64.sum(0) - diag)
    vt, inv_t, diag_t = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in (v, inv, diag))

    def mm(z):
        return inv_t[:, None] * (vt @ (vt.T @ z) - diag_t[:, None] * z) + z

    def toarray():
        s = v64 @ v64.T
        np.fill_diagonal(s, 0.0)
        return inv[:, None] * s + np.eye(n)

    return Graph("dense", n, 2 * n * v.shape[1], mm, toarray)


def _dense_graph(v, block_mib) -> Graph:
    """``A`` as a float32 ``[n, n]`` tensor, row block by row block (float64 within a block)."""
    import torch

    n = v.shape[0]
    a = np.empty((n, n), dtype=np.float32)
    v64 = v.astype(np.float64)
    rows = max(1, int(block_mib * 2**20) // (8 * n))
    for r0 in range(0, n, rows):
        s = np.clip(v64[r0 : r0 + rows] @ v64.T, 0.0, None)
        r = np.arange(s.shape[0])
        s[r, r0 + r] = 0.0
        s *= _inverse(s.sum(1))[:, None]
        s[r, r0 + r] = 1.0
        a[r0 : r0 + rows] = s
    at = torch.from_numpy(a)
    return Graph("dense", n, n * n, lambda z: at @ z, lambda: a.astype(np.float64))


def _knn_graph(v, k, backend) -> Graph:
    """Each node's ``k`` most similar nodes (clipped at 0), symmetrized, row-normalized: scipy CSR."""
    import scipy.sparse as sp
    import torch

    n = v.shape[0]
    sim, idx = knn(v, k, metric="ip", backend=backend)
    s = sp.csr_matrix((np.clip(sim.ravel(), 0.0, None), idx.ravel(), np.arange(0, sim.size + 1, k)), shape=(n, n))
    s = s.maximum(s.T).tocsr()
    a = (sp.diags(_inverse(np.asarray(s.sum(axis=1), dtype=np.float64).ravel())) @ s + sp.eye(n)).tocoo().astype(np.float32)
    at = torch.sparse_coo_tensor(torch.from_numpy(np.vstack([a.row, a.col]).astype(np.int64)), torch.from_numpy(a.data), a.shape,
                                 check_invariants=False).coalesce()
    return Graph(f"knn(k={k})", n, a.nnz, lambda z: torch.sparse.mm(at, z), lambda: a.toarray().astype(np.float64))


def gcn_loss(logits, is_labeled, lam: float):
    """The binary loss above with log-sigmoid for stability; a missing side (no labeled nodes) contributes 0."""
    import torch.nn.functional as F

    terms = []
    if is_labeled.any():
        terms.append(-F.logsigmoid(logits[is_labeled]).mean())
    if (~is_labeled).any():
        terms.append(-lam * F.logsigmoid(-logits[~is_labeled]).mean())
    return sum(terms)


def train_gcn(v, graph: Graph, is_labeled, *, seed, hidden=128, dropout=0.3, lr=1e-3, weight_decay=5e-4, steps=200, lam=1.2):
    """Train the 2-layer GCN on ``graph`` (:func:`gcn_graph`); return ``(scores [n], node embedding
    [n, hidden + 1])`` in eval mode."""
    import torch
    import torch.nn.functional as F

    with torch.random.fork_rng(devices=[]), few_threads_for_small(max(graph.work, v.shape[0] * max(v.shape[1], hidden))):
        torch.manual_seed(seed)
        x = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
        ax = graph.mm(x)  # A (V W1) = (A V) W1: the first propagation is done once
        lab = torch.from_numpy(np.asarray(is_labeled, dtype=bool))
        params = [_uniform((v.shape[1], hidden), hidden), _uniform((hidden,), hidden), _uniform((hidden, 1), 1), _uniform((1,), 1)]
        w1, b1, w2, b2 = params
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)

        def forward(train):
            h = torch.relu(ax @ w1 + b1)
            out = graph.mm(F.dropout(h, dropout, training=train) @ w2) + b2
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


def check_graph_params(subset: Any, dense_mib: Any, graph_k: Any) -> None:
    """Raise naming the graph parameter that is out of range."""
    if isinstance(subset, bool) or not isinstance(subset, (int, np.integer)) or subset < 1:
        raise ArrayError(f"subset (unlabeled nodes in the graph) must be an int >= 1, got {subset!r}")
    if isinstance(dense_mib, bool) or not isinstance(dense_mib, (int, float, np.number)) or not dense_mib >= 0:
        raise ArrayError(f"dense_mib (MiB the dense n x n graph may take) must be >= 0, got {dense_mib!r}")
    if isinstance(graph_k, bool) or not isinstance(graph_k, (int, np.integer)) or graph_k < 1:
        raise ArrayError(f"graph_k (neighbours per node of the kNN graph) must be an int >= 1, got {graph_k!r}")


def gcn_round(features, labeled, budget, rng, *, candidates, subset, dense_mib, graph_k, backend, gcn, train_kw):
    """The graph of a node subset of the candidates plus the labeled rows, and its trained GCN.

    Returns ``(n, sub, k, scores, embedding, is_labeled, info)``: ``sub`` the candidate nodes (sorted,
    first in the graph), GCN ``scores`` and node ``embedding`` of every node (``sub`` then labeled)."""
    check_graph_params(subset, dense_mib, graph_k)
    rng = generator(rng)
    n, lab, cand, rows_of = features_and_mask(features, labeled, candidates, dtype=np.float64)
    k = check_budget(budget, len(cand))
    m = min(len(cand), max(int(subset), k))
    sub = cand if m == len(cand) else np.sort(rng.choice(cand, m, replace=False))
    nodes = np.concatenate([sub, np.flatnonzero(lab)])
    v = np.asarray(rows_of(nodes), dtype=np.float64)
    v = (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    is_labeled = np.arange(len(nodes)) >= m
    graph = gcn_graph(v, dense_mib=float(dense_mib), graph_k=int(graph_k), backend=backend)
    seed = int(rng.integers(0, 2**31 - 1))
    if gcn is None:
        scores, emb = train_gcn(v, graph, is_labeled, seed=seed, **train_kw)
    else:
        scores, emb = gcn(v, graph, is_labeled, seed)
    info = {"n_nodes": len(nodes), "graph": graph.name, "gcn_seed": seed}
    return n, sub, k, np.asarray(scores, dtype=np.float64), emb, is_labeled, info


GCN = Callable[[np.ndarray, Graph, np.ndarray, int], tuple]


def gcnal(features: Any, labeled: Any, budget: int, rng: np.random.Generator | int, *, s_margin: float = 0.1,
          subset: int = 10000, candidates: Any = None, lam: float = 1.2, hidden: int = 128, dropout: float = 0.3,
          lr: float = 1e-3, weight_decay: float = 5e-4, steps: int = 200, dense_mib: float = 2048, graph_k: int = 32,
          backend: str = "auto", gcn: GCN | None = None) -> Picks:
    """UncertainGCN on ``features [N, D]`` (or a function of positions) and the bool mask ``labeled [N]``:
    the ``budget`` graph candidates with GCN score closest to ``s_margin``, best first.

    ``scores``: ``-|s - s_margin|`` of the candidates in the graph (NaN elsewhere, and outside
    the node subset); ``info``: ``gcn_score`` of the picks, ``n_nodes``, ``graph``, ``gcn_seed``.
    ``gcn(v, graph, is_labeled, seed) -> (scores, embedding)`` replaces the GCN's training (tests)."""
    n, sub, k, s, _, _, info = gcn_round(features, labeled, budget, rng, candidates=candidates, subset=subset,
                                      dense_mib=dense_mib, graph_k=graph_k, backend=backend, gcn=gcn,
                                      train_kw=dict(hidden=hidden, dropout=dropout, lr=lr, weight_decay=weight_decay,
                                                    steps=steps, lam=lam))
    gap = np.abs(s[: len(sub)] - s_margin)
    order = np.argsort(gap, kind="stable")[:k]
    return Picks(sub[order], scatter(-gap, sub, n), {"gcn_score": s[order], **info})


def coregcn(features: Any, labeled: Any, budget: int, rng: np.random.Generator | int, *, subset: int = 10000,
            candidates: Any = None, lam: float = 1.2, hidden: int = 128, dropout: float = 0.3, lr: float = 1e-3,
            weight_decay: float = 5e-4, steps: int = 200, dense_mib: float = 2048, graph_k: int = 32,
            backend: str = "auto", gcn: GCN | None = None) -> Picks:
    """CoreGCN: :func:`gcnal`'s GCN, then greedy k-center on its node embedding from the labeled
    nodes; picks in pick order, ``scores`` ``None``, ``info`` as :func:`gcnal`'s."""
    _, sub, k, s, emb, is_labeled, info = gcn_round(features, labeled, budget, rng, candidates=candidates, subset=subset,
                                                 dense_mib=dense_mib, graph_k=graph_k, backend=backend, gcn=gcn,
                                                 train_kw=dict(hidden=hidden, dropout=dropout, lr=lr,
                                                               weight_decay=weight_decay, steps=steps, lam=lam))
    picks = kcenter_greedy(emb, k, labeled=is_labeled, backend=backend)
    return Picks(sub[picks], info={"gcn_score": s[picks], **info})
