"""Synthetic "-style" datasets with the shapes, splits and label sets of the papers' data.

Five families (DESIGN §6; GRACE supplement App. A-B, BMMAL Sec. 4.1):

============================  ===============================================  ===================  ======================
family                        modalities (sequence view; features: last dim)   labels               train / valid / test
============================  ===============================================  ===================  ======================
``simsv2-synthetic``          text [50, 768], audio [925, 25], vision          M, T, A, V in        2722 / 647 / 1034
                              [232, 177] (raw scale), lengths for each         [-1, 1], 0.2 grid
``cherma-synthetic``          text [80, 768], audio [L<=64, 768] variable,     7 emotions, M/T/A/V  17230 / 5743 / 5744
                              vision [64, 512]                                 imbalanced           (28,717 at 6:2:2)
``food101-synthetic``         image [2048], text [40, 768] (or token ids       101 classes, M       45719 / 0 / 15294
                              [40] with ``text_format="tokens"``)
``kineticssound-synthetic``   audio [1004, 257] spectrogram frames, visual     31 classes, M        14739 / 0 / 2594
                              [10, 512] frames
``vggsound-synthetic``        audio [512], visual [512] (features only: the    309 classes, M       180911 / 0 / 14843
                              512-d clip features BMMAL's encoders output)
============================  ===============================================  ===================  ======================

``size`` is ``"tiny"`` (a few hundred train samples), ``"small"``, ``"full"`` (the paper's
split sizes) or an int number of train samples (valid / test scaled by the paper's ratios).

**Generative model.** Each sample has a fused label ``y`` and one latent label ``y_k`` per
modality (``y_k = y``, or for SIMS a grid neighbour in the same Acc-3 class). Modality
``k`` sees its label through a latent code ``z = s_k c_k(y_k) + eps`` (class codes, or a
smooth embedding of the score for regression), mapped to its feature space,
``p = scale * (W_k z + 0.2 eps_D)`` (plus per-dimension offsets and scales for raw-scale
modalities). The ``dominant`` modality has signal ``s = signal`` (default per family:
SIMSv2 0.7, CHERMA 0.5, Food101 and KineticsSound 1.0), the others ``signal / dominance``
(default 2). The features view is ``p``; the sequence view is ``p`` plus temporal
noise centred over the valid steps (zeros on padding), so its mean over the valid steps is
``p`` again (except SIMSv2 audio cells set to ``-inf`` and then to 0, see below).

**Latent structure, recorded per sample in ``pool.meta``** (rates are parameters):

- ``conflict`` / ``conflict_modality``: one modality's label (and features) is changed to
  another class (regression: a grid value in another Acc-3 class) than the fused one;
  drawn among non-outliers at ``conflict_rate``.
- ``duplicate_of``: position (in the same split's pool) of the sample this one nearly
  duplicates (same labels, lengths and sequence, features plus noise of 1% of their scale),
  -1 when none; a fraction ``duplicate_rate`` of each split.
- ``outlier``: features carry no label signal and four times the latent noise.

SIMSv2 audio has ``-inf`` in its two log-energy columns at ~2% of the valid frames, like the
real MMSA files; the generator replaces them by 0 as the community loaders do and records the
count in ``Dataset.info["neg_inf_replaced"]``.

Everything is a function of ``seed``: dataset-level draws (labels, flags, lengths, maps) come
from one stream, and each sample's noise from its own stream (seed, family, modality,
sample), so a sample's arrays do not depend on chunking or storage. A view larger in all
(every split and modality) than ``$MMAL_MEMMAP_BYTES`` (1 GiB) is written chunk by chunk to
memory-mapped ``.npy`` files in the cache directory (``$MMAL_CACHE`` or ``~/.cache/mmal``)
and reused from there (see :mod:`mmal.data.lazy`); ``storage="memory"`` / ``"memmap"``
force either.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import errors
from ..metrics import ACC3_EDGES, bin_labels
from ..pool import Pool, Task
from ..rng import stable_hash
from . import Dataset
from .lazy import cache_dir as _cache_dir
from .lazy import cache_key, chunked_array, replace_neg_inf, use_memmap
from .loaders import dataset_from_splits

GENERATOR_VERSION = 1
SIMS_GRID = np.round(np.arange(-5, 6) * 0.2, 1)
SIMS_GRID_PRIOR = np.exp(-0.5 * (SIMS_GRID / 0.6) ** 2) / np.exp(-0.5 * (SIMS_GRID / 0.6) ** 2).sum()
CHERMA_CLASSES = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")
CHERMA_PRIOR = (0.13, 0.07, 0.05, 0.20, 0.30, 0.15, 0.10)
MSA_HEADS = ("M", "T", "A", "V")
MSA_HEAD_MODALITY = {"T": "text", "A": "audio", "V": "vision"}
VIEWS = ("features", "sequence")
LATENT_NOISE_D = 0.2  # isotropic feature-space noise next to the low-rank latent map
OUTLIER_SCALE = 4.0
DUPLICATE_NOISE = 0.01
SEQUENCE_NOISE = 1.0
NEG_INF_FRAME_RATE = 0.02
TOKEN_CLS, TOKEN_SEP, TOKEN_FIRST, KEYWORDS_PER_CLASS, KEYWORD_RATE = 101, 102, 1000, 20, 0.5
ROW_CHUNK_BYTES = 64 << 20


@dataclass(frozen=True)
class ModalitySpec:
    """One modality: feature ``dim``; in the sequence view ``[seq_len, dim]`` padded.

    ``min_len`` set: lengths vary in ``min_len..seq_len`` (tied to the clip's duration, or
    drawn per sample for ``length="own"``); unset: every sample has ``seq_len`` steps.
    """

    dim: int
    seq_len: int | None = None
    min_len: int | None = None
    length: str = "clip"
    scale: float = 1.0
    raw_scale: bool = False
    neg_inf_cols: tuple[int, ...] = ()
    token_vocab: int | None = None


@dataclass(frozen=True)
class FamilySpec:
    name: str
    kind: str
    modalities: dict[str, ModalitySpec]
    sizes: dict[str, tuple[int, int, int]]
    dominant: str
    default_task_model: str
    heads: tuple[str, ...] = ("M",)
    head_modality: dict[str, str] = field(default_factory=dict)
    n_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    class_prior: tuple[float, ...] | None = None
    full_clip_rate: float = 0.0
    latent_dim: int = 16
    signal: float = 1.0

    @property
    def short(self) -> str:
        return self.name.removesuffix("-synthetic")

    def task(self) -> Task:
        if self.kind == "regression":
            return Task("regression", self.heads, label_range=(-1.0, 1.0), head_modality=self.head_modality)
        return Task("classification", self.heads, n_classes=self.n_classes, head_modality=self.head_modality,
                    class_names=self.class_names)


SIMSV2 = FamilySpec(
    "simsv2-synthetic", "regression",
    {"text": ModalitySpec(768, 50, 6, "own", scale=0.5),
     "audio": ModalitySpec(25, 925, 100, neg_inf_cols=(0, 1)),
     "vision": ModalitySpec(177, 232, 20, raw_scale=True)},
    {"tiny": (300, 71, 114), "small": (1000, 238, 380), "full": (2722, 647, 1034)},
    dominant="text", default_task_model="mtl", heads=MSA_HEADS, head_modality=MSA_HEAD_MODALITY, signal=0.7,
)
CHERMA = FamilySpec(
    "cherma-synthetic", "classification",
    {"text": ModalitySpec(768, 80, 4, "own", scale=0.5),
     "audio": ModalitySpec(768, 64, 8, scale=0.2),
     "vision": ModalitySpec(512, 64, None, scale=0.8)},
    {"tiny": (300, 100, 100), "small": (3000, 1000, 1000), "full": (17230, 5743, 5744)},
    dominant="text", default_task_model="mtl", heads=MSA_HEADS, head_modality=MSA_HEAD_MODALITY,
    n_classes=7, class_names=CHERMA_CLASSES, class_prior=CHERMA_PRIOR, signal=0.5,
)
FOOD101 = FamilySpec(
    "food101-synthetic", "classification",
    {"image": ModalitySpec(2048, None, scale=0.5),
     "text": ModalitySpec(768, 40, 8, "own", scale=0.5, token_vocab=30522)},
    {"tiny": (505, 0, 202), "small": (5050, 0, 1690), "full": (45719, 0, 15294)},
    dominant="text", default_task_model="mm-classifier", n_classes=101, latent_dim=32,
)
KINETICS_SOUND = FamilySpec(
    "kineticssound-synthetic", "classification",
    {"audio": ModalitySpec(257, 1004, 150), "visual": ModalitySpec(512, 10, 3)},
    {"tiny": (310, 0, 124), "small": (3100, 0, 546), "full": (14739, 0, 2594)},
    dominant="audio", default_task_model="mm-classifier", n_classes=31, full_clip_rate=0.8, latent_dim=24,
)
VGGSOUND = FamilySpec(  # the KineticsSound-style family at VGGSound's classes and sizes; "small" = 1/10
    "vggsound-synthetic", "classification",
    {"audio": ModalitySpec(512), "visual": ModalitySpec(512)},
    {"tiny": (618, 0, 51), "small": (18091, 0, 1484), "full": (180911, 0, 14843)},
    dominant="audio", default_task_model="mm-classifier", n_classes=309, latent_dim=32,
)
FAMILIES = {f.name: f for f in (SIMSV2, CHERMA, FOOD101, KINETICS_SOUND, VGGSOUND)}


def split_sizes(spec: FamilySpec, size: str | int) -> tuple[int, int, int]:
    """(train, valid, test) for ``size``: a named size, or an int train size scaled by the paper's ratios."""
    if isinstance(size, str):
        if size not in spec.sizes:
            raise errors.ConfigError(f"size must be one of {sorted(spec.sizes)} or a positive int, got {size!r}")
        return spec.sizes[size]
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise errors.ConfigError(f"size must be one of {sorted(spec.sizes)} or a positive int, got {size!r}")
    tr, va, te = spec.sizes["full"]
    n = int(size)
    return n, (max(1, round(n * va / tr)) if va else 0), max(1, round(n * te / tr))


# ------------------------------------------------------------------------------------ latent
@dataclass
class Latent:
    """Per-sample draws over all splits (global index): labels, flags, lengths."""

    y: np.ndarray
    y_mod: dict[str, np.ndarray]
    outlier: np.ndarray
    conflict: np.ndarray
    conflict_modality: np.ndarray  # index into the modality list, -1 when none
    source: np.ndarray  # global index of the sample whose base arrays this one copies (itself if not a duplicate)
    lengths: dict[str, np.ndarray]


def _stream(seed: int, *parts: Any) -> np.random.Generator:
    return np.random.default_rng([int(seed), *(stable_hash(str(p)) if isinstance(p, str) else int(p) for p in parts)])


def _acc3_class(v: np.ndarray) -> np.ndarray:
    return bin_labels(v, ACC3_EDGES)


def _draw_latent(spec: FamilySpec, bounds: list[tuple[int, int]], seed: int, conflict_rate: float,
                 duplicate_rate: float, outlier_rate: float) -> Latent:
    n = bounds[-1][1]
    rng = _stream(seed, spec.name, "latent")
    mods = list(spec.modalities)
    if spec.kind == "regression":
        y = rng.choice(SIMS_GRID, size=n, p=SIMS_GRID_PRIOR)
    else:
        prior = np.full(spec.n_classes, 1 / spec.n_classes) if spec.class_prior is None else np.asarray(spec.class_prior)
        y = rng.choice(spec.n_classes, size=n, p=prior / prior.sum()).astype(np.float64)
    outlier = rng.random(n) < outlier_rate
    conflict = (rng.random(n) < conflict_rate) & ~outlier
    cmod = np.where(conflict, rng.integers(0, len(mods), n), -1)
    y_mod = {}
    for k, m in enumerate(mods):
        yk = y.copy()
        if spec.kind == "regression":
            jitter = np.clip(y + 0.2 * rng.choice([-1, 0, 1], size=n, p=[0.2, 0.6, 0.2]), -1, 1).round(1)
            keep = _acc3_class(jitter) == _acc3_class(y)
            yk = np.where(keep, jitter, y)
            other = rng.random(n)  # uniform pick among grid values in another Acc-3 class
            for i in np.flatnonzero(cmod == k):
                choices = SIMS_GRID[_acc3_class(SIMS_GRID) != _acc3_class(y[i : i + 1])[0]]
                yk[i] = choices[int(other[i] * len(choices))]
        else:
            shift = rng.integers(1, spec.n_classes, n)
            yk = np.where(cmod == k, (y + shift) % spec.n_classes, y)
        y_mod[m] = yk
    clip = np.where(rng.random(n) < spec.full_clip_rate, 1.0, rng.beta(2.0, 2.0, n))
    own = rng.beta(2.0, 3.0, n)
    lengths = {}
    for m, ms in spec.modalities.items():
        if ms.seq_len is not None and ms.min_len is not None:
            u = own if ms.length == "own" else clip
            lengths[m] = (ms.min_len + np.round(u * (ms.seq_len - ms.min_len))).astype(np.int64)
    source = np.arange(n)
    dup_draw = rng.random(n) < duplicate_rate
    pick = rng.random(n)
    for a, b in bounds:
        is_dup = dup_draw[a:b].copy()
        base = np.flatnonzero(~is_dup)
        for i in np.flatnonzero(is_dup):
            k = np.searchsorted(base, i)  # non-duplicates before position i
            if k == 0:
                continue
            source[a + i] = a + base[int(pick[a + i] * k)]
    dup = source != np.arange(n)
    for arr in (y, outlier, conflict, cmod, *y_mod.values(), *lengths.values()):
        arr[dup] = arr[source[dup]]
    return Latent(y, y_mod, outlier, conflict, cmod, source, lengths)


# ------------------------------------------------------------------------------ the arrays
class _Generator:
    """Rows of one family's arrays for any global sample indices (deterministic per sample)."""

    def __init__(self, spec: FamilySpec, latent: Latent, seed: int, dominant: str, signal: float, dominance: float):
        self.spec, self.latent, self.seed = spec, latent, seed
        rng = _stream(seed, spec.name, "maps")
        r = spec.latent_dim
        self.maps, self.codes, self.raw, self.keywords = {}, {}, {}, {}
        for m, ms in spec.modalities.items():
            self.maps[m] = rng.standard_normal((ms.dim, r)) / np.sqrt(r)
            if spec.kind == "regression":
                basis = _score_basis(SIMS_GRID)
                self.codes[m] = dict(zip(SIMS_GRID.tolist(), basis @ rng.standard_normal((basis.shape[1], r)) / np.sqrt(basis.shape[1])))
            else:
                self.codes[m] = rng.standard_normal((spec.n_classes, r))
            if ms.raw_scale:
                self.raw[m] = (rng.uniform(-50, 300, ms.dim), np.exp(rng.uniform(np.log(0.05), np.log(30), ms.dim)))
            if ms.token_vocab:
                self.keywords[m] = rng.integers(TOKEN_FIRST, ms.token_vocab, (spec.n_classes, KEYWORDS_PER_CLASS))
        self.strength = {m: signal if m == dominant else signal / dominance for m in spec.modalities}
        self.index = {m: k for k, m in enumerate(spec.modalities)}
        self._family = stable_hash(spec.name)
        self._keys: dict[tuple[int, int], np.ndarray] = {}

    def _rng(self, k: int, stream: int, g: int) -> np.random.Generator:
        """Sample ``g``'s own stream for modality ``k`` (``stream``: 0 features, 1 sequence,
        2 duplicate offset, 3 silent frames, 4 tokens, 5 duplicate token edit): Philox keyed by
        (seed, family, k, stream), counter block ``g`` (2**64 blocks apart per sample)."""
        key = self._keys.get((k, stream))
        if key is None:
            key = np.random.SeedSequence([self.seed, self._family, k, stream]).generate_state(2, np.uint64)
            self._keys[(k, stream)] = key
        return np.random.Generator(np.random.Philox(counter=[0, g, 0, 0], key=key))

    def _code(self, m: str, g: int) -> np.ndarray:
        y = self.latent.y_mod[m][g]
        return self.codes[m][float(y)] if self.spec.kind == "regression" else self.codes[m][int(y)]

    def features(self, m: str, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(base ``p`` of each row's source before raw scaling, duplicate offset) as float64 [B, D]."""
        ms, lat, k = self.spec.modalities[m], self.latent, self.index[m]
        z = np.empty((len(g), self.spec.latent_dim))
        e = np.empty((len(g), ms.dim))
        delta = np.zeros((len(g), ms.dim))
        for j, gi in enumerate(g.tolist()):
            src = int(lat.source[gi])
            rng = self._rng(k, 0, src)
            eps = rng.standard_normal(self.spec.latent_dim)
            e[j] = rng.standard_normal(ms.dim)
            z[j] = OUTLIER_SCALE * eps if lat.outlier[src] else self.strength[m] * self._code(m, src) + eps
            if src != gi:
                delta[j] = DUPLICATE_NOISE * self._rng(k, 2, gi).standard_normal(ms.dim)
        base = ms.scale * (z @ self.maps[m].T + LATENT_NOISE_D * e)
        return base, ms.scale * delta

    def _raw(self, m: str, x: np.ndarray) -> np.ndarray:
        if m not in self.raw:
            return x
        offset, scale = self.raw[m]
        return offset + scale * x

    def feature_rows(self, m: str, g: np.ndarray) -> np.ndarray:
        base, delta = self.features(m, g)
        return self._raw(m, base + delta).astype(np.float32)

    def sequence_rows(self, m: str, g: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
        """Rows ``[B, seq_len, D]``: ``p`` plus centred temporal noise on the valid steps, zeros after."""
        ms, lat, k = self.spec.modalities[m], self.latent, self.index[m]
        base, delta = self.features(m, g)
        out = np.zeros((len(g), ms.seq_len, ms.dim), dtype=np.float32)
        replaced = 0
        for j, gi in enumerate(g.tolist()):
            src = int(lat.source[gi])
            n_valid = int(lat.lengths[m][gi]) if m in lat.lengths else ms.seq_len
            noise = self._rng(k, 1, src).standard_normal((n_valid, ms.dim))
            noise -= noise.mean(axis=0)
            x = self._raw(m, base[j] + delta[j] + ms.scale * SEQUENCE_NOISE * noise)
            if ms.neg_inf_cols:
                silent = self._rng(k, 3, gi).random(n_valid) < NEG_INF_FRAME_RATE
                x[np.ix_(silent, ms.neg_inf_cols)] = -np.inf  # as in real MMSA audio ...
                replaced += replace_neg_inf(x)  # ... and cleaned the community's way
            out[j, :n_valid] = x
        return out, ({"neg_inf_replaced": replaced} if ms.neg_inf_cols else {})

    def token_rows(self, m: str, g: np.ndarray) -> np.ndarray:
        """BERT-style token ids ``[B, seq_len]``: [CLS] words [SEP], 0-padded; words are class keywords at a rate set by the signal."""
        ms, lat, k = self.spec.modalities[m], self.latent, self.index[m]
        out = np.zeros((len(g), ms.seq_len), dtype=np.int64)
        for j, gi in enumerate(g.tolist()):
            src = int(lat.source[gi])
            rng = self._rng(k, 4, src)
            n_valid = int(lat.lengths[m][gi])
            rate = 0.0 if lat.outlier[src] else min(1.0, KEYWORD_RATE * self.strength[m])
            words = rng.integers(TOKEN_FIRST, ms.token_vocab, n_valid - 2)
            kw = rng.random(n_valid - 2) < rate
            words[kw] = rng.choice(self.keywords[m][int(lat.y_mod[m][src])], int(kw.sum()))
            if src != gi and n_valid > 2:  # a near-duplicate: one word changed
                d = self._rng(k, 5, gi)
                words[d.integers(0, n_valid - 2)] = d.integers(TOKEN_FIRST, ms.token_vocab)
            out[j, 0], out[j, 1 : n_valid - 1], out[j, n_valid - 1] = TOKEN_CLS, words, TOKEN_SEP
        return out


def _score_basis(y: np.ndarray) -> np.ndarray:
    """Smooth features of a sentiment score, standardized over the grid: y, |y|, y^2, sin, cos."""
    b = np.stack([y, np.abs(y), y**2, np.sin(np.pi * y), np.cos(np.pi * y)], axis=1)
    return (b - b.mean(0)) / b.std(0)


# ----------------------------------------------------------------------------- the dataset
def generate(
    spec: FamilySpec,
    size: str | int = "tiny",
    seed: int = 0,
    view: str = "features",
    *,
    dominant: str | None = None,
    dominance: float = 2.0,
    signal: float | None = None,
    conflict_rate: float = 0.15,
    duplicate_rate: float = 0.05,
    outlier_rate: float = 0.02,
    text_format: str = "features",
    storage: str = "auto",
    cache_dir: str | None = None,
) -> Dataset:
    """Build ``spec``'s dataset (see the module docstring for the model and every parameter)."""
    if view not in VIEWS:
        raise errors.ConfigError(f"view must be one of {VIEWS}, got {view!r}")
    dominant = spec.dominant if dominant is None else dominant
    signal = spec.signal if signal is None else signal
    if dominant not in spec.modalities:
        raise errors.ConfigError(f"dominant must be one of the modalities {list(spec.modalities)}, got {dominant!r}")
    for name, rate in (("conflict_rate", conflict_rate), ("duplicate_rate", duplicate_rate), ("outlier_rate", outlier_rate)):
        if not 0.0 <= rate < 1.0:
            raise errors.ConfigError(f"{name} must be in [0, 1), got {rate}")
    if dominance <= 0 or signal < 0:
        raise errors.ConfigError(f"dominance must be > 0 and signal >= 0, got dominance={dominance}, signal={signal}")
    token_mods = [m for m, ms in spec.modalities.items() if ms.token_vocab]
    if text_format not in ("features", "tokens") or (text_format == "tokens" and not (token_mods and view == "sequence")):
        raise errors.ConfigError(
            f"text_format must be 'features', or 'tokens' with view='sequence' for a family with token text "
            f"({[f.name for f in FAMILIES.values() if any(ms.token_vocab for ms in f.modalities.values())]}); got {text_format!r}"
        )
    sizes = split_sizes(spec, size)
    bounds, start = [], 0
    for n in sizes:
        bounds.append((start, start + n))
        start += n
    latent = _draw_latent(spec, bounds, seed, conflict_rate, duplicate_rate, outlier_rate)
    gen = _Generator(spec, latent, seed, dominant, signal, dominance)
    params = dict(version=GENERATOR_VERSION, family=spec.name, spec=asdict(spec), sizes=sizes, seed=seed, dominant=dominant,
                  dominance=dominance, signal=signal, conflict_rate=conflict_rate, duplicate_rate=duplicate_rate,
                  outlier_rate=outlier_rate, text_format=text_format)
    key = cache_key(**params)
    info: dict[str, Any] = {
        "family": spec.name, "view": view, "size": size, "seed": seed, "splits": dict(zip(("train", "valid", "test"), sizes)),
        "full_splits": dict(zip(("train", "valid", "test"), spec.sizes["full"])), "dominant_modality": dominant,
        "dominance": dominance, "signal": signal, "conflict_rate": conflict_rate, "duplicate_rate": duplicate_rate,
        "outlier_rate": outlier_rate, "cache_files": [],
    }
    if any(ms.neg_inf_cols for ms in spec.modalities.values()) and view == "sequence":
        info["neg_inf_replaced"] = {}
    task = spec.task()
    layouts = [_layout(gen, m, view, text_format) for m in spec.modalities]
    total = sum(int(np.prod(row)) * np.dtype(dtype).itemsize for row, dtype, _ in layouts) * sum(sizes)
    memmapped = use_memmap(storage, total)  # the whole view: memory-mapped when it is large
    pools = {}
    for split, (a, b) in zip(("train", "valid", "test"), bounds):
        if b == a:
            continue
        g = np.arange(a, b)
        mods = {}
        for m in spec.modalities:
            path = _cache_dir(cache_dir) / "synthetic" / f"{spec.short}-{key}-{view}-{split}-{m}.npy" if memmapped else None
            mods[m], counts = _modality_array(gen, m, g, view, text_format, path)
            if path is not None:
                info["cache_files"].append(str(path))
            if "neg_inf_replaced" in counts:
                info["neg_inf_replaced"].setdefault(split, {})[m] = counts["neg_inf_replaced"]
        lengths = {m: latent.lengths[m][a:b] for m in latent.lengths if mods[m].ndim == 3}
        labels = {"M": latent.y[a:b], **{h: latent.y_mod[m][a:b] for h, m in spec.head_modality.items()}}
        meta = {
            "conflict": latent.conflict[a:b].copy(),
            "conflict_modality": np.array(["", *spec.modalities])[latent.conflict_modality[a:b] + 1],
            "duplicate_of": np.where(latent.source[a:b] != g, latent.source[a:b] - a, -1),
            "outlier": latent.outlier[a:b].copy(),
        }
        ids = np.array([f"{spec.short}-{i:06d}" for i in g])
        pools[split] = Pool(mods, task, ids=ids, labels=labels, lengths=lengths, meta=meta,
                            check_finite=not memmapped)
    info["shapes"] = {m: list(x.shape[1:]) for m, x in pools["train"].modalities.items()}
    return dataset_from_splits(spec.name, pools["train"], pools["test"], pools.get("valid"),
                               default_task_model=spec.default_task_model, info=info)


def _layout(gen: _Generator, m: str, view: str, text_format: str) -> tuple[tuple[int, ...], Any, Callable]:
    """Row shape, dtype and row generator of modality ``m`` in ``view``."""
    ms = gen.spec.modalities[m]
    if view == "sequence" and ms.seq_len is not None and ms.token_vocab and text_format == "tokens":
        return (ms.seq_len,), np.int64, gen.token_rows
    if view == "sequence" and ms.seq_len is not None:
        return (ms.seq_len, ms.dim), np.float32, gen.sequence_rows
    return (ms.dim,), np.float32, gen.feature_rows


def _modality_array(gen: _Generator, m: str, g: np.ndarray, view: str, text_format: str,
                    path: Path | None) -> tuple[np.ndarray, dict[str, int]]:
    """Modality ``m`` of the samples ``g`` in ``view``: in memory, or memory-mapped at ``path``."""
    row, dtype, rows = _layout(gen, m, view, text_format)
    row_bytes = int(np.prod(row)) * np.dtype(dtype).itemsize
    return chunked_array((len(g), *row), dtype, lambda s, e: rows(m, g[s:e]), path=path,
                         chunk=max(1, min(1024, ROW_CHUNK_BYTES // row_bytes)))


def make_simsv2(size: str | int = "tiny", seed: int = 0, view: str = "features", **kw: Any) -> Dataset:
    """SIMSv2-style regression: text / audio / vision, heads M, T, A, V in [-1, 1] (GRACE App. A-B)."""
    return generate(SIMSV2, size, seed, view, **kw)


def make_cherma(size: str | int = "tiny", seed: int = 0, view: str = "features", **kw: Any) -> Dataset:
    """CHERMA-style 7-emotion classification, labels per modality and fused (GRACE App. A-B)."""
    return generate(CHERMA, size, seed, view, **kw)


def make_food101(size: str | int = "tiny", seed: int = 0, view: str = "features", **kw: Any) -> Dataset:
    """Food101-style image + text, 101 classes, text the stronger modality (BMMAL Sec. 4.1)."""
    return generate(FOOD101, size, seed, view, **kw)


def make_kinetics_sound(size: str | int = "tiny", seed: int = 0, view: str = "features", **kw: Any) -> Dataset:
    """KineticsSound-style audio + visual, 31 classes, audio the stronger modality (BMMAL Sec. 4.1)."""
    return generate(KINETICS_SOUND, size, seed, view, **kw)


def make_vggsound(size: str | int = "tiny", seed: int = 0, view: str = "features", **kw: Any) -> Dataset:
    """VGGSound-style audio + visual 512-d features, 309 classes, audio the stronger modality (BMMAL Sec. 4.1)."""
    return generate(VGGSOUND, size, seed, view, **kw)


# For the bench's pre-flight, before any data is built: train samples per named size, and the
# keyword arguments that ``**kw`` passes on to :func:`generate` (so a misspelt one is caught).
_GENERATE_KW = [p for p in inspect.signature(generate).parameters.values() if p.kind == p.KEYWORD_ONLY]
for _make, _spec in ((make_simsv2, SIMSV2), (make_cherma, CHERMA), (make_food101, FOOD101), (make_kinetics_sound, KINETICS_SOUND), (make_vggsound, VGGSOUND)):
    _make.sizes = {k: v[0] for k, v in _spec.sizes.items()}  # type: ignore[attr-defined]
    _own = [p for p in inspect.signature(_make).parameters.values() if p.kind != p.VAR_KEYWORD]
    _make.__signature__ = inspect.signature(_make).replace(parameters=_own + _GENERATE_KW)  # type: ignore[attr-defined]
    _make.__annotations__ = {**generate.__annotations__, **_make.__annotations__}
