"""The numbers behind the reports: curves over seeds, annotation savings, area under the
budget curve, and the pairwise t-test matrix of BMMAL Fig. 5.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np

LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse", "loss"})


def lower_is_better(metric: str, extra: Sequence[str] = ()) -> bool:
    """True for error metrics (``mae``, ``T/mae`` ...) and any name listed in ``extra``."""
    return metric in extra or metric.rpartition("/")[2] in LOWER_IS_BETTER or metric.rpartition("/")[2] in extra


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof=1); the std is None for a single value."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), (float(a.std(ddof=1)) if a.size > 1 else None)


def labels_needed(x: Sequence[float], y: Sequence[float], target: float, *, lower: bool) -> float | None:
    """The labeled count where the curve ``(x, y)`` first reaches ``target``, linearly
    interpolated between the two rounds around the crossing; None if it never does.
    (GRACE Sec. 4.2: samples a strategy needs to match Random's final metric.)"""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    gap = (target - y) if lower else (y - target)  # >= 0 once the target is reached
    tol = 1e-12 * max(1.0, abs(target))
    for i in range(len(x)):
        if gap[i] >= -tol:
            if i == 0:
                return float(x[0])
            # y moves from y[i-1] (short of the target) to y[i] (reaching it)
            frac = (target - y[i - 1]) / (y[i] - y[i - 1])
            return float(x[i - 1] + frac * (x[i] - x[i - 1]))
    return None


def savings(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], baseline: str, *, lower: bool,
            labels_per_sample: float) -> dict[str, dict[str, float | None]]:
    """Per strategy: samples needed to reach the baseline's final mean metric, and the samples
    and labels (``labels_per_sample`` per sample, 4 for M/T/A/V) saved against the baseline.

    ``curves[s] = (x, mean_y)`` with ``x`` the labeled counts in round order.
    """
    bx, by = curves[baseline]
    target, n_base = float(by[-1]), float(bx[-1])
    out: dict[str, dict[str, float | None]] = {}
    for name, (x, y) in curves.items():
        need = labels_needed(x, y, target, lower=lower)
        saved = None if need is None else n_base - need
        out[name] = {
            "target": target, "baseline_samples": n_base, "samples_needed": need,
            "labels_needed": None if need is None else need * labels_per_sample,
            "samples_saved": saved, "labels_saved": None if saved is None else saved * labels_per_sample,
            "percent_saved": None if saved is None else 100.0 * saved / n_base,
        }
    return out


def aubc(x: Sequence[float], y: Sequence[float]) -> float:
    """Area under the budget curve, normalized by the labeled range: the trapezoid integral
    of the metric over labeled samples divided by ``x[-1] - x[0]`` (a single point: its value)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 1 or x[-1] == x[0]:
        return float(y.mean())
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    return area / float(x[-1] - x[0])


def pairwise_matrix(settings: Sequence[Mapping[str, Mapping[int, Mapping[int, float]]]], strategies: Sequence[str], *,
                    confidence: float, lower: bool) -> np.ndarray:
    """BMMAL Fig. 5: ``P[i, j]`` = number of settings (summed) in which strategy i
    significantly beats j, each round counting ``1/L`` (L = rounds of the setting).

    ``settings[k][strategy][round][seed] = metric``. For each round, a two-sided paired
    t-test over the seeds both strategies have (scipy.stats.ttest_rel); significant when
    ``p < 1 - confidence``, and i beats j when its mean paired difference is better.
    """
    from scipy.stats import ttest_rel

    n = len(strategies)
    P = np.zeros((n, n))
    alpha = 1.0 - confidence
    for setting in settings:
        rounds = sorted({r for s in strategies if s in setting for r in setting[s]})
        if not rounds:
            continue
        L = len(rounds)
        for r in rounds:
            for i, a in enumerate(strategies):
                for j, b in enumerate(strategies):
                    if i == j or r not in setting.get(a, {}) or r not in setting.get(b, {}):
                        continue
                    seeds = sorted(set(setting[a][r]) & set(setting[b][r]))
                    if len(seeds) < 2:
                        continue
                    va = np.array([setting[a][r][s] for s in seeds], dtype=np.float64)
                    vb = np.array([setting[b][r][s] for s in seeds], dtype=np.float64)
                    diff = va - vb
                    if not np.any(diff):
                        continue  # identical results: no evidence either way
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        p = float(ttest_rel(va, vb).pvalue)
                    better = diff.mean() < 0 if lower else diff.mean() > 0
                    if np.isfinite(p) and p < alpha and better:
                        P[i, j] += 1.0 / L
    return P


def column_average(P: np.ndarray) -> np.ndarray:
    """Fig. 5's bottom row: each column's mean over the other strategies (lower is better)."""
    n = P.shape[0]
    if n < 2:
        return np.zeros(n)
    return (P.sum(0) - np.diag(P)) / (n - 1)
