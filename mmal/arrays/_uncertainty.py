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
from ._checks import Picks, array, candidate_positions, check_budget, generator, probabilities, probability_chunk, \
    probability_shape, scatter, top_k


def _xlogy(p: np.ndarray) -> np.ndarray:
    from scipy.special import xlogy  # x log y with 0 log 0 = 0

    return xlogy(p, p)


def predictive(proba: Any, name: str = "proba") -> np.ndarray:
    """``[N, C]`` float64 probabilities: ``proba`` itself, or the mean over ``T`` of ``[N, C, T]``."""
    p = np.asarray(probabilities(proba, name), dtype=np.float64)
    return p if p.ndim == 2 else p.mean(axis=2)


def least_confidence_scores(proba: Any) -> np.ndarray:
    """``1 - max_c p_c`` per row."""
    return 1.0 - predictive(proba).max(axis=1)


def margin_scores(proba: Any) -> np.ndarray:
    """``1 - (p_(1) - p_(2))`` per row (the top two classes)."""
    top2 = np.sort(predictive(proba), axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy_scores(proba: Any) -> np.ndarray:
    """``-sum_c p_c log p_c`` per row."""
    return -_xlogy(predictive(proba)).sum(axis=1)


def mutual_information(samples: Any, rows: int = 4096) -> np.ndarray:
    """BALD's ``I[y; w | x]`` from MC samples ``[N, C, T]``, in float64 over ``rows`` samples at a
    time (at VGGSound scale ``samples`` alone is 2.2 GB in float32); the rows are checked as they go."""
    p = probability_shape(samples, "samples", ndim=3)
    out = np.empty(len(p))
    for s in range(0, len(p), rows):
        q = np.asarray(p[s : s + rows], dtype=np.float64)
        probability_chunk(q, "samples", s)
        mean = q.mean(axis=2)
        out[s : s + rows] = -_xlogy(mean).sum(axis=1) + _xlogy(q).sum(axis=1).mean(axis=1)
    return out


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


def _ranked(score_fn, proba: Any, budget: int, candidates: Any, name: str, ndim=(2, 3)) -> Picks:
    p = probability_shape(proba, name, ndim)
    cand = candidate_positions(candidates, len(p))
    k = check_budget(budget, len(cand))
    s = score_fn(_rows(p, cand, len(p)))
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
    """Top-``budget`` entropy ``-sum_c p_c log p_c`` on ``proba [N, C]`` or ``[N, C, T]``."""
    return _ranked(entropy_scores, proba, budget, candidates, "proba")


def bald(samples: Any, budget: int, *, candidates: Any = None) -> Picks:
    """Top-``budget`` BALD mutual information on MC-dropout ``samples [N, C, T]``."""
    return _ranked(mutual_information, samples, budget, candidates, "samples", ndim=3)
