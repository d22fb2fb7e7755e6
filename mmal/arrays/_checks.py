"""What the array-level strategies share: the :class:`Picks` result, input checks that name the
argument and the fix, candidate subsets, and top-k."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ArrayError


@dataclass(frozen=True)
class Picks:
    """The answer of an array-level strategy.

    ``positions``: ``[budget]`` row indices among the ``N`` rows given, best first (pick order for
    the sequential strategies: k-means++, k-center). ``scores``: ``[N]`` float64, every
    candidate's score (larger = picked earlier) and NaN for rows that are not candidates; ``None``
    where the strategy has no per-sample score (BADGE, BMMAL, CoreSet, CoreGCN). ``info``: extras
    (per-pick values, seeds, per-criterion ``[N]`` arrays with NaN outside the candidates).
    """

    positions: np.ndarray
    scores: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def picked_scores(self) -> np.ndarray | None:
        """The scores of the picks, best first (``None`` without per-sample scores)."""
        return None if self.scores is None else self.scores[self.positions]


def numpy(x: Any, name: str) -> np.ndarray:
    """``x`` as a numpy array (a torch tensor is detached and copied to the CPU), numbers only."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    elif hasattr(x, "toarray") and not isinstance(x, np.ndarray):
        raise ArrayError(f"{name} is a sparse matrix; pass a dense array ({name}.toarray())")
    a = np.asarray(x)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ArrayError(f"{name} must hold numbers, got dtype {a.dtype}")
    return a


def finite_rows(a: np.ndarray, name: str, fix: str, offset: int = 0) -> None:
    """Raise naming the first rows of ``a`` (axis 0; row ``i`` is ``offset + i``) that hold NaN or inf."""
    bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1) if a.ndim > 1 else ~np.isfinite(a)
    if bad.any():
        raise ArrayError(f"{name} has NaN or inf in rows {(offset + np.flatnonzero(bad)[:5]).tolist()}; {fix}")


def array(x: Any, name: str, *, ndim: int | tuple[int, ...], shape: str, dtype=np.float64, n: int | None = None,
          fix: str = "clean the inputs first") -> np.ndarray:
    """``x`` as a finite ``dtype`` array of rank ``ndim`` (``shape`` names the axes in messages), with ``n`` rows if
    given; ``dtype=None`` keeps a floating dtype (no copy of a large float32 array)."""
    a = numpy(x, name)
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in ranks:
        raise ArrayError(f"{name} must be {' or '.join(f'{r}-D' for r in ranks)} {shape}, got shape {a.shape}")
    if n is not None and len(a) != n:
        raise ArrayError(f"{name} has {len(a)} rows but the other inputs have {n}; give one row per sample, in the same order")
    if len(a) == 0:
        raise ArrayError(f"{name} has no rows; give at least one sample")
    if dtype is None:
        dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64
    a = np.asarray(a, dtype=dtype)
    finite_rows(a, name, fix)
    return a


def probabilities(x: Any, name: str, *, ndim: int | tuple[int, ...] = (2, 3), rows: int = 4096) -> np.ndarray:
    """Class probabilities ``[N, C]`` or MC samples ``[N, C, T]``: finite, in ``[0, 1]``, summing to 1 over ``C``.

    The array is returned as given (no float64 copy of a large ``[N, C, T]``); the values are
    checked over ``rows`` samples at a time."""
    a = probability_shape(x, name, ndim)
    for s in range(0, len(a), rows):
        probability_chunk(np.asarray(a[s : s + rows], dtype=np.float64), name, s)
    return a


def probability_shape(x: Any, name: str, ndim: int | tuple[int, ...] = (2, 3)) -> np.ndarray:
    """``x`` as an array of rank ``ndim`` with rows and at least two classes (values not checked)."""
    a = numpy(x, name)
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in ranks:
        want = " or ".join({2: "[N, C]", 3: "[N, C, T] (T stochastic passes)"}[r] for r in ranks)
        raise ArrayError(f"{name} must be {want}, got shape {a.shape}")
    if len(a) == 0 or a.shape[1] < 2:
        raise ArrayError(f"{name} must have at least one row and two classes (axis 1), got shape {a.shape}")
    return a


def probability_chunk(q: np.ndarray, name: str, offset: int = 0) -> None:
    """Raise unless the rows ``q`` (float64; row ``i`` is sample ``offset + i``) are probabilities over axis 1."""
    finite_rows(q, name, "fix the model output first", offset)
    lo, hi, sums = q.min(), q.max(), q.sum(axis=1)
    if lo < -1e-6 or hi > 1 + 1e-6 or np.abs(sums - 1).max() > 1e-3:
        raise ArrayError(
            f"{name} must be probabilities (in [0, 1], summing to 1 over the classes, axis 1); got values in "
            f"[{lo:.3g}, {hi:.3g}] and sums in [{sums.min():.3g}, {sums.max():.3g}]: apply a softmax to logits first"
        )


def labeled_mask(labeled: Any, n: int, name: str = "labeled") -> np.ndarray:
    """A bool mask ``[n]`` (an integer array is refused: 0/1 flags and positions look alike)."""
    m = numpy(labeled, name)
    if m.dtype != bool:
        raise ArrayError(f"{name} must be a bool mask [N] (True = labeled), got dtype {m.dtype}; from positions "
                         f"use np.isin(np.arange(N), positions), from labels with NaN use ~np.isnan(y)")
    if m.shape != (n,):
        raise ArrayError(f"{name} must have one entry per sample, shape ({n},), got {m.shape}")
    return m


def candidate_positions(candidates: Any, n: int, labeled: np.ndarray | None = None) -> np.ndarray:
    """Sorted positions among ``n`` rows to choose from: all rows (all unlabeled rows) by default,
    or ``candidates`` (positions or a bool mask ``[n]``), unique, in range and unlabeled."""
    if candidates is None:
        cand = np.arange(n) if labeled is None else np.flatnonzero(~labeled)
        if cand.size == 0:
            raise ArrayError("every sample is labeled: there is nothing left to select")
        return cand.astype(np.int64)
    c = numpy(candidates, "candidates")
    if c.dtype == bool:
        if c.shape != (n,):
            raise ArrayError(f"candidates as a bool mask must have shape ({n},), got {c.shape}")
        c = np.flatnonzero(c)
    elif c.ndim != 1 or not (np.issubdtype(c.dtype, np.integer) or c.size == 0):
        raise ArrayError(f"candidates must be 1-D integer positions among the {n} rows (or a bool mask), got "
                         f"shape {c.shape} and dtype {c.dtype}")
    if c.size == 0:
        raise ArrayError("candidates is empty; give at least one position to choose from")
    if c.min() < 0 or c.max() >= n:
        bad = c[(c < 0) | (c >= n)]
        raise ArrayError(f"candidates has positions out of range 0..{n - 1}: {bad[:5].tolist()}")
    c = c.astype(np.int64)
    uniq, counts = np.unique(c, return_counts=True)
    if uniq.size != c.size:
        raise ArrayError(f"candidates has repeated positions {uniq[counts > 1][:5].tolist()}; give each once")
    if labeled is not None and labeled[uniq].any():
        raise ArrayError(f"candidates has labeled positions {uniq[labeled[uniq]][:5].tolist()}; candidates must be unlabeled")
    return uniq


def check_budget(budget: Any, n_candidates: int) -> int:
    """``budget`` as an int in ``1..n_candidates``."""
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ArrayError(f"budget must be a positive int, got {budget!r}")
    if budget > n_candidates:
        raise ArrayError(f"budget {budget} is larger than the {n_candidates} candidates; ask for at most {n_candidates}")
    return int(budget)


def generator(rng: Any) -> np.random.Generator:
    """A ``numpy.random.Generator``; an int is a seed (``np.random.default_rng(rng)``)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator or an int seed >= 0, got {rng!r}; randomness comes only "
                    f"from it (mmal.derive_rng(seed, round, name) gives the one a Pool strategy uses)")


def top_k(scores: np.ndarray, cand: np.ndarray, budget: int) -> np.ndarray:
    """The ``budget`` candidates with the largest ``scores`` (aligned with ``cand``), best first, ties to the lower position.

    Only the rows tied with or above the ``budget``-th score are sorted (a partition finds it)."""
    neg = -np.asarray(scores)
    if 0 < budget < len(neg) // 4 and not np.isnan(neg).any():
        rows = np.flatnonzero(neg <= np.partition(neg, budget - 1)[budget - 1])  # ascending: ties keep position order
        return cand[rows[np.argsort(neg[rows], kind="stable")[:budget]]]
    return cand[np.argsort(neg, kind="stable")[:budget]]


def scatter(values: np.ndarray, cand: np.ndarray, n: int) -> np.ndarray:
    """``values`` (rows aligned with ``cand``) as ``n`` float64 rows, NaN outside the candidates."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full((n, *values.shape[1:]), np.nan)
    out[cand] = values
    return out
