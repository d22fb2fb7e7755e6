"""Random sampling and the uncertainty family on class probabilities.

``proba`` is ``[N, C]``, or MC-dropout samples ``[N, C, T]`` whose mean over ``T`` is the
predictive distribution ``p``. With ``p_(1) >= p_(2)`` the two largest classes of a row::

    least confidence   s = 1 - p_(1)
    margin             s = 1 - (p_(1) - p_(2))                    (Scheffer et al. 2001)
    entropy            s = -sum_c p_c log p_c,  0 log 0 = 0
    BALD               s = H[(1/T) sum_t p_t] - (1/T) sum_t H[p_t]  (Houlsby et al. 2011; Gal et al. 2017 Eq. 2)

Each picks the ``budget`` largest scores, best first, ties to the lower position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArrayError
from ._checks import Picks, array, candidate_positions, check_budget, generator, probability_chunk, \
    probability_shape, scatter, top_k


def _xlogy(p: np.ndarray) -> np.ndarray:
    from scipy.special import xlogy  # x log y with 0 log 0 = 0

    return xlogy(p, p)


def _per_row(proba: Any, fn32, fn64, rows: int = 1024) -> np.ndarray:
    """A score of the predictive distribution per row, a chunk of rows at a time (each checked by
    :func:`probability_chunk` and scored while it is in cache; no copy of the whole array).

    Float32 / float16 ``[N, C]`` (what models emit) is scored by ``fn32`` on torch float32 chunks of
    ~1M values with torch's threads; anything else by ``fn64`` on float64 chunks of ``rows`` rows."""
    a = probability_shape(proba, "proba")
    out = np.empty(len(a))
    if _float32_rows(a):
        import torch

        for s, q in _torch_chunks(a, torch.float32, "proba"):
            out[s : s + len(q)] = fn32(q).numpy()
        return out
    for s in range(0, len(a), rows):
        q = np.asarray(a[s : s + rows], dtype=np.float64)
        probability_chunk(q, "proba", s)
        out[s : s + rows] = fn64(q if q.ndim == 2 else q.mean(axis=2))
    return out


def _float32_rows(a: np.ndarray) -> bool:
    """``[N, C]`` scored in float32 (MC samples ``[N, C, T]`` are averaged in float64)."""
    return a.ndim == 2 and _compute_dtype(a) == "float32"


def least_confidence_scores(proba: Any) -> np.ndarray:
    """``1 - max_c p_c`` per row (float32 input: the float32 maximum, exact, then float64: the same values)."""
    return _per_row(proba, lambda q: 1.0 - q.amax(1).double(), lambda p: 1.0 - p.max(axis=1))


def _margin(p: np.ndarray) -> np.ndarray:
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]  # [p_(2), p_(1)], no full sort
    return 1.0 - (top2[:, 1] - top2[:, 0])


def _margin32(q):
    top = q.topk(2, dim=1).values.double()  # exact float32 values; the difference in float64
    return 1.0 - (top[:, 0] - top[:, 1])


def margin_scores(proba: Any) -> np.ndarray:
    """``1 - (p_(1) - p_(2))`` per row (the top two classes; float32 input gives the float64 values too)."""
    return _per_row(proba, _margin32, _margin)


def entropy_scores(proba: Any) -> np.ndarray:
    """``-sum_c p_c log p_c`` per row: float64 for float64 input or MC samples; float32 ``[N, C]`` is
    scored in float32, within :func:`entropy_error_bound` of the float64 value (:func:`entropy`
    re-scores the rows that bound leaves in contention, so its picks are exact)."""
    import torch

    return _per_row(proba, lambda q: -torch.special.xlogy(q, q).sum(1).double(), lambda p: -_xlogy(p).sum(axis=1))


def entropy_error_bound(n_classes: int) -> float:
    """A bound on ``|H_float32 - H_float64|`` for one row of ``C`` float32 probabilities.

    ``p log p`` in float32: ``log`` within 1 ulp (SLEEF u10) and one product, so each term is off by
    at most ``2u p max(|log p|, 1) + u |p log p|``, at most ``3u (log C + 1)`` summed over a row (the
    row sums to 1); the float32 sum of ``C`` terms adds ``(C - 1) u sum |p log p| <= C u log C``.
    ``u = 2^-24``; twice the total as a safety factor (rows may sum to 1 +- 1e-3)."""
    c = n_classes
    return 2.0 * (c + 3) * (np.log(c) + 1) * 2.0**-24


def mutual_information(samples: Any, rows: int | None = None, *, dtype: str | None = None) -> np.ndarray:
    """BALD's ``I[y; w | x]`` per row of MC samples ``[N, C, T]``.

    Computed over row chunks (``rows`` samples, default ~1M values, so a chunk stays in cache;
    at VGGSound scale ``samples`` alone is 2.2 GB in float32) with torch's threads, in ``dtype``
    (default: float32 for float32 / float16 samples, what models emit, 3-5x faster than float64
    on a CPU; float64 otherwise). A float32 value is within
    :func:`mi_error_bound` of the float64 one; :func:`bald` re-scores the rows that bound leaves
    in contention for its picks in float64, so the picks are exact. The rows are checked as
    they go."""
    import torch

    p = probability_shape(samples, "samples", ndim=3)
    td = {"float32": torch.float32, "float64": torch.float64}[dtype or _compute_dtype(p)]
    out = np.empty(len(p))
    for s, q in _torch_chunks(p, td, "samples", rows):
        mean = q.mean(dim=2)
        h_mean = -torch.special.xlogy(mean, mean).sum(1).double()
        mean_h = torch.special.xlogy(q, q).sum(1).double().mean(1)
        out[s : s + len(q)] = (h_mean + mean_h).numpy()
    return out


def _compute_dtype(p: np.ndarray) -> str:
    return "float32" if p.dtype in (np.float32, np.float16) else "float64"


def mi_error_bound(samples: np.ndarray) -> float:
    """A bound on ``|MI_float32 - MI_float64|`` for rows of ``samples [N, C, T]``.

    Each term ``p log p`` is formed with a few float32 roundings of relative size ``u = 2^-24``
    (the mean over ``T``: ``T u``; ``p log p`` moved by ``|1 + log p| dp`` with ``dp <= T u p``,
    and ``p |1 + log p| <= 1`` on [0, 1]; log and product: 2u); summed over ``C`` classes in
    float32 (``C u`` times the sum of ``|p log p|``, itself ``<= log C <= C``). So each entropy is
    off by at most ``C (T + C + 3) u``; twice that (two entropies) with a factor 2 of margin."""
    _, c, t = samples.shape
    return 4.0 * c * (t + c + 4) * 2.0**-24


def _torch_chunks(a: np.ndarray, dtype, name: str, rows: int | None = None):
    """``(offset, chunk)`` over the rows of ``a`` as torch ``dtype`` tensors of ``rows`` rows
    (default ~1M values, so a chunk stays in cache), each checked by :func:`_check_chunk`."""
    import torch

    rows = rows or max(1, (1 << 20) // max(1, a[0].size))
    for s in range(0, len(a), rows):
        q = torch.as_tensor(np.asarray(a[s : s + rows]), dtype=dtype)
        _check_chunk(q, s, name)
        yield s, q


def _check_chunk(q, offset: int, name: str) -> None:
    """:func:`probability_chunk` on a torch chunk (min / max / class sums, in its dtype)."""
    import torch

    lo, hi = (float(v) for v in torch.aminmax(q))
    if not (lo >= -1e-6 and hi <= 1 + 1e-6 and float((q.sum(1) - 1).abs().max()) <= 1e-3):  # NaN fails too
        probability_chunk(q.double().numpy(), name, offset)  # names the first bad row and the fix


def predictive_std(samples: Any) -> np.ndarray:
    """``std_t yhat_t`` per row of a regression head's MC samples ``[N, 1, T]`` (or ``[N, T]``)."""
    s = array(samples, "samples", ndim=(2, 3), shape="[N, 1, T] or [N, T] (T stochastic predictions)")
    if s.ndim == 3:
        if s.shape[1] != 1:
            raise ArrayError(f"samples must be [N, 1, T] for one regression output, got shape {s.shape}")
        s = s[:, 0, :]
    return s.std(axis=1)


def _rows(a: Any, cand: np.ndarray, n: int):
    """``a`` restricted to the candidate rows (no copy when every row is a candidate)."""
    return a if len(cand) == n else a[cand]


def _ranked(score_fn, proba: Any, budget: int, candidates: Any, name: str, ndim=(2, 3), bound=None, exact_fn=None) -> Picks:
    """The top ``budget`` candidates by ``score_fn``. With ``bound`` (a float32 score's error, or
    None when the scores are exact): the rows within twice it of the ``budget``-th score are
    re-scored by ``exact_fn`` (float64), so the picks and their order are those of float64."""
    p = probability_shape(proba, name, ndim)
    cand = candidate_positions(candidates, len(p))
    k = check_budget(budget, len(cand))
    s = score_fn(_rows(p, cand, len(p)))
    err = bound(p) if bound is not None else None
    if k and err is not None:
        kth = np.partition(s, len(s) - k)[len(s) - k]
        close = np.flatnonzero(s >= kth - 2 * err)
        s[close] = exact_fn(p[cand[close]])
    return Picks(top_k(s, cand, k), scatter(s, cand, len(p)))


def random(n: int, budget: int, rng: np.random.Generator | int, *, candidates: Any = None) -> Picks:
    """``budget`` of the ``n`` rows (or of ``candidates``) uniformly without replacement: ``rng.choice``."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ArrayError(f"n (the number of samples) must be a positive int, got {n!r}")
    cand = candidate_positions(candidates, int(n))
    k = check_budget(budget, len(cand))
    return Picks(generator(rng).choice(cand, size=k, replace=False).astype(np.int64))


def top_scores(scores: Any, budget: int, *, candidates: Any = None) -> Picks:
    """The ``budget`` largest of your own per-sample ``scores [N]``, best first (ties: lower position)."""
    s = array(scores, "scores", ndim=1, shape="[N]")
    cand = candidate_positions(candidates, len(s))
    k = check_budget(budget, len(cand))
    return Picks(top_k(s[cand], cand, k), scatter(s[cand], cand, len(s)))


def least_confidence(proba: Any, budget: int, *, candidates: Any = None) -> Picks:
    """Top-``budget`` least confidence ``1 - p_(1)`` on ``proba [N, C]`` or ``[N, C, T]``."""
    return _ranked(least_confidence_scores, proba, budget, candidates, "proba")


def margin(proba: Any, budget: int, *, candidates: Any = None) -> Picks:
    """Top-``budget`` margin uncertainty ``1 - (p_(1) - p_(2))`` on ``proba [N, C]`` or ``[N, C, T]``."""
    return _ranked(margin_scores, proba, budget, candidates, "proba")


def entropy(proba: Any, budget: int, *, candidates: Any = None) -> Picks:
    """Top-``budget`` entropy ``-sum_c p_c log p_c`` on ``proba [N, C]`` or ``[N, C, T]``.

    Float32 ``[N, C]`` is scored in float32 (:func:`entropy_scores`) and the rows in contention
    re-scored in float64: the picks and their order are those of a float64 implementation."""
    return _ranked(entropy_scores, proba, budget, candidates, "proba",
                   bound=lambda p: entropy_error_bound(p.shape[1]) if _float32_rows(p) else None,
                   exact_fn=lambda rows: entropy_scores(rows.astype(np.float64)))


def bald(samples: Any, budget: int, *, candidates: Any = None) -> Picks:
    """Top-``budget`` BALD mutual information on MC-dropout ``samples [N, C, T]``.

    Float32 samples are scored in float32 (:func:`mutual_information`); the rows whose score is
    within twice :func:`mi_error_bound` of the ``budget``-th are then re-scored in float64, so the
    picks and their order are those of a float64 implementation (``scores``: float64 for those
    rows, float32-accurate elsewhere). Other samples are scored in float64 throughout."""
    return _ranked(mutual_information, samples, budget, candidates, "samples", ndim=3,
                   bound=lambda p: mi_error_bound(p) if _compute_dtype(p) == "float32" else None,
                   exact_fn=lambda rows: mutual_information(rows, dtype="float64"))
