"""Evaluation metrics per head, computed as the MSA community code does (DESIGN §6).

``evaluate(task, truth, pred)`` scores every predicted head. The fused head ``"M"`` gives
unprefixed names (``"mae"``), a unimodal head with its own labels gives ``"T/mae"``, and a
predicted head the truth has no labels for (a unimodal classifier trained on the fused label
and named after its modality, BMMAL Eq. 1) is scored against ``truth["M"]``: ``"audio/acc"``.

Regression with labels in ``[-1, 1]`` (SIMS / SIMSv2, MMSA ``__eval_sims_regression``):
predictions and truth are clipped to ``[-1, 1]``, then binned with ``(lo, hi]`` bins

- Acc-2: ``[-1.01, 0, 1.01]`` (a neutral 0 counts as negative),
- Acc-3: ``[-1.01, -0.1, 0.1, 1.01]``,
- Acc-5: ``[-1.01, -0.7, -0.1, 0.1, 0.7, 1.01]``;

``f1`` is the support-weighted F1 over the Acc-2 classes; ``mae`` and Pearson ``corr`` use
the clipped values. Values are compared in float64 (a float32 ``0.1`` is above the 0.1 edge).
Regression with another (or no) ``label_range`` gets ``mae`` and ``corr`` only, unclipped.

Classification: top-1 ``acc`` (also ``acc7`` when there are 7 classes, CHERMA's Acc-7),
per-class F1 ``f1/<class name or index>`` and support-weighted ``f1_weighted``.
``corr`` is 0 when either side is constant (MMSA would give NaN).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .pool import MAIN_HEAD, Task

ACC2_EDGES = (-1.01, 0.0, 1.01)
ACC3_EDGES = (-1.01, -0.1, 0.1, 1.01)
ACC5_EDGES = (-1.01, -0.7, -0.1, 0.1, 0.7, 1.01)
SIMS_RANGE = (-1.0, 1.0)


def bin_labels(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Class ``i`` for values in ``(edges[i], edges[i+1]]``; values outside every bin get -1."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, -1, dtype=np.int64)
    for i in range(len(edges) - 1):
        out[(v > edges[i]) & (v <= edges[i + 1])] = i
    return out


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 when either side is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def f1_per_class(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """F1 of each class ``0..n_classes-1`` (0 when it is neither true nor predicted) and its support."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    c = np.arange(n_classes)[:, None]
    tp = ((y_pred == c) & (y_true == c)).sum(1)
    fp = ((y_pred == c) & (y_true != c)).sum(1)
    fn = ((y_pred != c) & (y_true == c)).sum(1)
    denom = 2 * tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return f1, (y_true == c).sum(1)


def weighted_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Support-weighted mean of per-class F1 (sklearn's ``average="weighted"``)."""
    f1, support = f1_per_class(y_true, y_pred, n_classes)
    return float(np.dot(f1, support) / support.sum()) if support.sum() else 0.0


def sims_regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, Corr, Acc-2/3/5 and weighted F1 (Acc-2 classes) on values clipped to [-1, 1]."""
    t = np.clip(np.asarray(y_true, dtype=np.float64), *SIMS_RANGE)
    p = np.clip(np.asarray(y_pred, dtype=np.float64), *SIMS_RANGE)
    out = {"mae": float(np.mean(np.abs(p - t))), "corr": pearson(t, p)}
    for name, edges in (("acc2", ACC2_EDGES), ("acc3", ACC3_EDGES), ("acc5", ACC5_EDGES)):
        out[name] = float(np.mean(bin_labels(t, edges) == bin_labels(p, edges)))
    out["f1"] = weighted_f1(bin_labels(t, ACC2_EDGES), bin_labels(p, ACC2_EDGES), 2)
    return out


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE and Pearson correlation (no clipping): regression outside the SIMS range."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    return {"mae": float(np.mean(np.abs(t - p))), "corr": pearson(t, p)}


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, class_names: Sequence[str] | None = None
) -> dict[str, float]:
    """Top-1 accuracy (``acc``, and ``acc7`` for 7 classes), per-class F1 and weighted F1."""
    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    acc = float(np.mean(y_true == y_pred))
    out = {"acc": acc}
    if n_classes == 7:
        out["acc7"] = acc
    f1, support = f1_per_class(y_true, y_pred, n_classes)
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    out.update({f"f1/{names[c]}": float(f1[c]) for c in range(n_classes)})
    out["f1_weighted"] = float(np.dot(f1, support) / support.sum()) if support.sum() else 0.0
    return out


def head_metrics(task: Task, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The metrics of one head for ``task`` (see the module docstring)."""
    if task.is_classification:
        return classification_metrics(y_true, y_pred, task.n_classes, task.class_names)
    if task.label_range is not None and tuple(task.label_range) == SIMS_RANGE:
        return sims_regression_metrics(y_true, y_pred)
    return regression_metrics(y_true, y_pred)


def evaluate(task: Task, truth: Mapping[str, np.ndarray], pred: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Metrics for every predicted head (rows with a NaN truth skipped).

    A head in ``truth`` is scored against its own labels; any other predicted head (a
    unimodal classifier trained on the fused label, named after its modality) against
    ``truth["M"]``. Names: ``"acc"`` for ``"M"``, ``"<head>/acc"`` for the others.
    """
    out: dict[str, float] = {}
    for head, p in pred.items():
        ref = head if head in truth else MAIN_HEAD
        if ref not in truth:
            continue
        t = np.asarray(truth[ref], dtype=np.float64)
        p = np.asarray(p)
        if p.size == t.size:
            p = p.reshape(t.shape)  # a regression head may come as [n, 1]
        else:
            raise ValueError(f"prediction for head {head!r} has shape {p.shape}, truth {ref!r} has {t.shape}; predict one value per sample")
        keep = ~np.isnan(t)
        if not keep.any():
            continue
        prefix = "" if head == MAIN_HEAD else f"{head}/"
        out.update({prefix + k: v for k, v in head_metrics(task, t[keep], p[keep]).items()})
    return out
