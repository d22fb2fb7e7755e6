"""The Pool: a multimodal sample set with per-head labels and a labeled mask (DESIGN §3).

A Pool holds any number of named modalities, each an array ``[N, ...]``; sequence
modalities are padded ``[N, L, D]`` arrays with per-sample ``lengths``. Labels are kept per
task head (``"M"`` fused, unimodal heads such as ``"T"``, ``"A"``, ``"V"``), as float
arrays with NaN where a label is missing. Selection works in positions; ``ids`` are the
stable names users and annotators see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

import numpy as np

from .errors import PoolError

MAIN_HEAD = "M"
TaskKind = Literal["regression", "classification"]


@dataclass(frozen=True)
class Task:
    """What is predicted: the kind, the label heads, and the label domain.

    ``head_modality`` maps each unimodal head to the modality it reads (``{"T": "text"}``);
    the main head ``"M"`` is the fused prediction and must be among ``heads``.
    """

    kind: TaskKind
    heads: tuple[str, ...] = (MAIN_HEAD,)
    n_classes: int | None = None
    label_range: tuple[float, float] | None = None
    head_modality: Mapping[str, str] = field(default_factory=dict)
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("regression", "classification"):
            raise PoolError(f"Task.kind must be 'regression' or 'classification', got {self.kind!r}")
        if MAIN_HEAD not in self.heads:
            raise PoolError(f"Task.heads must contain the fused head {MAIN_HEAD!r}, got {self.heads}")
        if len(set(self.heads)) != len(self.heads):
            raise PoolError(f"Task.heads has repeated names: {self.heads}")
        if self.kind == "classification":
            if self.n_classes is None or self.n_classes < 2:
                raise PoolError("Task.n_classes must be an int >= 2 for classification")
            if self.class_names is not None and len(self.class_names) != self.n_classes:
                raise PoolError("Task.class_names must have n_classes entries")
        unknown = set(self.head_modality) - set(self.heads)
        if unknown:
            raise PoolError(f"Task.head_modality names heads not in Task.heads: {sorted(unknown)}")

    @property
    def is_classification(self) -> bool:
        return self.kind == "classification"

    def check_labels(self, head: str, values: np.ndarray) -> None:
        """Raise if any present (non-NaN) label is outside the task's domain."""
        present = values[~np.isnan(values)]
        if present.size == 0:
            return
        if not np.all(np.isfinite(present)):
            raise PoolError(f"labels[{head!r}] contains inf; use NaN for a missing label")
        if self.is_classification:
            bad = present[(present != np.round(present)) | (present < 0) | (present >= self.n_classes)]
            if bad.size:
                raise PoolError(
                    f"labels[{head!r}] has values {bad[:5].tolist()} that are not class indices "
                    f"0..{self.n_classes - 1}; map class names to indices first"
                )
        elif self.label_range is not None:
            lo, hi = self.label_range
            bad = present[(present < lo) | (present > hi)]
            if bad.size:
                raise PoolError(
                    f"labels[{head!r}] has values {bad[:5].tolist()} outside the task's "
                    f"label_range {self.label_range}; rescale them or widen Task.label_range"
                )


class Pool:
    """Samples with named modalities, stable ids, labels per head and a labeled mask.

    Labeling is explicit (:meth:`label`), so a simulated oracle and a human one serve the
    same loop. :meth:`label_cost` counts labels per head (a four-head sample costs 4).
    """

    def __init__(
        self,
        modalities: Mapping[str, np.ndarray],
        task: Task,
        *,
        ids: Sequence | np.ndarray | None = None,
        labels: Mapping[str, np.ndarray] | None = None,
        lengths: Mapping[str, np.ndarray] | None = None,
        labeled: np.ndarray | None = None,
        meta: Mapping[str, np.ndarray] | None = None,
        check_finite: bool = True,
    ) -> None:
        if not modalities:
            raise PoolError("a Pool needs at least one modality, e.g. {'text': array [N, D]}")
        self.task = task
        self.modalities: dict[str, np.ndarray] = {}
        sizes = {}
        for name, arr in modalities.items():
            if not isinstance(arr, np.ndarray):
                arr = np.asarray(arr)
            if arr.ndim < 2:
                raise PoolError(f"modality {name!r} must be [N, ...] with a feature axis, got shape {arr.shape}")
            sizes[name] = arr.shape[0]
            self.modalities[name] = arr
        if len(set(sizes.values())) > 1:
            raise PoolError(f"modalities have different numbers of samples: {sizes}; every modality needs one row per sample")
        n = next(iter(sizes.values()))
        self.n = n
        if check_finite:
            for name, arr in self.modalities.items():
                _check_finite(name, arr)

        self.lengths: dict[str, np.ndarray] = {}
        for name, lens in (lengths or {}).items():
            if name not in self.modalities:
                raise PoolError(f"lengths given for unknown modality {name!r}; modalities are {list(self.modalities)}")
            arr = self.modalities[name]
            if arr.ndim != 3:
                raise PoolError(f"lengths[{name!r}] given but modality {name!r} is not a padded sequence [N, L, D]")
            lens = np.asarray(lens)
            if lens.shape != (n,):
                raise PoolError(f"lengths[{name!r}] must have shape ({n},), got {lens.shape}")
            if np.any(lens < 1) or np.any(lens > arr.shape[1]):
                bad = np.flatnonzero((lens < 1) | (lens > arr.shape[1]))[:5]
                raise PoolError(
                    f"lengths[{name!r}] must be in 1..{arr.shape[1]} (the padded length); "
                    f"samples at positions {bad.tolist()} have {lens[bad].tolist()}"
                )
            self.lengths[name] = lens.astype(np.int64)

        self.ids = np.arange(n) if ids is None else np.asarray(ids)
        if self.ids.shape != (n,):
            raise PoolError(f"ids must have shape ({n},), got {self.ids.shape}")
        uniq, counts = np.unique(self.ids, return_counts=True)
        if uniq.size != n:
            raise PoolError(f"ids are not unique: {uniq[counts > 1][:5].tolist()} appear more than once")
        self._index = {k: i for i, k in enumerate(self.ids.tolist())}

        self.labels: dict[str, np.ndarray] = {h: np.full(n, np.nan) for h in task.heads}
        for head, vals in (labels or {}).items():
            if head not in task.heads:
                raise PoolError(f"labels for head {head!r}, but the task's heads are {task.heads}")
            vals = np.asarray(vals, dtype=np.float64)
            if vals.shape != (n,):
                raise PoolError(f"labels[{head!r}] must have shape ({n},), got {vals.shape}")
            task.check_labels(head, vals)
            self.labels[head] = vals.copy()

        if labeled is None:
            labeled = ~np.isnan(self.labels[MAIN_HEAD])
        labeled = np.asarray(labeled, dtype=bool)
        if labeled.shape != (n,):
            raise PoolError(f"labeled must be a bool mask of shape ({n},), got {labeled.shape}")
        missing = labeled & np.isnan(self.labels[MAIN_HEAD])
        if missing.any():
            raise PoolError(
                f"{int(missing.sum())} samples are marked labeled without a {MAIN_HEAD!r} label "
                f"(first positions {np.flatnonzero(missing)[:5].tolist()})"
            )
        self.labeled = labeled.copy()

        self.meta: dict[str, np.ndarray] = {}
        for key, vals in (meta or {}).items():
            vals = np.asarray(vals)
            if vals.shape[:1] != (n,):
                raise PoolError(f"meta[{key!r}] must have one entry per sample ({n}), got shape {vals.shape}")
            self.meta[key] = vals

    # ----------------------------------------------------------------- views
    @property
    def modality_names(self) -> list[str]:
        return list(self.modalities)

    def unlabeled_positions(self) -> np.ndarray:
        return np.flatnonzero(~self.labeled)

    def labeled_positions(self) -> np.ndarray:
        return np.flatnonzero(self.labeled)

    @property
    def n_unlabeled(self) -> int:
        return int((~self.labeled).sum())

    @property
    def n_labeled(self) -> int:
        return int(self.labeled.sum())

    def positions(self, ids: Sequence | np.ndarray) -> np.ndarray:
        """Positions of the given ids; an unknown id is an error that names it."""
        out = np.empty(len(ids), dtype=np.int64)
        for j, k in enumerate(np.asarray(ids).tolist()):
            try:
                out[j] = self._index[k]
            except KeyError:
                raise PoolError(f"unknown id {k!r}: it is not in this pool") from None
        return out

    def take(self, positions: Sequence[int] | np.ndarray) -> "Pool":
        """A new Pool with the samples at ``positions`` (arrays copied), labels and mask kept."""
        pos = np.asarray(positions, dtype=np.int64)
        return Pool(
            {k: np.asarray(v[pos]) for k, v in self.modalities.items()},
            self.task,
            ids=self.ids[pos],
            labels={h: v[pos] for h, v in self.labels.items()},
            lengths={k: v[pos] for k, v in self.lengths.items()},
            labeled=self.labeled[pos],
            meta={k: v[pos] for k, v in self.meta.items()},
            check_finite=False,
        )

    def is_sequence(self, name: str) -> bool:
        return self.modalities[name].ndim == 3

    def pooled(self, name: str, positions: np.ndarray | None = None) -> np.ndarray:
        """Modality ``name`` as one float32 vector per sample: the mean over the valid steps of
        a sequence ``[N, L, D]`` (its ``lengths``, else all ``L``), the flattened row otherwise."""
        arr = self.modalities[name]
        pos = np.arange(self.n) if positions is None else np.asarray(positions, dtype=np.int64)
        x = np.asarray(arr[pos], dtype=np.float32)
        if x.ndim != 3:
            return x.reshape(len(pos), -1)
        if name not in self.lengths:
            return x.mean(axis=1)
        lens = self.lengths[name][pos]
        valid = np.arange(x.shape[1])[None, :] < lens[:, None]
        return np.einsum("nld,nl->nd", x, valid.astype(np.float32)) / lens[:, None].astype(np.float32)

    # -------------------------------------------------------------- labeling
    def label(
        self,
        ids: Sequence | np.ndarray,
        labels: Mapping[str, Sequence[float] | np.ndarray] | Sequence[float] | np.ndarray,
        *,
        relabel: bool = False,
    ) -> None:
        """Record labels for ``ids`` and mark them labeled.

        ``labels`` maps head -> values aligned with ``ids`` (a bare array means the ``"M"``
        head). Heads not given stay missing. Labeling an already labeled sample is an error
        unless ``relabel=True``.
        """
        pos = self.positions(ids)
        if len(np.unique(pos)) != len(pos):
            raise PoolError("label(): ids contain duplicates; give each id once")
        if not isinstance(labels, Mapping):
            labels = {MAIN_HEAD: labels}
        if MAIN_HEAD not in labels:
            raise PoolError(f"label(): the fused head {MAIN_HEAD!r} label is required for every sample")
        already = self.labeled[pos]
        if already.any() and not relabel:
            raise PoolError(
                f"label(): ids {self.ids[pos[already]][:5].tolist()} are already labeled; "
                "pass relabel=True to overwrite their labels"
            )
        new = {}
        for head, vals in labels.items():
            if head not in self.task.heads:
                raise PoolError(f"label(): head {head!r} is not one of the task's heads {self.task.heads}")
            vals = np.asarray(vals, dtype=np.float64)
            if vals.shape != (len(pos),):
                raise PoolError(f"label(): labels[{head!r}] must have one value per id ({len(pos)}), got shape {vals.shape}")
            self.task.check_labels(head, vals)
            new[head] = vals
        if np.isnan(new[MAIN_HEAD]).any():
            raise PoolError(f"label(): the {MAIN_HEAD!r} label is NaN for some ids; every labeled sample needs one")
        for head, vals in new.items():
            self.labels[head][pos] = vals
        self.labeled[pos] = True

    def label_cost(self) -> dict[str, int]:
        """Labels paid for, per head: present labels among labeled samples."""
        return {h: int((~np.isnan(v[self.labeled])).sum()) for h, v in self.labels.items()}

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(v.shape[1:])}" for k, v in self.modalities.items())
        return f"Pool(n={self.n}, labeled={self.n_labeled}, task={self.task.kind}, modalities=[{shapes}])"


def _check_finite(name: str, arr: np.ndarray, chunk: int = 4096) -> None:
    if not np.issubdtype(arr.dtype, np.floating):
        return
    for start in range(0, arr.shape[0], chunk):
        block = np.asarray(arr[start : start + chunk])
        if not np.isfinite(block).all():
            rows = start + np.flatnonzero(~np.isfinite(block.reshape(block.shape[0], -1)).all(axis=1))
            raise PoolError(
                f"modality {name!r} has NaN or inf at sample positions {rows[:5].tolist()}; "
                "clean the features (MMSA audio: replace -inf with 0, as mmal.data's loaders do)"
            )
