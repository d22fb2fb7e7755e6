"""The running minimum ``m_i = min_{c in centers} ||e_i - e_c||^2`` behind k-center and k-means++,
float32-fast and float64-exact wherever float32 could decide wrong.

Each new center costs one float32 GEMV over the rows (:class:`~mmal.kernels.embedding.Embedding`).
Its error is ``|d32_ic - d_ic| <= tau (n_i + n_c)`` (``tau``: :attr:`Embedding.tau`); a center
with ``n_c > 4 max(n_i, m_i)`` is farther than ``m_i`` anyway (``d_ic >= (|e_c| - |e_i|)^2``),
so the running minimum is within ``err_i = tau (n_i + min(C, 4 max(n_i, m32_i)))`` of the
exact one (``C``: the largest norm among the centers; x 1.25 for the rounding of the tests).
Rows get float64 values (:meth:`Embedding.exact_sq_dists`) where that bound leaves the result
open:

- **arg-max** (k-center, :meth:`Cover.candidates`, :meth:`Cover.exact_values`): every row whose interval
  ``m32_i ± err_i`` reaches the best lower bound is a candidate; a candidate's exact value is
  its distance to its float32-nearest center when the second-nearest is farther by more than
  both errors (one float64 row), else its minimum over all centers. Exact ties go to the
  lowest position.
- **ill-conditioned rows** (k-means++, :meth:`Cover.promote_ill`): a row with
  ``n_i > ILL m32_i`` (its ``D^2`` small against its norm: near-duplicates of a center, data
  far from the origin in a factored embedding) is tracked exactly from then on (float64
  update per center), so a duplicate of a center has ``D^2 = 0`` exactly.

A tracked row costs ``O(W)`` float64 per center; the float32 path is unchanged.
"""

from __future__ import annotations

import numpy as np

from .backend import blas_threads, torch_threads
from .embedding import Embedding, exact_sq_dists, rows_sq

#: rows whose float32 ``D^2`` is below ``||e_i||^2 / ILL`` are tracked in float64 (:meth:`Cover.promote_ill`)
ILL = 8.0


class Cover:
    """``m_i`` for every row of ``e`` against the centers added so far.

    ``covered``: the value a center's own entry takes (``-inf``: never the arg-max; ``0``: no
    D^2 mass). ``nearest_two``: also track each row's nearest center and second-nearest
    distance (what :meth:`exact_values` needs to get exact values cheaply).

    The GEMVs / GEMMs run on as many threads as torch had at construction; the caller may run
    the rest (vector ops of ``N`` elements, whose fork / join on a loaded machine costs far more
    than the work: 15 ms instead of 25 us measured at N=45,719) on one thread."""

    def __init__(self, e: Embedding, *, covered: float, nearest_two: bool) -> None:
        import torch

        self.e, self.covered, self.two = e, float(covered), nearest_two
        self.threads = torch.get_num_threads()
        self.sq, self.sq64 = e.sq_norms(), e.sq_norms64()
        self.sq64_host = self.sq64.cpu().numpy()
        tau = e.tau
        self.c = 1.25 * tau  # the error scale, with room for the rounding of the tests themselves
        self.f4 = 4 * (1 + tau) / (1 - 4 * tau)  # a center beyond f4 max(n_i, m_i) cannot be i's nearest
        self.n_max = float(self.sq64_host.max()) if e.n else 0.0
        self.c_max = 0.0  # the largest norm among the centers
        self.c_sq = self.sq * self.c  # c n_i, for the candidate test
        dev, n = e.device, e.n
        self.m = torch.full((n,), float("inf"), device=dev)
        if nearest_two:
            self.near = torch.zeros(n, dtype=torch.int64, device=dev)
            self.m2 = torch.full((n,), float("inf"), device=dev)
        self.centers = np.empty(0, dtype=np.int64)
        # n_i / ILL, -inf for the centers and the tracked rows (promote_ill: rows with m_i below it)
        self.ill_below = (self.sq64 / ILL).float()
        # rows tracked exactly: positions, float64 rows and squared norms (CPU), exact m
        self.t_pos = np.empty(0, dtype=np.int64)
        self.t_index = np.full(n, -1, dtype=np.int64)
        self.t_rows, self.t_sq, self.t_val = None, np.empty(0), np.empty(0)

    # ------------------------------------------------------------------ centers
    def add(self, idx) -> None:
        """Add the centers ``idx`` (positions, in order)."""
        import torch

        idx = np.asarray(idx, dtype=np.int64).ravel()
        if not len(idx):
            return
        first = len(self.centers)
        self.centers = np.concatenate([self.centers, idx])
        self.c_max = max(self.c_max, float(self.sq64_host[idx].max()))
        if len(idx) == 1:
            j = int(idx[0])
            with blas_threads(self.threads):  # only the GEMVs use the threads
                d = self.e.sq_dists(j, self.sq)
            self._merge_one(d, first)
            self.m[j] = self.covered
            self.ill_below[j] = float("-inf")
        else:
            with torch_threads(self.threads):
                for s, d2 in self.e.sq_dist_blocks(idx, self.sq):
                    self._merge_block(d2, first + s)
            it = torch.as_tensor(idx, device=self.e.device)
            self.m[it] = self.covered
            self.ill_below[it] = float("-inf")
        if len(self.t_pos):
            step = max(1, (1 << 21) // max(1, len(self.t_pos)))
            for s in range(0, len(idx), step):
                rows = self.e.rows64(idx[s : s + step])
                d = exact_sq_dists(self.t_rows, self.t_sq, rows, rows_sq(rows), width=self.e.width)
                np.minimum(self.t_val, d.min(1), out=self.t_val)

    def _merge_one(self, d, t: int) -> None:
        import torch

        if self.two:  # the second smallest of {m, m2, d} is min(m2, max(m, d)) as m <= m2
            self.near.masked_fill_(d < self.m, t)
            torch.minimum(self.m2, torch.maximum(self.m, d), out=self.m2)
        torch.minimum(self.m, d, out=self.m)

    def _merge_block(self, d2, first: int) -> None:
        import torch

        if not self.two:
            self.m = torch.minimum(self.m, d2.min(1).values)
            return
        if d2.shape[1] == 1:
            return self._merge_one(d2[:, 0], first)
        v, i = torch.topk(d2, 2, dim=1, largest=False)
        closer = v[:, 0] < self.m
        self.m2 = torch.where(closer, torch.minimum(self.m, v[:, 1]), torch.minimum(self.m2, v[:, 0]))
        self.near = torch.where(closer, i[:, 0] + first, self.near)
        self.m = torch.where(closer, v[:, 0], self.m)

    # ------------------------------------------------------------ exact rows
    def track(self, pos) -> np.ndarray:
        """Track the rows ``pos`` exactly from now on; returns their exact ``m`` (float64, in order)."""
        import torch

        pos = np.asarray(pos, dtype=np.int64)
        new = np.unique(pos[self.t_index[pos] < 0])
        if len(new):
            val = self.e.exact_min_sq_dist(new, self.centers)
            rows = self.e.rows64(new)
            self.t_index[new] = np.arange(len(self.t_pos), len(self.t_pos) + len(new))
            self.t_pos = np.concatenate([self.t_pos, new])
            self.t_rows = rows if self.t_rows is None else [tuple(np.concatenate([a, b]) for a, b in zip(ra, rb))
                                                            for ra, rb in zip(self.t_rows, rows)]
            self.t_sq = np.concatenate([self.t_sq, rows_sq(rows)])
            self.t_val = np.concatenate([self.t_val, val])
            self.ill_below[torch.as_tensor(new, device=self.e.device)] = float("-inf")
        return self.t_val[self.t_index[pos]]

    def promote_ill(self) -> None:
        """Track every row whose ``D^2`` is small against its norm (``n_i > ILL m32_i``)."""
        import torch

        ill = torch.nonzero(self.m < self.ill_below).flatten()
        if len(ill):
            self.track(ill.cpu().numpy())

    def values64(self):
        """``m`` as float64 on the device: exact for the tracked rows, float32 values elsewhere."""
        import torch

        w = self.m.double()
        if len(self.t_pos):
            w[torch.as_tensor(self.t_pos, device=w.device)] = torch.from_numpy(self.t_val).to(w.device)
        return w

    def refine(self, pos: np.ndarray, d: np.ndarray, centers) -> np.ndarray:
        """``d``: float32 minimum distances (as float64) of the rows ``pos`` to ``centers``; the
        entries small against the rows' norms are replaced by exact float64 ones."""
        ill = np.flatnonzero(self.sq64_host[pos] > ILL * d)
        if len(ill):
            d = d.copy()
            d[ill] = self.e.exact_min_sq_dist(pos[ill], np.asarray(centers, dtype=np.int64))
        return d

    # ---------------------------------------------------------------- k-center
    def _vec(self, t):
        """``t`` as numpy (a view) on the CPU, where numpy's small ops cost less than torch's."""
        return t.numpy() if t.device.type == "cpu" else t

    def err(self, n, m, c_max=None):
        """The bound on ``|m32 - m|`` for rows of norm ``n`` and float32 minimum ``m`` (numpy)."""
        c_max = self.c_max if c_max is None else c_max
        return self.c * (n + np.minimum(c_max, self.f4 * np.maximum(n, m)))

    def candidates(self) -> np.ndarray:
        """The rows (ascending positions) whose exact ``m`` may be the largest: every ``i`` with
        ``m32_i + err_i >= max_j (m32_j - err_j)``, tested with ``err_i <= c (n_i + C')``,
        ``C' = min(C, 4 max(max_i n_i, max_i m32_i))`` (a superset: one add and one compare
        per row). Centers (``m = -inf``) are never candidates."""
        import torch

        m = self._vec(self.m)
        if isinstance(m, np.ndarray):
            j = int(np.argmax(m))
            top = float(m[j])
        else:
            top, j = (v.item() for v in torch.max(m, 0))
        c_eff = min(self.c_max, self.f4 * max(self.n_max, top))
        lower = top - float(self.err(float(self.sq64_host[j]), top))  # the exact maximum is at least this
        bound = np.float32(lower - self.c * c_eff)
        if isinstance(m, np.ndarray):
            return np.flatnonzero(m + self.c_sq.numpy() >= bound)
        return torch.nonzero(m + self.c_sq >= float(bound)).flatten().cpu().numpy()

    def state(self, pos) -> tuple:
        """``(m32, m2, n, nearest center's index)`` of the rows ``pos``, as numpy arrays."""
        import torch

        if self.e.device.type == "cpu":
            return tuple(t.numpy()[pos] for t in (self.m, self.m2, self.sq, self.near))
        p = torch.as_tensor(pos, device=self.e.device)
        return tuple(t[p].cpu().numpy() for t in (self.m, self.m2, self.sq, self.near))

    def exact_values(self, pos: np.ndarray) -> np.ndarray:
        """Exact float64 ``m`` of the rows ``pos`` (not centers): tracked value, the distance to the
        float32-nearest center when the second-nearest cannot be nearer, else a tracked row."""
        out = np.empty(len(pos))
        done = np.zeros(len(pos), dtype=bool)
        free = np.flatnonzero(self.t_index[pos] < 0)
        if len(free):
            m, m2, sq, near = self.state(pos[free])
            sure = self.sure_nearest(m, m2, sq)
            s = free[sure]
            if len(s):
                out[s] = self.e.exact_sq_dists(pos[s], self.centers[near[sure]], pairs=True)
                done[s] = True
        rest = np.flatnonzero(~done)
        if len(rest):
            out[rest] = self.track(pos[rest])
        return out

    def sure_nearest(self, m, m2, sq, c_max=None) -> np.ndarray:
        """Whether the float32-nearest center is certainly the nearest (or as near as any):
        ``m2 - err(m2) > m + err(m)``, or no second center (``m2 = inf``); numpy arrays, in float64."""
        m, m2, sq = (np.asarray(v, dtype=np.float64) for v in (m, m2, sq))
        with np.errstate(invalid="ignore"):  # inf - inf when m2 = inf
            return (m2 - self.err(sq, m2, c_max) > m + self.err(sq, m, c_max)) | np.isinf(m2)
