"""Evaluation metrics per head (DESIGN §6).

``evaluate(task, truth, pred)`` scores every head present in both; the fused head ``"M"``
gives unprefixed names (``"mae"``), a unimodal head ``"T"`` gives ``"T/mae"``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .pool import MAIN_HEAD, Task


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE and Pearson correlation (0 when either side is constant)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    mae = float(np.mean(np.abs(y_true - y_pred)))
    if y_true.std() == 0 or y_pred.std() == 0:
        corr = 0.0
    else:
        corr = float(np.corrcoef(y_true, y_pred)[0, 1])
    return {"mae": mae, "corr": corr}


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """Top-1 accuracy and support-weighted F1."""
    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    acc = float(np.mean(y_true == y_pred))
    f1s, support = [], []
    for c in range(n_classes):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        denom = 2 * tp + fp + fn
        f1s.append(0.0 if denom == 0 else 2 * tp / denom)
        support.append(np.sum(y_true == c))
    support = np.asarray(support, dtype=np.float64)
    wf1 = float(np.dot(f1s, support) / support.sum()) if support.sum() else 0.0
    return {"acc": acc, "f1_weighted": wf1}


def evaluate(task: Task, truth: Mapping[str, np.ndarray], pred: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Metrics for every head with both truth and prediction (rows with a NaN truth skipped)."""
    out: dict[str, float] = {}
    for head, p in pred.items():
        if head not in truth:
            continue
        t = np.asarray(truth[head], dtype=np.float64)
        keep = ~np.isnan(t)
        if not keep.any():
            continue
        if task.is_classification:
            scores = classification_metrics(t[keep], np.asarray(p)[keep], task.n_classes)
        else:
            scores = regression_metrics(t[keep], np.asarray(p)[keep])
        prefix = "" if head == MAIN_HEAD else f"{head}/"
        out.update({prefix + k: v for k, v in scores.items()})
    return out
