"""What the bench measures beyond the loop's metrics: per-modality scores and the modality
contribution of a trained model on the test set (BMMAL Figs. 2-3).
"""

from __future__ import annotations

from itertools import combinations
from math import factorial
from typing import Any, Iterable, Mapping

import numpy as np

from ..model import PREDICT_MASKED, model_capabilities
from ..pool import MAIN_HEAD, Pool


def split_metrics(metrics: Mapping[str, float], heads: Iterable[str]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """``evaluate``'s flat names -> (fused metrics, {head: metrics}): ``"T/mae"`` is head T's
    MAE when ``T`` is one of ``heads``; other names (``"f1/happy"``) are fused metrics."""
    heads = set(heads) - {MAIN_HEAD}
    fused: dict[str, float] = {}
    per_head: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        head, sep, metric = name.partition("/")
        if sep and head in heads:
            per_head.setdefault(head, {})[metric] = value
        else:
            fused[name] = value
    return fused, per_head


def model_heads(model: Any, test: Pool) -> set[str]:
    """The heads a model predicts besides the fused one: the task's and its unimodal heads."""
    return set(test.task.heads) | set((getattr(model, "unimodal_heads", None) or {}).values())


def shapley_values(outcome: Mapping[frozenset, np.ndarray], modalities: list[str]) -> dict[str, np.ndarray]:
    """Per-sample Shapley value of each modality (BMMAL Eq. 10).

    ``outcome[S]`` is the model outcome ``V`` with only the modalities in ``S`` present.
    """
    m = len(modalities)
    phi: dict[str, np.ndarray] = {}
    for mod in modalities:
        others = [o for o in modalities if o != mod]
        total = 0.0
        for size in range(m):
            weight = factorial(size) * factorial(m - size - 1) / factorial(m)
            for subset in combinations(others, size):
                s = frozenset(subset)
                total = total + weight * (outcome[s | {mod}] - outcome[s])
        phi[mod] = np.asarray(total, dtype=np.float64)
    return phi


def contributions(phi: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Modality contribution ``Phi_i = |phi_i| / sum_j |phi_j|`` (BMMAL Eq. 12); an equal split
    where every ``phi`` is zero, so the result is always defined."""
    mods = list(phi)
    a = np.abs(np.stack([phi[k] for k in mods]))  # [M, n]
    total = a.sum(0)
    safe = np.where(total > 0, total, 1.0)
    share = np.where(total > 0, a / safe, 1.0 / len(mods))
    return {k: share[i] for i, k in enumerate(mods)}


def modality_contributions(model: Any, test: Pool) -> dict[str, float] | None:
    """Mean modality contribution on the test set, with ``V`` the fused head's probability of
    the true class (BMMAL Figs. 2-3; regression: the predicted value). None when the model
    cannot mask modalities or the pool has a single modality."""
    mods = test.modality_names
    if PREDICT_MASKED not in model_capabilities(model) or len(mods) < 2:
        return None
    y = np.asarray(test.labels[MAIN_HEAD], dtype=np.float64)
    keep = ~np.isnan(y)
    if not keep.any():
        return None
    outcome: dict[frozenset, np.ndarray] = {}
    for size in range(len(mods) + 1):
        for present in combinations(mods, size):
            out = np.asarray(model.predict_masked(test, absent=frozenset(mods) - set(present)), dtype=np.float64)
            if test.task.is_classification:
                v = out[np.arange(out.shape[0]), np.where(keep, y, 0).astype(np.int64)]
            else:
                v = out.reshape(out.shape[0], -1)[:, 0]
            outcome[frozenset(present)] = v[keep]
    share = contributions(shapley_values(outcome, mods))
    return {k: float(v.mean()) for k, v in share.items()}


SELECTION_KEYS = ("contributions", "contribution_selected")


def selection_contributions(info: Mapping[str, Any]) -> dict[str, float] | None:
    """The selected samples' modality contributions a strategy reported in ``Selection.info``
    (``"contributions"`` or, as BMMAL does, ``"contribution_selected"``: {modality: value or
    per-sample values}) as {modality: mean}; None if it reported none."""
    c = next((info[k] for k in SELECTION_KEYS if k in info), None)
    if not isinstance(c, dict) or not c:
        return None
    out = {}
    for k, v in c.items():
        arr = np.asarray(v, dtype=np.float64)
        if arr.size:
            out[str(k)] = float(np.nanmean(arr)) if np.isfinite(arr).any() else 0.0
    return out or None
