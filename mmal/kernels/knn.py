"""Exact k nearest neighbours and kNN graphs: FAISS flat indexes (GPU or CPU) or blocked torch GEMM."""

from __future__ import annotations

import numpy as np

from .backend import _faiss, as_f32, device, few_threads_for_small, gpu_resources, resolve

METRICS = ("l2", "ip")


def knn(
    x: np.ndarray, k: int, *, queries: np.ndarray | None = None, metric: str = "l2", backend: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``x`` to each query: ``(dist [nq, k], idx [nq, k])``, nearest first.

    ``metric="l2"``: squared Euclidean distances, ascending; ``"ip"``: inner products,
    descending (cosine similarity for L2-normalized rows). With ``queries=None`` the queries
    are ``x``'s own rows and each row's neighbours exclude itself.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    x = as_f32(x)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D array [N, D], got shape {x.shape}")
    self_query = queries is None
    q = x if self_query else as_f32(queries)
    if q.ndim != 2 or q.shape[1] != x.shape[1]:
        raise ValueError(f"queries must be [nq, {x.shape[1]}] like x, got shape {q.shape}")
    avail = x.shape[0] - int(self_query)
    if not 0 < k <= avail:
        raise ValueError(f"k must be in 1..{avail} (the rows of x{' other than the query' if self_query else ''}), got {k}")
    kk = k + int(self_query)
    backend = resolve(backend)
    with few_threads_for_small(x.shape[0] * x.shape[1]):
        if backend.startswith("faiss"):
            dist, idx = _faiss_search(x, q, kk, metric, gpu=backend == "faiss-gpu")
        else:
            dist, idx = _torch_search(x, q, kk, metric, device(backend))
    if self_query:
        dist, idx = _drop_self(dist, idx)
    return dist, idx


def knn_graph(x: np.ndarray, k: int, *, metric: str = "l2", backend: str = "auto"):
    """Directed kNN graph as ``scipy.sparse.csr_matrix [N, N]``: row ``i`` holds its ``k`` neighbours
    (self excluded) with their distances (``"l2"``, squared) or similarities (``"ip"``).
    Symmetrize with ``g.maximum(g.T)`` if needed."""
    import scipy.sparse as sp

    dist, idx = knn(x, k, metric=metric, backend=backend)
    n = dist.shape[0]
    return sp.csr_matrix((dist.ravel(), idx.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))


def _faiss_search(x, q, k, metric, *, gpu):
    faiss = _faiss()
    index = faiss.IndexFlatL2(x.shape[1]) if metric == "l2" else faiss.IndexFlatIP(x.shape[1])
    if gpu:
        index = faiss.index_cpu_to_gpu(gpu_resources(), 0, index)
    index.add(x)
    dist, idx = index.search(q, k)
    return dist, idx.astype(np.int64)


def _torch_search(x, q, k, metric, dev, max_block_elems: int = 1 << 24):
    import torch

    xt = torch.from_numpy(x).to(dev)
    xsq = (xt * xt).sum(1)
    dists, idxs = [], []
    block = max(1, max_block_elems // max(1, x.shape[0]))
    for s in range(0, q.shape[0], block):
        qt = torch.from_numpy(q[s : s + block]).to(dev)
        ip = qt @ xt.T
        if metric == "ip":
            d, i = torch.topk(ip, k, dim=1, largest=True, sorted=True)
        else:
            d2 = ((qt * qt).sum(1)[:, None] + xsq[None, :] - 2.0 * ip).clamp_min_(0.0)
            d, i = torch.topk(d2, k, dim=1, largest=False, sorted=True)
        dists.append(d.cpu().numpy())
        idxs.append(i.cpu().numpy())
    return np.concatenate(dists), np.concatenate(idxs).astype(np.int64)


def _drop_self(dist, idx):
    """Remove each row's own index (or, if ties pushed it out, the last neighbour)."""
    n, kk = idx.shape
    drop = idx == np.arange(n)[:, None]
    none = ~drop.any(1)
    drop[none, kk - 1] = True
    keep = ~drop
    return dist[keep].reshape(n, kk - 1), idx[keep].reshape(n, kk - 1)
