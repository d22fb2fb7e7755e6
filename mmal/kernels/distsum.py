"""Sum of Euclidean distances from every row to every other row (GRACE Eq. 5, DESIGN §5).

``S_i = sum_{j != i} ||x_i - x_j||`` is computed tile by tile: for a row tile ``I`` and a
column tile ``J`` one GEMM gives the Gram block, the epilogue forms
``sqrt(max(0, n_I + n_J - 2 <x_I, x_J>))`` and sums it along rows (and, for ``J != I``,
along columns: the matrix is symmetric, so only tiles ``J >= I`` are computed). Memory is
``O(tile^2 + N D)``; no ``N x N`` matrix is ever held. The diagonal is set to exactly 0.

Inputs (one API for all):

- an explicit array ``[N, D]``;
- a :class:`~mmal.grads.RankOne` ``g_i = delta_i ⊗ h_i``: ``<g_i, g_j> = <delta_i, delta_j>
  <h_i, h_j>`` and ``||g_i||^2 = ||delta_i||^2 ||h_i||^2``, so a tile costs
  ``O(T^2 (c + d))`` and ``g`` is never formed;
- a sequence of RankOne blocks, meaning their concatenation (inner products add).

:func:`sampled_distance_sums` is the optional estimator for very large pools: distances to
``m`` reference rows drawn from an explicit ``rng``, rescaled to be unbiased for ``S_i``.

Precision: tiles are computed and row-summed in ``dtype`` (``"float32"`` by default: 2-4x
faster on the CPU) and accumulated over tiles in float64. As in the running-minimum kernels
(:class:`~mmal.kernels.embedding.Embedding`) an explicit array is centred first and the norms
are summed in float64, so data far from the origin lose nothing to cancellation; the float32
sums differ from float64 ones by a relative ~1e-6 (measured in tests/test_distsum.py, also at
``||x|| ~ 800``). A factored embedding cannot be centred: its float32 error grows with
``||g||^2 / ||g_i - g_j||^2``; pass ``dtype="float64"`` for reference values or for rank-1
rows far from the origin. torch is imported on call; ``device=None`` picks CUDA when
available, else the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .embedding import Embedding, block_dots

Factored = Any  # RankOne | Sequence[RankOne] | ndarray [N, D]


def distance_sums(x: Factored, *, tile: int | None = None, device: str | None = None, dtype: str = "float32") -> np.ndarray:
    """Exact ``S_i = sum_{j != i} ||x_i - x_j||`` for every row, as float64 ``[N]``.

    ``tile``: rows per GEMM tile (default 512 on the CPU, where a tile then stays in cache, and
    4096 on CUDA)."""
    torch, f, tile = _prepare(x, tile, device, dtype)
    out = torch.zeros(f.n, dtype=torch.float64, device=f.norms.device)
    for i0 in range(0, f.n, tile):
        rows = slice(i0, min(i0 + tile, f.n))
        for j0 in range(i0, f.n, tile):
            cols = slice(j0, min(j0 + tile, f.n))
            d = f.distances(rows, cols)
            if j0 == i0:
                d.fill_diagonal_(0.0)
            out[rows] += d.sum(1).double()
            if j0 != i0:
                out[cols] += d.sum(0).double()
    return out.cpu().numpy()


def sampled_distance_sums(
    x: Factored,
    m: int,
    rng: np.random.Generator,
    *,
    tile: int | None = None,
    device: str | None = None,
    dtype: str = "float32",
) -> np.ndarray:
    """Unbiased estimate of :func:`distance_sums` from ``m`` reference rows drawn by ``rng``.

    For a row ``i`` the references other than ``i`` are a uniform sample of the ``N - 1``
    other rows (size ``m`` or ``m - 1``), so ``(N - 1) * mean distance to them`` is unbiased.
    Cost ``O(N m (c + d))``. ``m >= N`` falls back to the exact sums.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if int(m) < 2:
        raise ValueError(f"m (the number of reference rows) must be >= 2, got {m}")
    torch, f, tile = _prepare(x, tile, device, dtype)
    n = f.n
    if m >= n:
        return distance_sums(x, tile=tile, device=device, dtype=dtype)
    refs = np.sort(rng.choice(n, size=int(m), replace=False))
    cols = torch.as_tensor(refs, device=f.norms.device)
    out = torch.zeros(n, dtype=torch.float64, device=f.norms.device)
    for i0 in range(0, n, tile):
        i1 = min(i0 + tile, n)
        d = f.distances(slice(i0, i1), cols)
        inside = np.flatnonzero((refs >= i0) & (refs < i1))  # a reference row's distance to itself is excluded
        if inside.size:
            d[torch.as_tensor(refs[inside] - i0, device=d.device), torch.as_tensor(inside, device=d.device)] = 0.0
        out[i0:i1] = d.sum(1).double()
    counts = np.full(n, float(m))
    counts[refs] = m - 1
    return out.cpu().numpy() * (n - 1) / counts


# ----------------------------------------------------------------------------- internals
class _Factors:
    """Rows as blocks of factors on a device: ``<x_i, x_j> = sum_b prod_f <F_bf[i], F_bf[j]>``."""

    def __init__(self, blocks, norms):
        self.blocks, self.norms, self.n = blocks, norms, int(norms.shape[0])
        # the row side's first factor carries the -2 of ||a - b||^2 = |a|^2 + |b|^2 - 2<a, b> ([N, c], not [T, T])
        self.scaled = [(-2.0 * b[0], *b[1:]) for b in blocks]

    def distances(self, rows: slice, cols):
        """``||x_i - x_j||`` for ``i`` in ``rows``, ``j`` in ``cols`` (a slice or an index tensor)."""
        g = block_dots([tuple(f[rows] for f in b) for b in self.scaled], [tuple(f[cols] for f in b) for b in self.blocks])
        return g.add_(self.norms[rows, None]).add_(self.norms[None, cols]).clamp_min_(0.0).sqrt_()


def _prepare(x: Factored, tile: int | None, device: str | None, dtype: str):
    import torch

    if tile is not None and (not isinstance(tile, (int, np.integer)) or tile < 1):
        raise ValueError(f"tile must be a positive int (rows per GEMM tile) or None, got {tile!r}")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    emb = Embedding(x, dev, what="x", dtype=dtype)
    blocks = emb.blocks
    if not all(bool(torch.isfinite(f).all()) for b in blocks for f in b):
        raise ValueError("x contains NaN or inf; distances need finite embeddings")
    norms = emb.sq_norms()  # summed in float64, of the centred rows for an explicit array
    tile = int(tile) if tile is not None else (4096 if dev.type == "cuda" else 512)
    return torch, _Factors(blocks, norms), tile

