"""What the bench measures beyond the loop's metrics: per-modality scores and the modality
contribution of a trained model on the test set (BMMAL Figs. 2-3).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from ..model import PREDICT_MASKED, model_capabilities
from ..pool import MAIN_HEAD, Pool
from ..shapley import contributions, shapley, subset_values


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
    yk = np.where(keep, y, 0).astype(np.int64)
    rows = np.arange(test.n)
    if test.task.is_classification:
        def outcome(p):
            return p[rows, yk]
    else:
        def outcome(p):
            return p.reshape(p.shape[0], -1)[:, 0]
    share = contributions(shapley(subset_values(model, test, None, mods, outcome)[:, keep]))
    return {m: float(share[:, j].mean()) for j, m in enumerate(mods)}


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
