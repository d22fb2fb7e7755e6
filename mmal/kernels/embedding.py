"""Pool embeddings given explicitly ``[N, D]`` or as concatenated rank-1 blocks (DESIGN §5).

The running-minimum kernels need only two things from an embedding: every row's squared
norm and the inner products of every row with one row. For rank-1 blocks
``g_i = [delta^1_i ⊗ h^1_i, delta^2_i ⊗ h^2_i, ...]``::

    ||g_i||^2    = sum_b ||delta^b_i||^2 ||h^b_i||^2
    <g_j, g_i>   = sum_b <delta^b_j, delta^b_i> <h^b_j, h^b_i>

so one pass costs two GEMVs per block, ``O(N (c + d))`` time and memory; ``g`` is never built.

Precision. The fast path is float32: ``d_ij = n_i + n_j - 2 <e_i, e_j>``. An explicit array is
centred first (its float64 column mean subtracted: distances do not change, the norms and hence
the cancellation do), and the norms are summed in float64. Its error is bounded for IEEE
float32 products in any summation order by ``|d32_ij - d_ij| <= tau (n_i + n_j)`` with
``tau = (W + B + 24) u`` (:attr:`Embedding.tau`; ``W`` the summed factor widths, ``B`` the
blocks, ``u = 2^-24``; the 24 covers the rounding of the inputs, norms and sums).
:meth:`Embedding.exact_sq_dists` gives float64 values from the rows as given (the expanded
formula in float64, and direct differences where that is within float64 rounding of 0, so an
exact duplicate is at distance exactly 0); :mod:`mmal.kernels.cover` decides where they are
needed.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..grads import RankOne

U64 = 2.0**-53
#: elements per temporary block (float64 norms, direct differences): a few MB, never N x D
BLOCK = 1 << 21


def _tensor(a, device, dtype="float32"):
    import torch

    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=getattr(torch, dtype))
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a, dtype=dtype))).to(device)


def _host(a) -> np.ndarray:
    """``a`` as a numpy array on the host (torch tensors are moved, not copied when on the CPU)."""
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _rows_sq64(t):
    """Row sums of squares of a 2-D tensor, accumulated in float64, in row blocks. A float32 tensor
    on the CPU: numpy's ``einsum`` in float64 (squares exact; 7x faster than torch's
    float64-accumulated sum at [17,230, 256]); else each square is rounded once in ``t``'s dtype
    (float64 rows: the same rounding as their dot products, so a duplicate's distance cancels to 0)."""
    import torch

    out = torch.empty(t.shape[0], dtype=torch.float64, device=t.device)
    step = max(1, BLOCK // max(1, t.shape[1]))
    for s in range(0, t.shape[0], step):
        b = t[s : s + step]
        if t.device.type == "cpu" and t.dtype == torch.float32:
            out[s : s + step] = torch.from_numpy(np.einsum("ij,ij->i", b.numpy(), b.numpy(), dtype=np.float64))
        else:
            out[s : s + step] = (b * b).sum(1, dtype=torch.float64)
    return out


def rows_sq(blocks) -> np.ndarray:
    """Exact-ish float64 squared norms of rows given as float64 numpy blocks: ``sum_b prod_f ||F||^2``."""
    return sum(math.prod(np.einsum("ij,ij->i", f, f) for f in b) for b in blocks)


def matmul_roundoff(device) -> float:
    """The unit roundoff of float32 matrix products on ``device``: ``2^-24`` for IEEE float32;
    larger when torch is allowed TF32 (``2^-11``) or bfloat16 (``2^-8``) products."""
    import torch

    precision = torch.get_float32_matmul_precision()
    if precision == "medium":
        return 2.0**-8
    if precision == "high" or (getattr(device, "type", str(device)) == "cuda" and torch.backends.cuda.matmul.allow_tf32):
        return 2.0**-11
    return 2.0**-24


def matvec(a, b):
    """``a @ b`` for a 1-D ``b``. On the CPU through numpy's BLAS (OpenBLAS ``sgemv`` runs on the
    BLAS threads; torch's CPU ``mv`` on one: measured 2.2x slower at [45,719, 512] on 2 cores,
    ``benchmarks/RESULTS.md``); the products are IEEE float32 in either case, within ``tau``."""
    import torch

    if a.device.type != "cpu":
        return a @ b
    return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))


def block_dots(a_blocks, b_blocks):
    """``sum_b prod_f A_bf @ B_bf^T``: inner products of rows stored as blocks of factors, a rank-1
    block ``(delta, h)`` or an explicit block ``(x,)`` (DESIGN §5). 1-D ``B`` factors: one row."""
    out = None
    for fa, fb in zip(a_blocks, b_blocks):
        t = None
        for a, b in zip(fa, fb):
            g = matvec(a, b) if b.ndim == 1 else a @ b.T
            t = g if t is None else t.mul_(g)
        out = t if out is None else out.add_(t)
    return out


def _explicit_rows(blocks) -> np.ndarray:
    """The explicit rows ``[m, W']`` of a few rows given as numpy blocks (rank-1 blocks as outer products)."""
    parts = []
    for b in blocks:
        p = b[0]
        for f in b[1:]:
            p = (p[:, :, None] * f[:, None, :]).reshape(p.shape[0], -1)
        parts.append(p)
    return np.concatenate(parts, 1)


def _finite(sq):
    """``sq`` (squared row norms), or a ValueError naming the rows with NaN / inf."""
    import torch

    if not bool(torch.isfinite(sq).all()):
        bad = torch.nonzero(~torch.isfinite(sq)).flatten()[:5].tolist()
        raise ValueError(f"the embedding has NaN or inf in rows {bad}; clean the features or the model output first")
    return sq


class Embedding:
    """Rows of an explicit array, a :class:`RankOne`, or a sequence of RankOne blocks, on ``device``.

    ``centre``: subtract the float64 column mean of an explicit array before the fast path
    (translation leaves distances unchanged; :meth:`largest_norm` and
    :meth:`exact_sq_dists` use the rows as given)."""

    def __init__(self, emb: np.ndarray | RankOne | Sequence[RankOne], device, *, what: str = "emb",
                 dtype: str = "float32", centre: bool = True) -> None:
        import torch

        if isinstance(emb, RankOne):
            emb = [emb]
        if isinstance(emb, (list, tuple)):
            if not emb or not all(isinstance(b, RankOne) for b in emb):
                raise TypeError(f"{what} must be an array [N, D], a RankOne, or a non-empty sequence of RankOne blocks")
            sizes = {len(b) for b in emb}
            if len(sizes) != 1:
                raise ValueError(f"{what}: the RankOne blocks have different numbers of rows {sorted(sizes)}; each block needs one row per sample")
            self.source = [(_host(b.delta), _host(b.h)) for b in emb]
            self.factors = [(_tensor(b.delta, device, dtype), _tensor(b.h, device, dtype)) for b in emb]
            self.x = None
        else:
            arr = _host(emb)
            if arr.ndim != 2:
                raise ValueError(f"{what} must be a 2-D array [N, D], got shape {tuple(arr.shape)}")
            self.source = [(arr,)]
            self.x = _tensor(arr, device, dtype)
            if centre and arr.size:  # one float32 pass (x - mean): exact where x and the mean are within 2x
                mean = arr.mean(0, dtype=np.float64)
                if self.x.device.type == "cpu":  # numpy's allocation (huge pages, madvised): GEMVs over it ran 15% faster
                    self.x = torch.from_numpy(np.subtract(self.x.numpy(), mean.astype(dtype), dtype=dtype))
                else:
                    self.x = self.x - _tensor(mean, device, dtype)
            self.factors = None
        self.n = int(self.x.shape[0] if self.x is not None else self.factors[0][0].shape[0])
        self.width = int(self.x.shape[1] if self.x is not None else sum(d.shape[1] + h.shape[1] for d, h in self.factors))
        self.device = device
        self.tau = (self.width + len(self.source) + 24) * matmul_roundoff(device)
        self._sq64 = None

    @property
    def blocks(self) -> list[tuple]:
        """The factors as blocks: ``[(x,)]`` for an explicit array, ``[(delta, h), ...]`` for rank-1 blocks."""
        return [(self.x,)] if self.x is not None else list(self.factors)

    def take(self, idx) -> list[tuple]:
        """:attr:`blocks` restricted to the rows ``idx`` (an int: one row, 1-D factors)."""
        return [tuple(f[idx] for f in b) for b in self.blocks]

    # ------------------------------------------------------------------ norms
    def sq_norms64(self):
        """``||e_i||^2`` of the fast-path rows (centred, for an explicit array), float64 [N] on the
        device; raises on NaN / inf."""
        import torch

        if self._sq64 is None:
            self._sq64 = _finite(sum(math.prod(_rows_sq64(f) for f in b) for b in self.blocks))
        return self._sq64

    def sq_norms(self):
        """:meth:`sq_norms64` in the fast path's dtype (float32)."""
        return self.sq_norms64().to(self.blocks[0][0].dtype)

    def largest_norm(self) -> int:
        """The position of the largest ``||e_i||^2`` of the rows as given (not centred), exactly as
        float64 ranks them (ties: the lowest position): squares rounded once in float32 (relative
        error < 4 factors x 2^-24) pick the candidates, float64 decides among them."""
        import torch

        if self.x is None and all(f.dtype == np.float32 for b in self.source for f in b):
            approx = self.sq_norms64().cpu()  # the fast-path factors are these rows
        else:
            approx = _finite(sum(math.prod(_rows_sq64(torch.from_numpy(np.ascontiguousarray(f))) for f in b) for b in self.source))
        top = float(approx.max())
        cand = torch.nonzero(approx >= top * (1 - 2.0**-18)).flatten().numpy()
        return int(cand[np.argmax(rows_sq(self.rows64(cand)))])  # np.argmax: the first maximum

    # --------------------------------------------------------------- fast path
    def dots(self, i: int):
        """``<e_j, e_i>`` for every row ``j`` (one GEMV per explicit array, two per rank-1 block)."""
        return block_dots(self.blocks, self.take(i))

    def gram(self, idx):
        """``<e_j, e_i>`` for every row ``j`` and each ``i`` in ``idx``: a ``[N, len(idx)]`` block."""
        return block_dots(self.blocks, self.take(idx))

    def sq_dist_blocks(self, idx, sq_norms, *, max_block_elems: int = 1 << 24):
        """``(s, ||e_j - e_i||^2 for every row j and i in idx[s : s + B])`` in ``[N, B]`` GEMM blocks."""
        import torch

        block = max(1, max_block_elems // max(1, self.n))
        idx = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.device)
        for s in range(0, len(idx), block):
            b = idx[s : s + block]
            yield s, (sq_norms[:, None] + sq_norms[b][None, :] - 2.0 * self.gram(b)).clamp_min_(0.0)

    def min_sq_dist_to(self, idx, sq_norms, *, max_block_elems: int = 1 << 24):
        """``min_{i in idx} ||e_j - e_i||^2`` for every row ``j`` (+inf if ``idx`` is empty)."""
        import torch

        out = torch.full((self.n,), float("inf"), device=self.device)
        for _, d2 in self.sq_dist_blocks(idx, sq_norms, max_block_elems=max_block_elems):
            out = torch.minimum(out, d2.min(dim=1).values)
        return out

    def sq_dists(self, i: int, sq_norms):
        """``||e_j - e_i||^2`` for every row ``j``, clamped at 0 (float rounding): one GEMV per
        factor (:meth:`dots`), then in place ``n_j - 2 <e_j, e_i> + n_i``."""
        return self.dots(i).mul_(-2.0).add_(sq_norms).add_(sq_norms[i]).clamp_min_(0.0)

    # -------------------------------------------------------------- float64
    def rows64(self, idx) -> list[tuple]:
        """The rows ``idx`` as given, float64 numpy arrays in blocks."""
        idx = np.asarray(idx, dtype=np.int64)
        return [tuple(np.asarray(f[idx], dtype=np.float64) for f in b) for b in self.source]

    def exact_sq_dists(self, a, b, *, pairs: bool = False) -> np.ndarray:
        """float64 ``||e_a - e_b||^2`` for the positions ``a`` x ``b`` (``[len(a), len(b)]``), or, with
        ``pairs=True``, for the aligned pairs ``(a_p, b_p)``. See :func:`exact_sq_dists`."""
        ra, rb = self.rows64(a), self.rows64(b)
        return exact_sq_dists(ra, rows_sq(ra), rb, rows_sq(rb), pairs=pairs, width=self.width)

    def exact_min_sq_dist(self, a, b) -> np.ndarray:
        """float64 ``min_{j in b} ||e_a - e_j||^2`` for each position in ``a`` (+inf if ``b`` is empty), in blocks."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        out = np.full(len(a), np.inf)
        rows = max(1, BLOCK // max(1, self.width))
        cols = max(1, BLOCK // max(1, min(len(a), rows)))
        for s in range(0, len(a), rows):
            for t in range(0, len(b), cols):
                d = self.exact_sq_dists(a[s : s + rows], b[t : t + cols])
                np.minimum(out[s : s + rows], d.min(1), out=out[s : s + rows])
        return out


def exact_sq_dists(a_rows, a_sq, b_rows, b_sq, *, pairs: bool = False, width: int) -> np.ndarray:
    """float64 squared distances between rows given as float64 numpy blocks (with their squared
    norms): ``n_a + n_b - 2 <a, b>``, whose error is at most ``(W + B + 24) 2^-53 (n_a + n_b)``,
    and direct differences (outer products for rank-1 blocks) for the entries within 4x that of
    0, so equal rows are at distance exactly 0. ``pairs=True``: aligned rows, a vector."""
    dots = 0.0
    for fa, fb in zip(a_rows, b_rows):
        t = 1.0
        for x, y in zip(fa, fb):
            t = t * (np.einsum("ij,ij->i", x, y) if pairs else x @ y.T)
        dots = dots + t
    scale = a_sq + b_sq if pairs else a_sq[:, None] + b_sq[None, :]
    d = np.maximum(scale - 2.0 * dots, 0.0)
    tiny = np.nonzero(d <= 4 * (width + len(a_rows) + 24) * U64 * scale)
    if len(tiny[0]):
        ia, ib = (tiny[0], tiny[0]) if pairs else tiny
        step = max(1, BLOCK // max(1, sum(math.prod(f.shape[1] for f in blk) for blk in a_rows)))
        vals = []
        for s in range(0, len(ia), step):
            xa = _explicit_rows([tuple(f[ia[s : s + step]] for f in blk) for blk in a_rows])
            xb = _explicit_rows([tuple(f[ib[s : s + step]] for f in blk) for blk in b_rows])
            vals.append(((xa - xb) ** 2).sum(1))
        d[tiny] = np.concatenate(vals)
    return d


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
