"""Real-format loaders: MMSA feature pickles, CHERMA-style folders, a generic array folder.

Every loader returns a :class:`mmal.data.Dataset` (train labels behind a simulated oracle)
and takes ``size`` (``"full"``, ``"tiny"`` / ``"small"`` or an int: that many leading train
samples; valid and test stay whole) and ``view`` (``"features"``: each sequence averaged over
its valid steps, ``"sequence"``: the padded arrays with lengths). A malformed file raises
:class:`mmal.ConfigError` naming the file and the key, record or array at fault.

**MMSA pickle** (SIMS / SIMSv2 / MOSI / MOSEI feature files, :func:`load_mmsa`): a pickled
dict ``{"train": S, "valid": S, "test": S}`` (``valid`` optional), each split ``S`` a dict of
arrays with one row per sample::

    text               [N, L_t, D_t]  BERT features                      required
    audio              [N, L_a, D_a]  (may hold -inf: replaced by 0)     required
    vision             [N, L_v, D_v]                                     required
    regression_labels  [N]            fused label                        required
    audio_lengths, vision_lengths  [N]   valid steps                     optional (else full length)
    text_bert          [N, 3, L_t]    token ids / attention mask / segment ids; the mask gives
                                      the text lengths                   optional
    regression_labels_T / _A / _V  [N]   unimodal labels (SIMS); heads T, A, V    optional
    id [N], raw_text [N]                                                  optional (kept in meta)

Labels within [-1, 1] give ``label_range=(-1, 1)`` (SIMS metrics), else (-3, 3) (MOSI).
Lengths are clipped to ``1..L`` (count in ``info["lengths_clipped"]``); ``-inf`` cells are
set to 0 (count in ``info["neg_inf_replaced"]``); any other NaN / inf is an error.

The pickle is read by a restricted unpickler (:func:`safe_unpickle`) that admits only numpy
arrays, dtypes and scalars and plain containers (dict, list, tuple, set, ``OrderedDict``):
a crafted file that names any other callable is refused with a :class:`mmal.ConfigError`
and runs nothing. ``trust_pickle=True`` uses ``pickle.load`` as is, for a file you made
yourself that holds other objects; unpickling such a file runs whatever code it names.

**CHERMA-style folder** (:func:`load_cherma_folder`)::

    <root>/meta.json                  optional {"class_names": [...]} (default: the 7 CHERMA emotions)
    <root>/<split>/labels.json        split in train, test (required), valid (optional): a list of
                                      records in sample order, e.g.
                                      {"id": "0001", "M": "happy", "T": "happy", "A": "neutral", "V": "sad"}
                                      values are class names or indices; "M" required, T/A/V optional
    <root>/<split>/<modality>/<id>.npy   one array per sample and modality: [L, D] (L may vary) or [D]

Every split has the same modality folders. Sequences are zero-padded to the longest one
(or to ``max_len={"audio": 64}``, truncating; count in ``info["truncated"]``); heads T, A, V
read modalities ``text``, ``audio``, ``vision``.

**Generic folder** (:func:`load_folder`)::

    <root>/labels.csv              header "id,M[,<head>...][,split]"; one row per sample, in array order;
                                   an empty cell is a missing label; class names or numbers
    <root>/<modality>.npy          [N, D] or [N, L, D], one per modality (loaded memory-mapped)
    <root>/<modality>_lengths.npy  optional [N] valid steps of an [N, L, D] modality
    <root>/meta.json               optional {"task": "classification" | "regression", "n_classes": C,
                                   "class_names": [...], "label_range": [lo, hi], "head_modality": {"T": "text"}}
    <root>/splits/<split>.txt      when labels.csv has no "split" column: ids of train / valid / test, one a line

``split`` values are ``train``, ``valid`` (or ``val`` / ``dev``) and ``test``. Without
``meta.json`` (or ``task=``) the task is inferred: class names or non-negative integers mean
classification, anything else regression (``label_range=(-1, 1)`` when every label fits).
The default task model has gradients, so every strategy runs without flags: ``mm-classifier``
for classification, ``mtl`` for regression (``task_model="linear"`` stays available).
"""

from __future__ import annotations

import csv
import json
import os
import pickle
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError
from ..pool import MAIN_HEAD, Pool, Task
from . import Dataset, SimulatedOracle
from .lazy import cache_dir as _cache_dir
from .lazy import cache_key, chunked_array, replace_neg_inf, use_memmap

SPLITS = ("train", "valid", "test")
SPLIT_ALIASES = {"train": "train", "valid": "valid", "val": "valid", "dev": "valid", "test": "test"}
CHERMA_CLASS_NAMES = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")
MSA_HEAD_MODALITY = {"T": "text", "A": "audio", "V": "vision"}
NAMED_SUBSETS = {"tiny": 300, "small": 3000}
VIEWS = ("features", "sequence")


# ------------------------------------------------------------------------ shared helpers
def dataset_from_splits(
    name: str,
    train: Pool,
    test: Pool,
    valid: Pool | None = None,
    *,
    default_task_model: str = "linear",
    info: dict[str, Any] | None = None,
) -> Dataset:
    """A Dataset whose train labels move into a :class:`SimulatedOracle` (no modality is copied)."""
    oracle = SimulatedOracle(train.ids, train.labels)
    for v in train.labels.values():
        v[:] = np.nan
    train.labeled[:] = False
    return Dataset(name, train, test, oracle, valid, default_task_model, dict(info or {}))


def pooled_view(pool: Pool, chunk: int = 1024) -> Pool:
    """The same samples with every sequence modality averaged over its valid steps (``Pool.pooled``)."""
    mods = {}
    for m in pool.modality_names:
        parts = [pool.pooled(m, np.arange(s, min(pool.n, s + chunk))) for s in range(0, pool.n, chunk)]
        mods[m] = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
    return Pool(mods, pool.task, ids=pool.ids, labels=pool.labels, labeled=pool.labeled, meta=pool.meta, check_finite=False)


def first_samples(pool: Pool, n: int) -> Pool:
    """The first ``n`` samples, slicing (not copying) memory-mapped modalities."""
    n = min(n, pool.n)
    return Pool({m: a[:n] for m, a in pool.modalities.items()}, pool.task, ids=pool.ids[:n],
                labels={h: v[:n] for h, v in pool.labels.items()}, lengths={m: v[:n] for m, v in pool.lengths.items()},
                labeled=pool.labeled[:n], meta={k: v[:n] for k, v in pool.meta.items()}, check_finite=False)


def _subset_size(size: str | int) -> int | None:
    if size == "full":
        return None
    if isinstance(size, str):
        if size not in NAMED_SUBSETS:
            raise ConfigError(f"size must be 'full', one of {sorted(NAMED_SUBSETS)} or a positive int, got {size!r}")
        return NAMED_SUBSETS[size]
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"size must be 'full', one of {sorted(NAMED_SUBSETS)} or a positive int, got {size!r}")
    return int(size)


def _finish(name: str, pools: dict[str, Pool], size: str | int, view: str, default_task_model: str, info: dict) -> Dataset:
    if view not in VIEWS:
        raise ConfigError(f"view must be one of {VIEWS}, got {view!r}")
    n = _subset_size(size)
    if n is not None:
        pools["train"] = first_samples(pools["train"], n)
    if view == "features":
        pools = {k: pooled_view(p) for k, p in pools.items()}
    info = {**info, "view": view, "size": size, "splits": {k: p.n for k, p in pools.items()}}
    return dataset_from_splits(name, pools["train"], pools["test"], pools.get("valid"),
                               default_task_model=default_task_model, info=info)


def _check_clean(where: str, arr: np.ndarray) -> int:
    """Replace -inf by 0 (in place); any other NaN / inf is an error naming ``where``."""
    if not np.issubdtype(arr.dtype, np.floating):
        return 0
    n = replace_neg_inf(arr)
    if not np.isfinite(arr).all():
        rows = np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))
        raise ConfigError(f"{where} has NaN or +inf at rows {rows[:5].tolist()}; clean these features first")
    return n


# ---------------------------------------------------------------------------- MMSA pickle
MMSA_MODALITIES = ("text", "audio", "vision")

# (module, name) pairs a data pickle may name: numpy arrays / dtypes / scalars and plain containers
_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
SAFE_GLOBALS = frozenset(
    {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("collections", "OrderedDict"),
     ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"), ("builtins", "bytearray")}
    | {(m, n) for m in _NUMPY_CORE for n in ("_reconstruct", "scalar")}
    | {(m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")}
)


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_GLOBALS or (module == "numpy.dtypes" and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"it names {module}.{name}, which a data pickle does not need (only numpy arrays and plain containers "
            "are admitted, so nothing in the file is executed)"
        )


def safe_unpickle(f: Any) -> Any:
    """``pickle.load`` restricted to :data:`SAFE_GLOBALS`: numpy arrays and plain containers only."""
    return _SafeUnpickler(f).load()


def load_mmsa(
    path: str | os.PathLike,
    size: str | int = "full",
    seed: int = 0,
    view: str = "features",
    *,
    label_range: tuple[float, float] | None = None,
    name: str = "mmsa",
    trust_pickle: bool = False,
) -> Dataset:
    """An MMSA feature pickle (module docstring); ``seed`` is unused (the file fixes the data).
    ``trust_pickle=True`` lifts the restricted unpickler (only for files you trust)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = pickle.load(f) if trust_pickle else safe_unpickle(f)
    except FileNotFoundError:
        raise ConfigError(f"MMSA pickle not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"MMSA pickle {path} is a directory; give the .pkl file") from None
    except pickle.UnpicklingError as exc:
        hint = "" if trust_pickle else "; if you made this file yourself and trust it, pass trust_pickle=True"
        raise ConfigError(f"{path} was refused by the safe unpickler: {exc}{hint}") from None
    except Exception as exc:
        raise ConfigError(f"{path} is not a readable pickle: {type(exc).__name__}: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: an MMSA pickle is a dict with 'train', 'valid', 'test'; got {type(raw).__name__}")
    for split in ("train", "test"):
        if split not in raw:
            raise ConfigError(f"{path}: missing split {split!r} (an MMSA pickle has 'train', 'valid', 'test'; found {sorted(raw)})")
    splits = [s for s in SPLITS if s in raw]
    all_labels = []
    for s in splits:
        all_labels.append(_mmsa_numbers(path, s, "regression_labels", _mmsa_require(path, s, raw[s], "regression_labels")).reshape(-1))
    unimodal = all(f"regression_labels_{h}" in raw[s] for s in splits for h in "TAV")
    if label_range is None:
        top = max(float(np.nanmax(np.abs(v))) if v.size else 0.0 for v in all_labels)
        label_range = (-1.0, 1.0) if top <= 1.0 else (-3.0, 3.0)
    heads = ("M", "T", "A", "V") if unimodal else ("M",)
    task = Task("regression", heads, label_range=tuple(label_range), head_modality=MSA_HEAD_MODALITY if unimodal else {})
    info: dict[str, Any] = {"format": "mmsa", "path": str(path), "neg_inf_replaced": {}, "lengths_clipped": {}}
    pools = {s: _mmsa_split(path, s, raw[s], task, info) for s in splits}
    return _finish(name, pools, size, view, "mtl", info)


def _mmsa_require(path: Path, split: str, d: Any, key: str) -> np.ndarray:
    if not isinstance(d, Mapping):
        raise ConfigError(f"{path}: split {split!r} must be a dict of arrays, got {type(d).__name__}")
    if key not in d:
        raise ConfigError(f"{path}: split {split!r} has no key {key!r} (found {sorted(d)})")
    return np.asarray(d[key])


def _mmsa_numbers(path: Path, split: str, key: str, value: Any, dtype: Any = np.float64) -> np.ndarray:
    """A numeric copy of ``value``; text, objects or ragged rows are an error naming the key."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: split {split!r} key {key!r} is not a rectangular array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise ConfigError(f"{path}: split {split!r} key {key!r} holds {arr.dtype} values, not numbers")
    return np.array(arr, dtype=dtype)


def _mmsa_split(path: Path, split: str, d: Mapping, task: Task, info: dict) -> Pool:
    labels = {"M": _mmsa_numbers(path, split, "regression_labels", _mmsa_require(path, split, d, "regression_labels")).reshape(-1)}
    n = labels["M"].shape[0]
    for h in task.heads[1:]:
        key = f"regression_labels_{h}"
        labels[h] = _mmsa_numbers(path, split, key, d[key]).reshape(-1)
    mods, lengths = {}, {}
    for m in MMSA_MODALITIES:
        arr = _mmsa_numbers(path, split, m, _mmsa_require(path, split, d, m), np.float32)  # a copy: cleaned in place
        if arr.ndim != 3:
            raise ConfigError(f"{path}: split {split!r} key {m!r} must be [N, L, D], got shape {arr.shape}")
        info["neg_inf_replaced"].setdefault(split, {})[m] = _check_clean(f"{path}: split {split!r} key {m!r}", arr)
        mods[m] = arr
    if "text_bert" in d:
        tb = np.asarray(d["text_bert"])
        if tb.ndim != 3 or tb.shape[1] < 2:
            raise ConfigError(f"{path}: split {split!r} key 'text_bert' must be [N, 3, L] (ids, mask, segments), got {tb.shape}")
        lengths["text"] = tb[:, 1, :].sum(axis=1)
    for m in ("audio", "vision"):
        if f"{m}_lengths" in d:
            lengths[m] = np.asarray(d[f"{m}_lengths"]).reshape(-1)
    for key, v in [*(("regression_labels_" + h, labels[h]) for h in task.heads[1:]), *mods.items(),
                   *((f"{m}_lengths", v) for m, v in lengths.items())]:
        if v.shape[0] != n:
            raise ConfigError(f"{path}: split {split!r} key {key!r} has {v.shape[0]} rows but 'regression_labels' has {n}")
    for m, v in lengths.items():
        L = mods[m].shape[1]
        clipped = np.clip(v.astype(np.int64), 1, L)
        info["lengths_clipped"].setdefault(split, {})[m] = int((clipped != v).sum())
        lengths[m] = clipped
    ids = np.asarray(d["id"]).reshape(-1) if "id" in d else np.array([f"{split}-{i:06d}" for i in range(n)])
    if ids.shape[0] != n:
        raise ConfigError(f"{path}: split {split!r} key 'id' has {ids.shape[0]} rows but 'regression_labels' has {n}")
    meta = {}
    if "raw_text" in d:
        meta["raw_text"] = np.asarray(d["raw_text"], dtype=object).reshape(-1)
    try:
        return Pool(mods, task, ids=ids, labels=labels, lengths=lengths, meta=meta)
    except ValueError as exc:
        raise ConfigError(f"{path}: split {split!r}: {exc}") from None


# ------------------------------------------------------------------------- CHERMA folder
def load_cherma_folder(
    path: str | os.PathLike,
    size: str | int = "full",
    seed: int = 0,
    view: str = "features",
    *,
    max_len: Mapping[str, int] | None = None,
    storage: str = "auto",
    cache_dir: str | None = None,
    name: str = "cherma-folder",
) -> Dataset:
    """A CHERMA-style folder of per-sample ``.npy`` files with JSON labels (module docstring)."""
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(f"CHERMA folder not found: {root}")
    meta = _read_json(root / "meta.json") if (root / "meta.json").exists() else {}
    class_names = tuple(meta.get("class_names", CHERMA_CLASS_NAMES))
    splits = [s for s in SPLITS if (root / s).is_dir()]
    for s in ("train", "test"):
        if s not in splits:
            raise ConfigError(f"{root}: missing split folder {s!r} (a CHERMA-style folder has train/, valid/, test/)")
    records = {s: _cherma_records(root / s / "labels.json") for s in splits}
    mod_names = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if not mod_names:
        raise ConfigError(f"{root / 'train'}: no modality folders (expected e.g. text/, audio/, vision/ with <id>.npy files)")
    for s in splits:
        found = sorted(p.name for p in (root / s).iterdir() if p.is_dir())
        if found != mod_names:
            raise ConfigError(f"{root / s}: modality folders {found} differ from train's {mod_names}")
    heads = ("M",) + tuple(h for h in ("T", "A", "V") if MSA_HEAD_MODALITY[h] in mod_names and any(h in r for rs in records.values() for r in rs))
    task = Task("classification", heads, n_classes=len(class_names), class_names=class_names,
                head_modality={h: MSA_HEAD_MODALITY[h] for h in heads[1:]})
    # shapes from the .npy headers only
    shapes = {s: {m: [_npy_shape(root / s / m / f"{r['id']}.npy") for r in records[s]] for m in mod_names} for s in splits}
    dims, seq_len = {}, {}
    for m in mod_names:
        all_shapes = [(s, r["id"], sh) for s in splits for r, sh in zip(records[s], shapes[s][m])]
        ndims = {len(sh) for _, _, sh in all_shapes}
        if len(ndims) != 1 or ndims.pop() not in (1, 2):
            bad = next((s, i, sh) for s, i, sh in all_shapes if len(sh) != len(all_shapes[0][2]) or len(sh) not in (1, 2))
            raise ConfigError(f"{root / bad[0] / m / (bad[1] + '.npy')}: shape {bad[2]}; every {m!r} file must be [L, D] or every one [D]")
        for s, i, sh in all_shapes:
            if sh[-1] != all_shapes[0][2][-1] or (len(sh) == 2 and sh[0] < 1):
                raise ConfigError(f"{root / s / m / (i + '.npy')}: shape {sh}; expected {'[L>=1, ' if len(sh) == 2 else '['}{all_shapes[0][2][-1]}]")
        dims[m] = all_shapes[0][2][-1]
        if len(all_shapes[0][2]) == 2:
            longest = max(sh[0] for _, _, sh in all_shapes)
            seq_len[m] = int((max_len or {}).get(m, longest))
    stamp = {s: os.stat(root / s / "labels.json").st_mtime_ns for s in splits}
    info: dict[str, Any] = {"format": "cherma-folder", "path": str(root), "truncated": {}, "cache_files": []}
    pools = {}
    for s in splits:
        recs, n = records[s], len(records[s])
        mods, lengths = {}, {}
        for m in mod_names:
            files = [root / s / m / f"{r['id']}.npy" for r in recs]
            if m in seq_len:
                L = seq_len[m]
                shape = (n, L, dims[m])
                lengths[m] = np.array([min(sh[0], L) for sh in shapes[s][m]], dtype=np.int64)
                info["truncated"].setdefault(s, {})[m] = int(sum(sh[0] > L for sh in shapes[s][m]))
            else:
                shape = (n, dims[m])
            path_m = None
            if use_memmap(storage, int(np.prod(shape)) * 4):
                key = cache_key(root=str(root.resolve()), split=s, modality=m, shape=shape, stamp=stamp[s])
                path_m = _cache_dir(cache_dir) / "cherma-folder" / f"{key}-{s}-{m}.npy"
                info["cache_files"].append(str(path_m))
            mods[m], counts = chunked_array(shape, np.float32, lambda a, b, files=files, shape=shape: _read_padded(files[a:b], shape[1:]),
                                            path=path_m, chunk=max(1, (64 << 20) // (int(np.prod(shape[1:])) * 4)))
            if counts.get("neg_inf_replaced"):
                info.setdefault("neg_inf_replaced", {}).setdefault(s, {})[m] = counts["neg_inf_replaced"]
        labels = {h: np.array([_class_index(root / s / "labels.json", r, h, class_names) for r in recs]) for h in heads}
        ids = np.array([str(r["id"]) for r in recs])
        try:
            pools[s] = Pool(mods, task, ids=ids, labels=labels, lengths=lengths, check_finite=False)  # _read_padded checked
        except ValueError as exc:
            raise ConfigError(f"{root / s}: {exc}") from None
    return _finish(name, pools, size, view, "mtl", info)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"missing file {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None


def _cherma_records(path: Path) -> list[dict]:
    recs = _read_json(path)
    if not isinstance(recs, list):
        raise ConfigError(f"{path}: expected a list of records like {{\"id\": \"0001\", \"M\": \"happy\"}}, got {type(recs).__name__}")
    for i, r in enumerate(recs):
        if not isinstance(r, dict) or "id" not in r or "M" not in r:
            raise ConfigError(f"{path}: record {i} needs keys 'id' and 'M' (got {r!r})")
    ids = [str(r["id"]) for r in recs]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path}: repeated ids {sorted({i for i in ids if ids.count(i) > 1})[:5]}")
    return recs


def _npy_shape(path: Path) -> tuple[int, ...]:
    try:
        return tuple(np.load(path, mmap_mode="r").shape)
    except FileNotFoundError:
        raise ConfigError(f"missing file {path} (one .npy per sample and modality, named <id>.npy)") from None
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{path} is not a readable .npy array: {exc}") from None


def _read_padded(files: list[Path], row_shape: tuple[int, ...]) -> tuple[np.ndarray, dict[str, int]]:
    out = np.zeros((len(files), *row_shape), dtype=np.float32)
    replaced = 0
    for j, f in enumerate(files):
        x = np.array(np.load(f), dtype=np.float32)
        replaced += _check_clean(str(f), x.reshape(1, -1))
        if len(row_shape) == 2:
            x = x[: row_shape[0]]
            out[j, : len(x)] = x
        else:
            out[j] = x
    return out, {"neg_inf_replaced": replaced}


def _class_index(path: Path, rec: Mapping, head: str, class_names: tuple[str, ...]) -> float:
    v = rec.get(head)
    if v is None or v == "":
        return np.nan
    if isinstance(v, str) and v in class_names:
        return float(class_names.index(v))
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < len(class_names):
        return float(v)
    raise ConfigError(f"{path}: id {rec['id']!r} has {head}={v!r}, not a class name {list(class_names)} or index")


# ------------------------------------------------------------------------ generic folder
def load_folder(
    path: str | os.PathLike,
    size: str | int = "full",
    seed: int = 0,
    view: str = "features",
    *,
    task: str | None = None,
    name: str = "folder",
) -> Dataset:
    """A generic folder of per-modality arrays and a label table (module docstring)."""
    pool, split = load_folder_pool(path, task=task)
    root = Path(path)
    pools = {}
    for s in SPLITS:
        pos = np.flatnonzero(split == s)
        if pos.size == 0:
            if s != "valid":
                raise ConfigError(f"{root}: no samples in split {s!r} (labels.csv 'split' column or splits/{s}.txt)")
            continue
        pools[s] = _select(pool, pos)
        missing = np.isnan(pools[s].labels[MAIN_HEAD])
        if missing.any():
            raise ConfigError(f"{root / 'labels.csv'}: split {s!r} has samples without an M label, e.g. ids {pools[s].ids[missing][:5].tolist()}")
    model = "mm-classifier" if pool.task.is_classification else "mtl"  # both have gradients (BADGE, BMMAL, GRACE)
    return _finish(name, pools, size, view, model, {"format": "folder", "path": str(root)})


def _select(pool: Pool, pos: np.ndarray) -> Pool:
    if pos.size and np.array_equal(pos, np.arange(pos[0], pos[0] + pos.size)):  # contiguous: slice, keep memmaps
        sl = slice(int(pos[0]), int(pos[0]) + pos.size)
        return Pool({m: a[sl] for m, a in pool.modalities.items()}, pool.task, ids=pool.ids[sl],
                    labels={h: v[sl] for h, v in pool.labels.items()}, lengths={m: v[sl] for m, v in pool.lengths.items()},
                    meta={k: v[sl] for k, v in pool.meta.items()}, check_finite=False)
    return pool.take(pos)


def load_folder_pool(path: str | os.PathLike, *, task: str | None = None) -> tuple[Pool, np.ndarray]:
    """Every sample of a generic folder as one Pool (labeled where ``M`` is given) and each sample's split."""
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(f"folder not found: {root}")
    meta = _read_json(root / "meta.json") if (root / "meta.json").exists() else {}
    header, rows = _read_csv(root / "labels.csv")
    ids = np.array([r["id"] for r in rows])
    n = len(rows)
    heads = [h for h in header if h not in ("id", "split")]
    if MAIN_HEAD not in heads:
        raise ConfigError(f"{root / 'labels.csv'}: no {MAIN_HEAD!r} column (header must be id,M[,T,A,V][,split]; got {header})")
    mods, lengths = {}, {}
    for f in sorted(root.glob("*.npy")):
        if f.stem.endswith("_lengths"):
            continue
        arr = _load_npy(f)
        if arr.ndim not in (2, 3) or arr.shape[0] != n:
            raise ConfigError(f"{f}: shape {arr.shape}; expected [N, D] or [N, L, D] with N = {n} rows of labels.csv")
        mods[f.stem] = arr
    if not mods:
        raise ConfigError(f"{root}: no <modality>.npy arrays")
    for f in sorted(root.glob("*_lengths.npy")):
        m = f.stem.removesuffix("_lengths")
        if m not in mods or mods[m].ndim != 3:
            raise ConfigError(f"{f}: lengths for {m!r}, which is not an [N, L, D] modality here ({sorted(mods)})")
        lens = np.asarray(_load_npy(f)).reshape(-1)
        if lens.shape[0] != n:
            raise ConfigError(f"{f}: {lens.shape[0]} lengths for {n} samples")
        lengths[m] = lens
    t, values = _folder_task(root, meta, task, heads, rows, mods)
    split = _folder_splits(root, header, rows, ids)
    try:
        pool = Pool(mods, t, ids=ids, labels=values, lengths=lengths)
    except ValueError as exc:
        raise ConfigError(f"{root}: {exc}") from None
    return pool, split


def _load_npy(f: Path) -> np.ndarray:
    try:
        return np.load(f, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{f} is not a readable .npy array: {exc}") from None


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k is not None} for r in reader]
    except FileNotFoundError:
        raise ConfigError(f"missing file {path} (header id,M[,T,A,V][,split])") from None
    if "id" not in header:
        raise ConfigError(f"{path}: no 'id' column (header must be id,M[,T,A,V][,split]; got {header})")
    if not rows:
        raise ConfigError(f"{path}: no rows")
    return header, rows


def _folder_task(root: Path, meta: Mapping, task: str | None, heads: list[str], rows: list[dict], mods: Mapping) -> tuple[Task, dict]:
    cells = [r[h] for r in rows for h in heads if r[h] != ""]
    kind = task or meta.get("task")
    class_names = meta.get("class_names")
    numeric = all(_is_number(c) for c in cells)
    if kind is None:
        kind = "classification" if (class_names or not numeric or all(float(c).is_integer() and float(c) >= 0 for c in cells)) else "regression"
    if kind not in ("classification", "regression"):
        raise ConfigError(f"{root / 'meta.json'}: task must be 'classification' or 'regression', got {kind!r}")
    if kind == "classification" and class_names is None and not numeric:
        class_names = sorted({c for c in cells})
    values = {}
    for h in heads:
        col = []
        for r in rows:
            c = r[h]
            if c == "":
                col.append(np.nan)
            elif class_names is not None and c in class_names:
                col.append(float(list(class_names).index(c)))
            elif _is_number(c):
                col.append(float(c))
            else:
                raise ConfigError(f"{root / 'labels.csv'}: id {r['id']!r} has {h}={c!r}, neither a number nor a class name")
        values[h] = np.array(col)
    default_hm = {h: m for h, m in MSA_HEAD_MODALITY.items() if h in heads and m in mods}
    head_modality = dict(meta.get("head_modality", default_hm))
    if kind == "classification":
        n_classes = int(meta.get("n_classes") or (len(class_names) if class_names else int(np.nanmax(np.concatenate(list(values.values())))) + 1))
        t = Task("classification", tuple(heads), n_classes=max(2, n_classes), head_modality=head_modality,
                 class_names=tuple(class_names) if class_names else None)
    else:
        lr = meta.get("label_range")
        if lr is None:
            allv = np.concatenate(list(values.values()))
            lr = (-1.0, 1.0) if np.nanmax(np.abs(allv)) <= 1.0 else None
        t = Task("regression", tuple(heads), label_range=tuple(lr) if lr is not None else None, head_modality=head_modality)
    return t, values


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _folder_splits(root: Path, header: list[str], rows: list[dict], ids: np.ndarray) -> np.ndarray:
    if "split" in header:
        out = []
        for r in rows:
            s = SPLIT_ALIASES.get(r["split"].lower())
            if s is None:
                raise ConfigError(f"{root / 'labels.csv'}: id {r['id']!r} has split={r['split']!r}; use train, valid or test")
            out.append(s)
        return np.array(out)
    if not (root / "splits").is_dir():
        raise ConfigError(f"{root}: no 'split' column in labels.csv and no splits/ folder with train.txt / test.txt")
    out = np.array([""] * len(ids), dtype=object)
    index = {k: i for i, k in enumerate(ids.tolist())}
    for s in SPLITS:
        f = root / "splits" / f"{s}.txt"
        if not f.exists():
            if s == "valid":
                continue
            raise ConfigError(f"missing file {f} (ids of the {s} split, one a line)")
        for line in f.read_text().splitlines():
            k = line.strip()
            if not k:
                continue
            if k not in index:
                raise ConfigError(f"{f}: id {k!r} is not in labels.csv")
            if out[index[k]]:
                raise ConfigError(f"{f}: id {k!r} is already in split {out[index[k]]!r}")
            out[index[k]] = s
    return out.astype(str)


# train samples per named size (None: the whole file), read by the bench's pre-flight
for _load in (load_mmsa, load_cherma_folder, load_folder):
    _load.sizes = {**NAMED_SUBSETS, "full": None}  # type: ignore[attr-defined]
