"""Pool embeddings given explicitly ``[N, D]`` or as concatenated rank-1 blocks (DESIGN §5).

The running-minimum kernels need only two things from an embedding: every row's squared
norm and the inner products of every row with one row. For rank-1 blocks
``g_i = [delta^1_i ⊗ h^1_i, delta^2_i ⊗ h^2_i, ...]``::

    ||g_i||^2    = sum_b ||delta^b_i||^2 ||h^b_i||^2
    <g_j, g_i>   = sum_b <delta^b_j, delta^b_i> <h^b_j, h^b_i>

so one pass costs two GEMVs per block, ``O(N (c + d))`` time and memory; ``g`` is never built.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..grads import RankOne


def _tensor(a, device, dtype="float32"):
    import torch

    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=getattr(torch, dtype))
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a, dtype=dtype))).to(device)


def block_dots(a_blocks, b_blocks):
    """``sum_b prod_f A_bf @ B_bf^T``: inner products of rows stored as blocks of factors, a rank-1
    block ``(delta, h)`` or an explicit block ``(x,)`` (DESIGN §5). 1-D ``B`` factors: one row."""
    out = None
    for fa, fb in zip(a_blocks, b_blocks):
        t = None
        for a, b in zip(fa, fb):
            g = a @ (b if b.ndim == 1 else b.T)
            t = g if t is None else t.mul_(g)
        out = t if out is None else out.add_(t)
    return out


class Embedding:
    """Rows of an explicit array, a :class:`RankOne`, or a sequence of RankOne blocks, on ``device``."""

    def __init__(self, emb: np.ndarray | RankOne | Sequence[RankOne], device, *, what: str = "emb",
                 dtype: str = "float32") -> None:
        if isinstance(emb, RankOne):
            emb = [emb]
        if isinstance(emb, (list, tuple)):
            if not emb or not all(isinstance(b, RankOne) for b in emb):
                raise TypeError(f"{what} must be an array [N, D], a RankOne, or a non-empty sequence of RankOne blocks")
            sizes = {len(b) for b in emb}
            if len(sizes) != 1:
                raise ValueError(f"{what}: the RankOne blocks have different numbers of rows {sorted(sizes)}; each block needs one row per sample")
            self.factors = [(_tensor(b.delta, device, dtype), _tensor(b.h, device, dtype)) for b in emb]
            self.x = None
        else:
            arr = emb if hasattr(emb, "ndim") else np.asarray(emb)
            if arr.ndim != 2:
                raise ValueError(f"{what} must be a 2-D array [N, D], got shape {tuple(arr.shape)}")
            self.x = _tensor(arr, device, dtype)
            self.factors = None
        self.n = int(self.x.shape[0] if self.x is not None else self.factors[0][0].shape[0])
        self.width = int(self.x.shape[1] if self.x is not None else sum(d.shape[1] + h.shape[1] for d, h in self.factors))
        self.device = device

    @property
    def blocks(self) -> list[tuple]:
        """The factors as blocks: ``[(x,)]`` for an explicit array, ``[(delta, h), ...]`` for rank-1 blocks."""
        return [(self.x,)] if self.x is not None else list(self.factors)

    def take(self, idx) -> list[tuple]:
        """:attr:`blocks` restricted to the rows ``idx`` (an int: one row, 1-D factors)."""
        return [tuple(f[idx] for f in b) for b in self.blocks]

    def sq_norms(self):
        """``||e_i||^2`` for every row, float32 [N]; raises on NaN / inf."""
        import torch

        if self.x is not None:
            out = torch.linalg.vector_norm(self.x, dim=1) ** 2
        else:
            out = sum(torch.linalg.vector_norm(d, dim=1) ** 2 * torch.linalg.vector_norm(h, dim=1) ** 2 for d, h in self.factors)
        if not bool(torch.isfinite(out).all()):
            bad = torch.nonzero(~torch.isfinite(out)).flatten()[:5].tolist()
            raise ValueError(f"the embedding has NaN or inf in rows {bad}; clean the features or the model output first")
        return out

    def dots(self, i: int):
        """``<e_j, e_i>`` for every row ``j`` (one GEMV per explicit array, two per rank-1 block)."""
        return block_dots(self.blocks, self.take(i))

    def gram(self, idx):
        """``<e_j, e_i>`` for every row ``j`` and each ``i`` in ``idx``: a ``[N, len(idx)]`` block."""
        return block_dots(self.blocks, self.take(idx))

    def min_sq_dist_to(self, idx, sq_norms, *, max_block_elems: int = 1 << 24):
        """``min_{i in idx} ||e_j - e_i||^2`` for every row ``j``, in ``[N, B]`` GEMM blocks (+inf if ``idx`` is empty)."""
        import torch

        out = torch.full((self.n,), float("inf"), device=self.device)
        block = max(1, max_block_elems // max(1, self.n))
        idx = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.device)
        for s in range(0, len(idx), block):
            b = idx[s : s + block]
            d2 = (sq_norms[:, None] + sq_norms[b][None, :] - 2.0 * self.gram(b)).clamp_min_(0.0)
            out = torch.minimum(out, d2.min(dim=1).values)
        return out

    def sq_dists(self, i: int, sq_norms):
        """``||e_j - e_i||^2`` for every row ``j``, clamped at 0 (float rounding)."""
        return (sq_norms + sq_norms[i] - 2.0 * self.dots(i)).clamp_min_(0.0)


class Rows:
    """A growing copy of a few rows of an :class:`Embedding` (k-means++'s pending centers),
    contiguous so that distances from other rows to all of them are one small GEMM per factor."""

    def __init__(self, e: Embedding, sq_norms, capacity: int) -> None:
        import torch

        self.e, self.sq_norms, self.n = e, sq_norms, 0
        self.bufs = [tuple(torch.empty((capacity, f.shape[1]), dtype=f.dtype, device=e.device) for f in b) for b in e.blocks]
        self.sq = torch.empty(capacity, dtype=sq_norms.dtype, device=e.device)

    def append(self, j: int) -> None:
        for buf, row in zip(self.bufs, self.e.take(j)):
            for f, r in zip(buf, row):
                f[self.n] = r
        self.sq[self.n] = self.sq_norms[j]
        self.n += 1

    def clear(self) -> None:
        self.n = 0

    def sq_dists_from(self, idx, start: int = 0):
        """``||e_i - r||^2`` for the held rows ``r`` from ``start`` on and every ``i`` in ``idx``: ``[rows, len(idx)]``."""
        held = [tuple(f[start : self.n] for f in b) for b in self.bufs]
        dots = block_dots(held, self.e.take(idx))
        return (self.sq[start : self.n, None] + self.sq_norms[idx][None, :] - 2.0 * dots).clamp_min_(0.0)
