"""Small random SIMS-like pools for tests and smoke runs of the torch task models.

``sims_like_pool`` gives three modalities shaped like MMSA features, scaled down: ``text``
(BERT-feature sequences ``[N, L_t, D_t]``), ``audio`` and ``vision`` (padded sequences with
lengths; vision on a raw, unstandardized scale), with labels for the fused head ``M`` and the
unimodal heads ``T``/``A``/``V`` (some missing). ``vector_pool`` gives ``M`` plain feature
modalities ``[N, D]``. Labels depend on the inputs, so a model can learn them.
"""

from __future__ import annotations

import numpy as np

from ..data import Dataset, split_dataset
from ..pool import Pool, Task


def _labels(score: np.ndarray, kind: str, n_classes: int) -> np.ndarray:
    if kind == "regression":
        return np.clip(np.round(np.tanh(score) / 0.2) * 0.2, -1.0, 1.0)
    edges = np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])
    return np.searchsorted(edges, score).astype(np.float64)


def _task(kind: str, n_classes: int, heads: tuple[str, ...], head_modality: dict[str, str]) -> Task:
    if kind == "regression":
        return Task("regression", heads=heads, label_range=(-1.0, 1.0), head_modality=head_modality)
    return Task("classification", heads=heads, n_classes=n_classes, head_modality=head_modality)


def sims_like_pool(
    n: int = 48, *, kind: str = "regression", n_classes: int = 3, n_labeled: int = 24, seed: int = 0,
    text_shape: tuple[int, int] = (6, 16), audio_shape: tuple[int, int] = (9, 5), vision_shape: tuple[int, int] = (7, 6),
) -> Pool:
    """A SIMS-like pool: the first ``n_labeled`` samples labeled (``T`` missing for every third one)."""
    rng = np.random.default_rng(seed)
    mods, lengths, scores = {}, {}, {}
    for name, (L, D), scale in (("text", text_shape, 1.0), ("audio", audio_shape, 1.0), ("vision", vision_shape, 40.0)):
        lens = rng.integers(1, L + 1, n)
        x = rng.normal(size=(n, L, D)).astype(np.float32)
        x[np.arange(L)[None, :] >= lens[:, None]] = 0.0
        scores[name] = (x[:, :, 0].sum(1) / lens)
        mods[name], lengths[name] = (x * scale).astype(np.float32), lens
    fused = scores["text"] + scores["audio"] + 0.5 * scores["vision"]
    task = _task(kind, n_classes, ("M", "T", "A", "V"), {"T": "text", "A": "audio", "V": "vision"})
    lab = np.arange(n) < n_labeled
    labels = {"M": np.where(lab, _labels(2 * fused, kind, n_classes), np.nan)}
    for head, name in (("T", "text"), ("A", "audio"), ("V", "vision")):
        labels[head] = np.where(lab, _labels(2 * scores[name], kind, n_classes), np.nan)
    labels["T"][::3] = np.nan
    return Pool(mods, task, labels=labels, lengths=lengths, ids=np.array([f"s{i:04d}" for i in range(n)]))


def vector_pool(
    n: int = 48, *, kind: str = "classification", n_classes: int = 3, n_labeled: int = 24, seed: int = 0,
    dims: tuple[int, ...] = (8, 5),
) -> Pool:
    """``len(dims)`` feature modalities ``m0, m1, ...`` and a fused label only."""
    rng = np.random.default_rng(seed)
    mods = {f"m{i}": rng.normal(size=(n, d)).astype(np.float32) for i, d in enumerate(dims)}
    score = sum(x[:, 0] for x in mods.values())
    lab = np.arange(n) < n_labeled
    labels = {"M": np.where(lab, _labels(score, kind, n_classes), np.nan)}
    return Pool(mods, _task(kind, n_classes, ("M",), {}), labels=labels)


def as_dataset(pool: Pool, n_train: int, name: str = "nn-toy") -> Dataset:
    """A Dataset whose labels come from ``pool`` (every sample must carry an ``M`` label)."""
    full = pool.take(np.arange(pool.n))
    return split_dataset(name, full, n_train, pool.n - n_train)
