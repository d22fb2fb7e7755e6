"""The statistics behind the reports: t-intervals over seeds, paired tests against the
baseline, per-seed annotation savings, area under the budget curve, and the pairwise
t-test matrix of BMMAL Fig. 5.

Every comparison is paired by seed: seed ``s`` of every strategy starts from the same random
initial pool (round 0) and trains with the same seeds, so strategy and baseline differ only
in what they queried.

- An interval is ``mean ± t_{(1+level)/2, n-1} · sd / sqrt(n)`` over the ``n`` seeds
  (``sd`` with ``ddof=1``); none with one seed.
- A test is the two-sided paired t-test (``scipy.stats.ttest_rel``) over the common seeds.
  Below :data:`MIN_SEEDS` seeds no test is made ("n/a: 2 seeds"); below
  :data:`RELIABLE_SEEDS` its p-value carries a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse", "loss"})
CI_LEVEL = 0.95     #: confidence level of every interval in the report
ALPHA = 0.05        #: significance level of the tests against the baseline
MIN_SEEDS = 3       #: fewer paired seeds: no significance claim at all
RELIABLE_SEEDS = 5  #: fewer paired seeds: p-values come with a warning
FEW_SEEDS = f"few seeds: p-values are unreliable below {RELIABLE_SEEDS}"

Curve = tuple[Sequence[float], Sequence[float]]  # (labeled counts, metric) over rounds 0, 1, ...


def lower_is_better(metric: str, extra: Sequence[str] = ()) -> bool:
    """True for error metrics (``mae``, ``T/mae`` ...) and any name listed in ``extra``."""
    return metric in extra or metric.rpartition("/")[2] in LOWER_IS_BETTER or metric.rpartition("/")[2] in extra


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof=1); the std is None for a single value."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), (float(a.std(ddof=1)) if a.size > 1 else None)


def seeds_word(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def seed_note(n: int) -> str | None:
    """What a test over ``n`` paired seeds may claim: nothing below 3, a warning below 5."""
    if n < MIN_SEEDS:
        return f"n/a: {seeds_word(n)}"
    if n < RELIABLE_SEEDS:
        return FEW_SEEDS
    return None


# ------------------------------------------------------------ intervals
@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` seeds with its t-interval; ``half_width`` is None for one seed."""

    mean: float
    half_width: float | None
    n: int
    sd: float | None
    level: float = CI_LEVEL

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    @property
    def note(self) -> str | None:
        return "1 seed: no interval" if self.half_width is None else None

    def scaled(self, factor: float) -> "Interval":
        hw = None if self.half_width is None else self.half_width * abs(factor)
        sd = None if self.sd is None else self.sd * abs(factor)
        return Interval(self.mean * factor, hw, self.n, sd, self.level)

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "half_width": self.half_width, "low": self.low, "high": self.high,
                "sd": self.sd, "n": self.n, "level": self.level, "note": self.note}


def t_quantile(n: int, level: float = CI_LEVEL) -> float:
    """``t_{(1+level)/2, n-1}``: the two-sided critical value of Student's t with n-1 dof."""
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2.0, n - 1))


def mean_ci(values: Sequence[float], level: float = CI_LEVEL) -> Interval:
    """Mean of ``values`` (one per seed) and its ``level`` t-interval."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        raise ValueError("mean_ci needs at least one value (one per seed), got none")
    if a.size == 1:
        return Interval(float(a[0]), None, 1, None, level)
    sd = float(a.std(ddof=1))
    return Interval(float(a.mean()), t_quantile(a.size, level) * sd / np.sqrt(a.size), int(a.size), sd, level)


def ci_band(Y: np.ndarray, level: float = CI_LEVEL) -> np.ndarray | None:
    """Per column of ``Y [n_seeds, n_rounds]``: the half-width of the t-interval of the mean;
    None with one seed (no band)."""
    Y = np.asarray(Y, dtype=np.float64)
    n = Y.shape[0]
    if n < 2:
        return None
    return t_quantile(n, level) * Y.std(0, ddof=1) / np.sqrt(n)


# ---------------------------------------------------------------- tests
@dataclass(frozen=True)
class Paired:
    """Strategy ``a`` against baseline ``b`` on the seeds both have: per-seed values, the
    interval of the mean difference ``a - b``, and the paired t-test's p-value (None below
    :data:`MIN_SEEDS` seeds)."""

    seeds: tuple[int, ...]
    a: tuple[float, ...]
    b: tuple[float, ...]
    diff: Interval
    p: float | None
    lower: bool
    note: str | None

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def better(self) -> bool:
        """The mean difference points the better way (lower for error metrics)."""
        return self.diff.mean < 0 if self.lower else self.diff.mean > 0

    @property
    def worse(self) -> bool:
        return self.diff.mean > 0 if self.lower else self.diff.mean < 0

    def verdict(self, alpha: float = ALPHA) -> str:
        """``"beat"`` / ``"lost"`` (significant at ``alpha``), ``"tied"``, or ``"untested"``."""
        if self.p is None:
            return "untested"
        if self.p < alpha and self.better:
            return "beat"
        if self.p < alpha and self.worse:
            return "lost"
        return "tied"

    def as_dict(self, alpha: float = ALPHA) -> dict[str, Any]:
        return {"seeds": list(self.seeds), "strategy": list(self.a), "baseline": list(self.b),
                "strategy_mean": float(np.mean(self.a)), "baseline_mean": float(np.mean(self.b)),
                "diff": self.diff.as_dict(), "p": self.p, "n": self.n, "test": "two-sided paired t-test (scipy.stats.ttest_rel)",
                "alpha": alpha, "verdict": self.verdict(alpha), "note": self.note}


def paired_test(a: Mapping[int, float], b: Mapping[int, float], *, lower: bool) -> Paired | None:
    """Paired two-sided t-test of ``a[seed]`` against ``b[seed]`` over their common seeds;
    None when they share no seed."""
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        return None
    va = np.array([a[s] for s in seeds], dtype=np.float64)
    vb = np.array([b[s] for s in seeds], dtype=np.float64)
    d = va - vb
    note = seed_note(len(seeds))
    p: float | None = None
    if len(seeds) >= MIN_SEEDS:
        if not np.any(d):
            p, note = 1.0, _join(note, "identical on every seed")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                p = float(ttest_rel_p(va, vb))
            if np.ptp(d) == 0:
                note = _join(note, "the same difference on every seed (zero variance)")
    return Paired(seeds, tuple(va.tolist()), tuple(vb.tolist()), mean_ci(d), p, lower, note)


def ttest_rel_p(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import ttest_rel

    return float(ttest_rel(a, b).pvalue)


def _join(a: str | None, b: str) -> str:
    return b if a is None else f"{a}; {b}"


# ----------------------------------------------------- budget curves
def aubc(x: Sequence[float], y: Sequence[float]) -> float:
    """Area under the budget curve, normalized by the labeled range: the trapezoid integral
    of the metric over labeled samples divided by ``x[-1] - x[0]`` (a single point: its value)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 1 or x[-1] == x[0]:
        return float(y.mean())
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    return area / float(x[-1] - x[0])


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


def labels_saved(strategy: Mapping[int, Curve], baseline: Mapping[int, Curve], *, lower: bool,
                 labels_per_sample: float) -> dict[str, Any] | None:
    """Annotation savings against the baseline, per seed (GRACE Sec. 4.2).

    For each seed ``s`` both have: the target is the baseline's final metric on seed ``s``;
    ``needed_s`` is the labeled count where the strategy's curve of seed ``s`` first reaches
    it (:func:`labels_needed`); ``saved_s = n_base_s - needed_s`` with ``n_base_s`` the
    baseline's final labeled count. A seed whose curve never reaches the target is *not
    reached*: it needed more than its last count, so it saved less than
    ``n_base_s - x_last`` (``saved_at_most``, 0 when both end at the same count); it is
    left out of the mean and counted. Returns the per-seed rows, the mean and interval of
    the samples, labels (x ``labels_per_sample``) and percent saved over the reached seeds,
    and ``reached`` of ``n``; None when no seed is shared.
    """
    seeds = sorted(set(strategy) & set(baseline))
    if not seeds:
        return None
    rows = []
    for s in seeds:
        bx, by = (np.asarray(v, dtype=np.float64) for v in baseline[s])
        x, y = (np.asarray(v, dtype=np.float64) for v in strategy[s])
        target, n_base = float(by[-1]), float(bx[-1])
        need = labels_needed(x, y, target, lower=lower)
        saved = None if need is None else n_base - need
        rows.append({"seed": s, "target": target, "baseline_samples": n_base, "samples_needed": need, "samples_saved": saved,
                     "labels_saved": None if saved is None else saved * labels_per_sample,
                     "percent_saved": None if saved is None else 100.0 * saved / n_base,
                     "reached": need is not None, "saved_at_most": None if need is not None else n_base - float(x[-1])})
    reached = [r for r in rows if r["reached"]]

    def interval(key: str) -> dict[str, Any] | None:
        return mean_ci([r[key] for r in reached]).as_dict() if reached else None

    return {"per_seed": rows, "n": len(rows), "reached": len(reached), "labels_per_sample": labels_per_sample,
            "samples_saved": interval("samples_saved"), "labels_saved": interval("labels_saved"),
            "percent_saved": interval("percent_saved"),
            "rule": "per seed, first crossing of the baseline's final value of the same seed, linearly interpolated; "
                    "seeds that never reach it are counted as not reached (saved <= saved_at_most) and left out of the mean"}


def against_baseline(curves: Mapping[str, Mapping[int, Curve]], baseline: str, *, lower: bool,
                     labels_per_sample: float) -> dict[str, dict[str, Any]]:
    """Every strategy but the baseline against the baseline, paired by seed.

    ``curves[strategy][seed] = (x, y)`` over rounds 0, 1, ... Per strategy: the paired test
    on AUBC (each seed's area over the rounds both curves of that seed have), the paired
    test at every round >= 1 (round 0 is the shared random start), and :func:`labels_saved`.
    The baseline is never compared with itself.
    """
    if baseline not in curves:
        return {}
    base = curves[baseline]
    out: dict[str, dict[str, Any]] = {}
    for name, per_seed in curves.items():
        if name == baseline:
            continue
        au_a, au_b = {}, {}
        for s in set(per_seed) & set(base):
            k = min(len(per_seed[s][0]), len(base[s][0]))
            au_a[s] = aubc(per_seed[s][0][:k], per_seed[s][1][:k])
            au_b[s] = aubc(base[s][0][:k], base[s][1][:k])
        rounds = []
        for r in range(1, max((len(c[0]) for c in per_seed.values()), default=0)):
            a = {s: float(c[1][r]) for s, c in per_seed.items() if len(c[1]) > r}
            b = {s: float(c[1][r]) for s, c in base.items() if len(c[1]) > r}
            test = paired_test(a, b, lower=lower)
            if test is not None:
                xs = [float(per_seed[s][0][r]) for s in test.seeds]
                rounds.append({"round": r, "labeled": float(np.mean(xs)), "test": test})
        out[name] = {"aubc": paired_test(au_a, au_b, lower=lower), "rounds": rounds,
                     "saved": labels_saved(per_seed, base, lower=lower, labels_per_sample=labels_per_sample)}
    return out


# ------------------------------------------------- BMMAL Fig. 5 matrix
def paired_seed_counts(settings: Sequence[Mapping[str, Mapping[int, Mapping[int, float]]]], strategies: Sequence[str]) -> list[int]:
    """The number of common seeds of every ordered pair of strategies at every round of every
    setting (what each test of :func:`pairwise_matrix` rests on)."""
    counts = []
    for setting in settings:
        for i, a in enumerate(strategies):
            for b in strategies[i + 1:]:
                for r in set(setting.get(a, {})) & set(setting.get(b, {})):
                    counts.append(len(set(setting[a][r]) & set(setting[b][r])))
    return counts


def pairwise_matrix(settings: Sequence[Mapping[str, Mapping[int, Mapping[int, float]]]], strategies: Sequence[str], *,
                    confidence: float, lower: bool, min_seeds: int = MIN_SEEDS) -> np.ndarray:
    """BMMAL Fig. 5: ``P[i, j]`` = number of settings (summed) in which strategy i
    significantly beats j, each round counting ``1/L`` (L = rounds of the setting).

    ``settings[k][strategy][round][seed] = metric``. For each round, a two-sided paired
    t-test over the seeds both strategies have (scipy.stats.ttest_rel); significant when
    ``p < 1 - confidence``, and i beats j when its mean paired difference is better. A pair
    with fewer than ``min_seeds`` common seeds is not tested (it adds nothing).
    """
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
                    if len(seeds) < max(min_seeds, 2):
                        continue
                    va = np.array([setting[a][r][s] for s in seeds], dtype=np.float64)
                    vb = np.array([setting[b][r][s] for s in seeds], dtype=np.float64)
                    diff = va - vb
                    if not np.any(diff):
                        continue  # identical results: no evidence either way
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        p = ttest_rel_p(va, vb)
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
