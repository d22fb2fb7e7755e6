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
    the main head ``"M"`` is the fused prediction and must be among ``heads``. Every field is
    checked here, once: ``n_classes`` an int >= 2 (classification only), ``label_range`` two
    finite numbers ``lo < hi`` (regression only), ``class_names`` one distinct string per class.
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
        heads = self.heads
        if isinstance(heads, str) or not isinstance(heads, (tuple, list)):
            raise PoolError(f"Task.heads must be a tuple of head names such as ('M', 'T'), got {heads!r}")
        if not all(isinstance(h, str) and h for h in heads):
            raise PoolError(f"Task.heads must be non-empty strings, got {tuple(heads)!r}")
        object.__setattr__(self, "heads", tuple(heads))
        if MAIN_HEAD not in self.heads:
            raise PoolError(f"Task.heads must contain the fused head {MAIN_HEAD!r}, got {self.heads}")
        if len(set(self.heads)) != len(self.heads):
            raise PoolError(f"Task.heads has repeated names: {self.heads}")
        if self.kind == "classification":
            c = self.n_classes
            if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)) or c < 2:
                raise PoolError(f"Task.n_classes must be an int >= 2 for classification (the number of classes), "
                                f"got {c!r} ({type(c).__name__})")
            object.__setattr__(self, "n_classes", int(c))
            if self.label_range is not None:
                raise PoolError("Task.label_range is for regression; a classification task has labels 0..n_classes-1")
            if self.class_names is not None:
                names = self.class_names
                if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                    raise PoolError(f"Task.class_names must be a tuple of strings, got {names!r}")
                if len(names) != self.n_classes:
                    raise PoolError(f"Task.class_names must have n_classes={self.n_classes} entries, got {len(names)}")
                if len(set(names)) != len(names):
                    raise PoolError(f"Task.class_names has repeated names: {tuple(names)}")
                object.__setattr__(self, "class_names", tuple(names))
        else:
            if self.n_classes is not None:
                raise PoolError(f"Task.n_classes={self.n_classes!r} is for classification; a regression task has none "
                                "(use Task('classification', n_classes=...) for class labels)")
            if self.class_names is not None:
                raise PoolError("Task.class_names is for classification tasks")
            if self.label_range is not None:
                object.__setattr__(self, "label_range", _label_range(self.label_range))
        if not isinstance(self.head_modality, Mapping):
            raise PoolError(f"Task.head_modality must map head -> modality name, e.g. {{'T': 'text'}}, got {self.head_modality!r}")
        unknown = set(self.head_modality) - set(self.heads)
        if unknown:
            raise PoolError(f"Task.head_modality names heads not in Task.heads: {sorted(unknown)}")
        if MAIN_HEAD in self.head_modality:
            raise PoolError(f"Task.head_modality maps the fused head {MAIN_HEAD!r}; it reads every modality, map only unimodal heads")
        bad = {h: m for h, m in self.head_modality.items() if not isinstance(m, str) or not m}
        if bad:
            raise PoolError(f"Task.head_modality values must be modality names (strings), got {bad}")
        object.__setattr__(self, "head_modality", dict(self.head_modality))

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
        if not isinstance(task, Task):
            raise PoolError(f"task must be a mmal.Task, e.g. Task('regression'), got {type(task).__name__}")
        if not isinstance(modalities, Mapping) or not modalities:
            raise PoolError("a Pool needs at least one modality, e.g. {'text': array [N, D]}")
        self.task = task
        self.modalities: dict[str, np.ndarray] = {}
        sizes = {}
        for name, arr in modalities.items():
            if not isinstance(name, str) or not name:
                raise PoolError(f"modality names must be non-empty strings, got {name!r}")
            arr = _feature_array(name, arr)
            sizes[name] = arr.shape[0]
            self.modalities[name] = arr
        if len(set(sizes.values())) > 1:
            raise PoolError(f"modalities have different numbers of samples: {sizes}; every modality needs one row per sample")
        n = next(iter(sizes.values()))
        self.n = n
        missing_mod = {h: m for h, m in task.head_modality.items() if m not in self.modalities}
        if missing_mod:
            raise PoolError(f"Task.head_modality maps heads to modalities this pool lacks: {missing_mod}; "
                            f"the pool's modalities are {list(self.modalities)}")
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
            lens = _integers(f"lengths[{name!r}]", lens, "the number of valid steps of each sample")
            if lens.shape != (n,):
                raise PoolError(f"lengths[{name!r}] must have shape ({n},), got {lens.shape}")
            if np.any(lens < 1) or np.any(lens > arr.shape[1]):
                bad = np.flatnonzero((lens < 1) | (lens > arr.shape[1]))[:5]
                raise PoolError(
                    f"lengths[{name!r}] must be in 1..{arr.shape[1]} (the padded length); "
                    f"samples at positions {bad.tolist()} have {lens[bad].tolist()}"
                )
            self.lengths[name] = lens

        self.ids = np.arange(n) if ids is None else _id_array(ids)
        if self.ids.shape != (n,):
            raise PoolError(f"ids must have shape ({n},), got {self.ids.shape}")
        uniq, counts = np.unique(self.ids, return_counts=True)
        if uniq.size != n:
            raise PoolError(f"ids are not unique: {uniq[counts > 1][:5].tolist()} appear more than once")
        self._index = {k: i for i, k in enumerate(self.ids.tolist())}

        self.labels: dict[str, np.ndarray] = {h: np.full(n, np.nan) for h in task.heads}
        if labels is not None and not isinstance(labels, Mapping):
            raise PoolError(f"labels must map head -> values, e.g. {{'M': [...]}}, got {type(labels).__name__}")
        for head, vals in (labels or {}).items():
            if head not in task.heads:
                raise PoolError(f"labels for head {head!r}, but the task's heads are {task.heads}")
            vals = _label_array(f"labels[{head!r}]", vals, task)
            if vals.shape != (n,):
                raise PoolError(f"labels[{head!r}] must have shape ({n},), got {vals.shape}")
            task.check_labels(head, vals)
            self.labels[head] = vals.copy()

        if labeled is None:
            labeled = ~np.isnan(self.labels[MAIN_HEAD])
        labeled = _bool_mask(labeled)
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
        if isinstance(ids, (str, bytes)) or np.ndim(ids) == 0:
            raise PoolError(f"ids must be a list or array of ids, got the single {type(ids).__name__} {ids!r}; "
                            f"wrap it in a list: [{ids!r}]")
        keys = np.asarray(ids).tolist()
        out = np.empty(len(keys), dtype=np.int64)
        for j, k in enumerate(keys):
            try:
                out[j] = self._index[k]
            except (KeyError, TypeError):
                example = self.ids[0].item() if self.n else None
                hint = (f" (this pool's ids are {type(example).__name__}s, e.g. {example!r})"
                        if self.n and type(example) is not type(k) else "")
                raise PoolError(f"unknown id {k!r}: it is not in this pool{hint}") from None
        return out

    def take(self, positions: Sequence[int] | np.ndarray) -> "Pool":
        """A new Pool with the samples at ``positions`` (arrays copied), labels and mask kept."""
        pos = check_positions(positions, self.n, "take(): positions")
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
            vals = _label_array(f"label(): labels[{head!r}]", vals, self.task)
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


_F32_MAX = float(np.finfo(np.float32).max)
_DTYPE_WORDS = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers", "M": "dates",
                "m": "time deltas", "V": "records"}


def _label_range(value: object) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise PoolError(f"Task.label_range must be two numbers (lo, hi), e.g. (-1.0, 1.0), got {value!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
        raise PoolError(f"Task.label_range must be two finite numbers with lo < hi, e.g. (-1.0, 1.0), got {value!r}")
    return lo, hi


def _feature_array(name: str, arr: object) -> np.ndarray:
    """A modality as a real-valued numeric array ``[N, ...]`` with no zero-width axis."""
    if not isinstance(arr, np.ndarray):
        try:
            arr = np.asarray(arr)
        except (ValueError, TypeError) as exc:
            raise PoolError(f"modality {name!r} is not a rectangular array ({exc}); pad sequences to [N, L, D] "
                            "and give their lengths") from None
    if arr.dtype.kind not in "biuf":
        what = _DTYPE_WORDS.get(arr.dtype.kind, str(arr.dtype))
        raise PoolError(
            f"modality {name!r} holds {what} (dtype {arr.dtype}); a modality must be a real-valued numeric array. "
            "Turn raw text into features first (mmal.nn.text.BertFeatureExtractor); convert numbers with "
            "np.asarray(x, dtype=np.float32)"
        )
    if arr.ndim < 2:
        raise PoolError(f"modality {name!r} must be [N, ...] with a feature axis, got shape {arr.shape}; "
                        "for one feature per sample use x[:, None]")
    if 0 in arr.shape[1:]:
        raise PoolError(f"modality {name!r} has shape {arr.shape}, a zero-width axis; every sample needs at least "
                        "one feature (and a sequence at least one step): drop the modality or fix its array")
    return arr


def _integers(where: str, values: object, what: str) -> np.ndarray:
    """Integer values as int64; NaN, inf, fractions and non-numbers are errors naming ``where``."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise PoolError(f"{where} must be integers ({what}): {exc}") from None
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            at = np.flatnonzero(bad.reshape(-1))[:5]
            raise PoolError(f"{where} must be integers ({what}); positions {at.tolist()} have "
                            f"{arr.reshape(-1)[at].tolist()}")
        return arr.astype(np.int64)
    raise PoolError(f"{where} must be integers ({what}), got dtype {arr.dtype}")


def _id_array(ids: object) -> np.ndarray:
    """Sample ids as a str or int array: one kind, no None / NaN / floats."""
    if isinstance(ids, (str, bytes)):
        raise PoolError(f"ids must hold one id per sample (a list or array), got the single string {ids!r}")
    try:  # a list goes through object dtype, so numpy does not turn [1, "a"] into strings silently
        arr = ids if isinstance(ids, np.ndarray) else np.asarray(list(ids), dtype=object)
    except (ValueError, TypeError) as exc:
        raise PoolError(f"ids must be a 1-D list or array of strings or ints: {exc}") from None
    if arr.dtype.kind == "O" and arr.size and all(isinstance(x, np.generic) for x in arr.reshape(-1)[:1]):
        arr = np.asarray(arr.tolist())  # numpy scalars (from an array's iteration) back to a typed array
    kind = arr.dtype.kind
    if kind in "iuUS":
        return arr
    if kind == "O":
        flat = arr.reshape(-1).tolist()
        pos = next((i for i, x in enumerate(flat) if isinstance(x, bool) or not isinstance(x, (str, int))), None)
        if pos is not None:
            bad = flat[pos]
            raise PoolError(f"ids must be strings or ints; position {pos} holds {bad!r} ({type(bad).__name__}): "
                            "use str or int ids (None, NaN, floats and bools cannot name a sample)")
        if all(isinstance(x, str) for x in flat):
            return arr.astype(str)
        if all(isinstance(x, int) for x in flat):
            return arr.astype(np.int64)
        raise PoolError("ids mix strings and ints; use one kind, e.g. [str(i) for i in ids]")
    raise PoolError(f"ids must be strings or ints (stable names annotators see), got dtype {arr.dtype}; "
                    "convert them, e.g. ids.astype(int) or [f'clip{i}' for i in ...]")


def _label_array(where: str, values: object, task: Task) -> np.ndarray:
    """Labels as float64 with NaN for missing (None counts as missing); text is an error with the fix."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise PoolError(f"{where} must be a 1-D list or array of numbers: {exc}") from None
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    if arr.dtype.kind == "O":
        flat = [np.nan if x is None else x for x in arr.reshape(-1).tolist()]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in flat):
            return np.array(flat, dtype=np.float64).reshape(arr.shape)
        bad = next(x for x in flat if not isinstance(x, (int, float)) or isinstance(x, bool))
    else:
        bad = arr.reshape(-1)[0].item() if arr.size else arr.dtype
    if task.is_classification:
        names = f" (Task.class_names: {list(task.class_names)})" if task.class_names else ""
        fix = f"map class names to indices 0..{task.n_classes - 1} first{names}"
    else:
        fix = "regression labels are numbers"
    raise PoolError(f"{where} must be numbers (NaN for a missing label), got {bad!r}; {fix}")


def _bool_mask(values: object) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind in "iu" and np.isin(arr, (0, 1)).all():
        return arr.astype(bool)
    raise PoolError(f"labeled must be a bool mask (True = labeled), got dtype {arr.dtype}")


def check_positions(positions: object, n: int, where: str) -> np.ndarray:
    """Sample positions as int64: 1-D integers in ``0..n-1`` (no silent wrap-around or truncation)."""
    pos = np.asarray(positions)
    if pos.ndim != 1 or not (pos.dtype.kind in "iu" or pos.size == 0):
        raise PoolError(f"{where} must be a 1-D array of integer positions, got shape {pos.shape} dtype {pos.dtype}")
    pos = pos.astype(np.int64)
    if pos.size and (pos.min() < 0 or pos.max() >= n):
        raise PoolError(f"{where} must be in 0..{n - 1}, got {pos[(pos < 0) | (pos >= n)][:5].tolist()}")
    return pos


def _check_finite(name: str, arr: np.ndarray, chunk: int = 4096) -> None:
    """NaN / inf are errors; so are float64 values beyond float32's range (models compute in float32)."""
    if not np.issubdtype(arr.dtype, np.floating):
        return
    wide = arr.dtype.itemsize > 4
    for start in range(0, arr.shape[0], chunk):
        block = np.asarray(arr[start : start + chunk])
        flat = block.reshape(block.shape[0], -1)
        finite = np.isfinite(flat)
        if not finite.all():
            rows = start + np.flatnonzero(~finite.all(axis=1))
            raise PoolError(
                f"modality {name!r} has NaN or inf at sample positions {rows[:5].tolist()}; "
                "clean the features (MMSA audio: replace -inf with 0, as mmal.data's loaders do)"
            )
        if wide:
            big = (np.abs(flat) > _F32_MAX).any(axis=1)
            if big.any():
                rows = start + np.flatnonzero(big)
                raise PoolError(
                    f"modality {name!r} has values beyond float32's range (|x| > {_F32_MAX:.3g}) at sample positions "
                    f"{rows[:5].tolist()}; the models compute in float32, where these become inf: rescale the features"
                )
