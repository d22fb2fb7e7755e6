"""k-means++ seeding (Arthur & Vassilvitskii 2007) as used by BADGE (Ash et al. 2020, Alg. 1).

First center: the largest-norm point (ties: lowest index), as in BADGE's reference code.
Each later center is drawn with probability ``D(x)^2 / sum D^2`` (``D`` = distance to the
nearest chosen center). The rank-1 or explicit rows are never expanded (DESIGN §5).

Updating ``D^2`` after every pick reads the whole embedding once per pick: at VGGSound
scale (N=180k, 309 classes, 1024-d features) that is ~1 GB per pick, memory-bandwidth
bound (~0.1 s per pick on a CPU). With ``defer=True`` the update is deferred and each pick is
drawn by exact rejection sampling instead: propose ``x`` with probability proportional to the
stale ``U(x) = D^2`` of the last refresh, compute the current ``D(x)^2`` for that one point
against the centers picked since (the *pending* ones), and accept with probability
``D(x)^2 / U(x)`` (``D^2 <= U`` always). Accepted points follow the ``D^2`` distribution
exactly; only the use of the random stream differs. Proposals come in blocks (all drawn from
the same ``U``, so in advance): one GEMM gives their distances to the pending centers, and
they are accepted or rejected in order, each accepted one lowering the later ones' ``D^2``.
``U`` is refreshed against all pending centers (one blocked GEMM pass) when, by a
deterministic cost model, the blocks the remaining picks would need at the acceptance rate
seen since the last refresh cost more than the refresh (so picks depend only on the data and
the seed). Typically ``U`` is refreshed a few times early, while one center changes ``D`` a
lot, and then rarely: in high dimension a new center lowers few points' ``D``.

With ``defer=False`` ``D^2`` is refreshed after every pick and each pick uses one uniform
(cumsum + searchsorted), so one rng stream gives the same picks as a direct implementation.

Precision (:class:`~mmal.kernels.cover.Cover`): ``D^2`` is float32 where it is not small against
the row's norm (error a few float32 roundings of ``D^2``), and float64 for the rows where it is
(near-duplicates of a center, data far from the origin): a duplicate of a center has
``D^2 = 0`` exactly and is never drawn, in both modes.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ..grads import RankOne
from .backend import blas_threads, device as _device, few_threads_for_small
from .cover import Cover
from .embedding import Embedding, Rows, matvec

#: Cost model, in floats read (a multiply-add counts ``1 / GEMM_REUSE``: on a CPU a GEMM does ~15 in
#: the time a pass reads one float). Refresh rule: a refresh costs ``N * width * (1 + P / GEMM_REUSE)``
#: (one pass + the GEMM over the ``P`` pending centers), a block of proposals ``CHECK_COST + P * width
#: * (1 + PROPOSALS / GEMM_REUSE)`` (per-block overhead + reading the pending rows + the GEMM).
#: ``defer="auto"`` (:func:`defer_pays`): a per-pick refresh costs ``PICK_COST + N * width`` per pick,
#: a deferred pick ``ACCEPT_COST`` (its check and the update of the later proposals) plus its share of
#: the blocks and of the refreshes. The overheads are a few small torch ops each, so their ratio to a
#: float read stays put when the machine is loaded (both slow down alike) and the choice, a function
#: of ``(N, width, k)`` only, keeps the picks a function of the data and the seed. The constants were
#: measured by :func:`calibrate` (2-core CPU, 1 thread, load ~19: pick 0.46-0.66M, accept 0.37-0.62M floats;
#: again after the CPU GEMV moved to numpy's BLAS, 1 thread, load ~3.4 from niced jobs, 3 runs: pick
#: 0.29-0.53M, accept 0.28-0.47M; the constants were kept, so ``defer="auto"`` decides as before).
CHECK_COST = 1 << 22
GEMM_REUSE = 15
PICK_COST = 1 << 19
ACCEPT_COST = 400_000
#: Acceptance rate assumed by the model (measured: ~2% against the first center, ~95% after one refresh).
ACCEPT_RATE = 0.5
#: Blocks of proposals drawn since the last refresh before the acceptance rate is trusted.
MIN_BLOCKS = 4
#: Proposals drawn (and checked against the pending centers in one GEMM) per rejection block.
PROPOSALS = 64


def kmeanspp(
    emb: np.ndarray | RankOne | Sequence[RankOne], k: int, rng: np.random.Generator, *, backend: str = "auto",
    defer: bool | str = "auto",
) -> np.ndarray:
    """Positions of ``k`` k-means++ seeds among ``emb``'s rows, in pick order.

    ``emb``: an array ``[N, D]``, a :class:`~mmal.grads.RankOne`, or a sequence of RankOne
    blocks (their concatenation); rank-1 input is never materialized (memory ``O(N (c+d))``).
    ``defer``: draw by rejection sampling against a stale ``D^2`` (module docstring); ``"auto"``
    defers when the cost model says it pays (:func:`defer_pays`). Already-picked points are never picked again; when
    every remaining point has ``D^2 = 0`` the rest are drawn uniformly among the unpicked
    points, with a warning.
    """
    e = Embedding(emb, _device(backend))
    k = _check_k(k, e.n)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    with few_threads_for_small(e.n * e.width):
        first = e.largest_norm()  # ties: the lowest position
        return d2_seeding(e, first, k, rng, defer=defer)


def d2_seeding(e: Embedding, first: int, k: int, rng: np.random.Generator, *, weights=None,
               defer: bool | str = "auto") -> np.ndarray:
    """``k`` centers by D^2 sampling, starting from ``first``.

    With ``weights`` (a float64 tensor [N]) the probability is ``w_i D_i^2 / sum w D^2``
    (weighted k-means++ seeding). ``defer`` as in :func:`kmeanspp`.
    """
    return _D2Sampler(e, first, k, rng, weights, _check_defer(defer, e, k)).run()


class _D2Sampler:
    """One D^2 seeding: the stale ``U = D^2`` (exact at the last refresh, float64) and its weighted
    cumsum, the centers picked since (``pending``), and the rejection blocks run since then."""

    def __init__(self, e: Embedding, first: int, k: int, rng, weights, defer: bool):
        self.e, self.k, self.rng, self.weights, self.defer = e, k, rng, weights, defer
        self.cover = Cover(e, covered=0.0, nearest_two=False)
        self.picked = np.zeros(e.n, dtype=bool)
        self.picked[first] = True
        self.out = [first]
        self.u = None  # U as float64 on the device
        self.pending = [first]
        self.rows = Rows(e, self.cover.sq, capacity=k if defer else 0)  # the pending centers' rows (rejection steps)
        self.cum = None  # weighted cumsum of U, built by the first refresh
        self.blocks = 0  # rejection blocks run since the refresh
        self.uniform = False  # every unpicked point has D^2 = 0: draw uniformly

    def run(self) -> np.ndarray:
        with few_threads_for_small(self.e.n):  # vector ops on one thread; the GEMMs keep their threads
            return self._run()

    def _run(self) -> np.ndarray:
        while len(self.out) < self.k:
            if not self.uniform and self.should_refresh():
                self.refresh()
            if self.uniform:
                self.accept(int(self.draw(self.unpicked_cumsum(), 1)[0]))
            elif not self.pending:
                self.accept(int(self.draw(self.cum, 1)[0]))
            else:
                with few_threads_for_small(len(self.pending) * self.e.width * PROPOSALS):
                    self.rejection_block()  # small ops: extra threads only add synchronization
        return np.asarray(self.out, dtype=np.int64)

    def should_refresh(self) -> bool:
        if self.cum is None or (self.pending and not self.defer):
            return True
        if not self.pending or self.blocks < MIN_BLOCKS:
            return False
        blocks_per_pick = self.blocks / max(1, len(self.pending) - 1)  # (the first pick after a refresh is exact)
        saved = (self.k - len(self.out)) * (blocks_per_pick - 1.0 / PROPOSALS) * self.block_cost()
        return saved > self.e.n * self.e.width * (1.0 + len(self.pending) / GEMM_REUSE)

    def block_cost(self) -> float:
        """Cost of one rejection block: overhead + reading the pending rows + the GEMM against them."""
        return CHECK_COST + len(self.pending) * self.e.width * (1.0 + PROPOSALS / GEMM_REUSE)

    def draw(self, cum, m: int) -> np.ndarray:
        """``m`` indices, each with probability proportional to its mass in ``cum`` (first entry above ``u * total``)."""
        import torch

        total = cum[-1]
        u = torch.as_tensor(self.rng.random(m), dtype=torch.float64, device=cum.device) * total
        j = torch.searchsorted(cum, u, right=True)
        j[j >= self.e.n] = torch.count_nonzero(cum < total)  # u * total rounded up to total: the last point with mass
        return j.cpu().numpy()

    def rejection_block(self) -> None:
        """``PROPOSALS`` draws from the stale ``U``, each accepted with probability ``D^2 / U``, in order.

        One GEMM gives the proposals' distances to the pending centers; each accepted proposal
        then lowers the later proposals' ``D^2`` (one small GEMV). Proposals left when ``k`` is
        reached are dropped."""
        self.blocks += 1
        js = self.draw(self.cum, PROPOSALS)
        accept_u = self.rng.random(PROPOSALS)
        stale = self.u[js].cpu().numpy()
        pend = self.rows.sq_dists_from(js).min(0).values.double().cpu().numpy()
        now = np.minimum(stale, self.cover.refine(js, pend, self.pending))
        for i, j in enumerate(js.tolist()):
            if len(self.out) == self.k:
                return
            if self.picked[j] or not accept_u[i] * stale[i] < now[i]:
                continue
            self.accept(j)
            if i + 1 < PROPOSALS:
                later = self.rows.sq_dists_from(js[i + 1 :], start=self.rows.n - 1)[0].double().cpu().numpy()
                now[i + 1 :] = np.minimum(now[i + 1 :], self.cover.refine(js[i + 1 :], later, [j]))

    def accept(self, j: int) -> None:
        self.out.append(j)
        self.picked[j] = True
        self.pending.append(j)
        if self.defer:
            self.rows.append(j)

    def refresh(self) -> None:
        """``U = min(U, D^2 to the pending centers)`` in one blocked GEMM pass (float64 for the
        ill-conditioned rows); new cumsum."""
        import torch

        self.cover.add(self.pending)
        self.cover.promote_ill()
        self.u = self.cover.values64()
        self.pending, self.blocks = [], 0
        self.rows.clear()
        w = self.u if self.weights is None else self.u * self.weights
        self.cum = torch.cumsum(w, 0)
        if not float(self.cum[-1]) > 0.0:
            warnings.warn(
                f"k-means++: every unpicked point has D^2 = 0 after {len(self.out)} picks (duplicates of the "
                f"centers); picking the rest uniformly among the {self.e.n - len(self.out)} unpicked points",
                RuntimeWarning,
                stacklevel=4,
            )
            self.uniform = True

    def unpicked_cumsum(self):
        import torch

        return torch.cumsum(torch.as_tensor(~self.picked, dtype=torch.float64, device=self.e.device), 0)


def defer_pays(n: int, width: int, k: int) -> bool:
    """The cost model of ``defer="auto"`` (constants above): ``True`` when ``k`` deferred picks
    (their checks, ``k / (PROPOSALS * ACCEPT_RATE)`` blocks against on average ``k / 2`` pending
    centers, two refreshes) cost less than ``k - 1`` per-pick refreshes."""
    pass_ = float(n) * width
    per_pick = (k - 1) * (PICK_COST + pass_)
    blocks = k / (PROPOSALS * ACCEPT_RATE)
    deferred = (k * ACCEPT_COST + 2 * pass_ * (1 + k / (2 * GEMM_REUSE))
                + blocks * (CHECK_COST + k / 2 * width * (1 + PROPOSALS / GEMM_REUSE)))
    return deferred < per_pick


def calibrate(n: int = 2000, width: int = 16, k: int = 400, big: int = 1 << 25) -> dict:
    """Measures the cost model's overheads on this machine, in floats read: the per-pick cost of each
    mode on a pool small enough that its passes are negligible, over the time per float of a
    ``big``-float GEMV pass. Returns ``dict(pick_cost=..., accept_cost=..., seconds_per_float=...)``."""
    import time

    import torch

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, width)).astype(np.float32)
    a, v = torch.randn(big // 256, 256), torch.randn(256)
    with blas_threads(torch.get_num_threads()):  # the per-pick refresh's GEMV, on its threads
        matvec(a, v)
        t = time.perf_counter()
        for _ in range(5):
            matvec(a, v)
    per_float = (time.perf_counter() - t) / (5 * big)
    out = {}
    for key, defer in (("pick_cost", False), ("accept_cost", True)):
        kmeanspp(x, 20, np.random.default_rng(1), defer=defer)
        t = time.perf_counter()
        kmeanspp(x, k, np.random.default_rng(1), defer=defer)
        out[key] = (time.perf_counter() - t) / k / per_float - (n * width if not defer else 0)
    out["seconds_per_float"] = per_float
    return out


def _check_defer(defer, e: Embedding, k: int) -> bool:
    if isinstance(defer, str) and defer == "auto":
        return defer_pays(e.n, e.width, k)
    if not isinstance(defer, (bool, np.bool_)):
        raise ValueError(f"defer must be 'auto', True or False, got {defer!r}")
    return bool(defer)


def _check_k(k, n: int) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative int, got {k!r}")
    if k > n:
        raise ValueError(f"k={k} is larger than the {n} points; ask for at most {n}")
    return int(k)
