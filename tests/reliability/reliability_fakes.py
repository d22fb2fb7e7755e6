"""A small numpy task model with every capability, and random pools, for the reliability suite.

``LinearNet`` is an honest linear network, symmetric in its modalities: modality ``m``'s
encoder ``f_m = x_m W_m`` (``W_m`` drawn from a stream named after ``m``, so it does not
depend on the order of the pool's modality dict), a unimodal head ``f_m U_m`` per modality
and a fused linear head on the concatenation ``[f_1, ..., f_M]``. ``fit`` solves the heads
by ridge regression on the labeled samples (one-hot targets for classification), so the
model learns and a loop is non-trivial. Gradients are exact closed forms for CE / L1:

- ``head:M``: ``delta = dL/d out_M``, ``h = [f_1, ..., f_M]``;
- ``enc:k`` under head ``H``: ``delta = dL/d out_H  @  (the head's block for f_k)^T``, ``h = x_k``.

``canonical=True`` orders the modalities by name (embeddings, heads, fused feature) instead of
the pool's dict order.

``zero=True`` sets every weight to 0: every gradient and embedding is 0, every probability
is uniform, every masked prediction equal (zero Shapley contributions), every criterion
constant -- the degenerate inputs of issue 10.
"""

from __future__ import annotations

import numpy as np

import mmal
from mmal.grads import RankOne
from mmal.rng import derive_rng

ALL_CAPS = frozenset({"embed", "grad_embed", "predict_proba_samples", "predict_masked"})
EMB = 4


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ridge(X, Y, lam=1.0):
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ Y)


class LinearNet:
    def __init__(self, *, zero: bool = False, caps=ALL_CAPS, dropout: float = 0.3, canonical: bool = False):
        self.zero, self.capabilities, self.dropout, self.canonical = zero, frozenset(caps), dropout, canonical
        self.fit_signature_ = None  # the core's fitted-state check (mmal.model.check_fitted)

    # ------------------------------------------------------------------ fit
    def fit(self, pool, *, seed=0):
        self.task_ = pool.task
        self.fit_signature_ = mmal.model.fit_signature(pool)
        self.mods_ = sorted(pool.modality_names) if self.canonical else pool.modality_names
        self.out_ = pool.task.n_classes if pool.task.is_classification else 1
        self.W = {}
        for m in self.mods_:
            d = pool.pooled(m).shape[1]
            w = derive_rng(0, 0, f"W:{m}").normal(size=(d, EMB)) / np.sqrt(d)
            self.W[m] = np.zeros_like(w) if self.zero else w
        pos = pool.labeled_positions()
        y = pool.labels["M"][pos]
        Y = np.eye(self.out_)[y.astype(int)] if pool.task.is_classification else y[:, None]
        feats = self._f(pool, pos)
        F = np.concatenate([feats[m] for m in self.mods_], axis=1)
        V = ridge(F, Y)
        self.V = {m: V[j * EMB:(j + 1) * EMB] for j, m in enumerate(self.mods_)}
        self.U = {m: ridge(feats[m], Y) for m in self.mods_}
        if self.zero:
            self.V = {m: np.zeros_like(v) for m, v in self.V.items()}
            self.U = {m: np.zeros_like(u) for m, u in self.U.items()}
        return self

    @property
    def unimodal_heads(self):
        return {m: m for m in self.mods_}

    def grad_layers(self):
        return [f"enc:{m}" for m in self.mods_] + ["head:M"] + [f"head:{m}" for m in self.mods_]

    # ------------------------------------------------------------------ forward
    def _pos(self, pool, positions):
        return np.arange(pool.n) if positions is None else np.asarray(positions, dtype=np.int64)

    def _x(self, pool, pos):
        return {m: pool.pooled(m, pos).astype(np.float64) for m in self.mods_}

    def _f(self, pool, pos, absent=frozenset()):
        x = self._x(pool, pos)
        return {m: (np.zeros((len(pos), EMB)) if m in absent else x[m] @ self.W[m]) for m in self.mods_}

    def _outs(self, pool, pos, absent=frozenset()):
        f = self._f(pool, pos, absent)
        out = {"M": sum(f[m] @ self.V[m] for m in self.mods_)}
        out |= {m: f[m] @ self.U[m] for m in self.mods_}
        return out

    def _finish(self, out):
        return softmax(out) if self.task_.is_classification else out

    def predict(self, pool, positions=None):
        outs = self._outs(pool, self._pos(pool, positions))
        if self.task_.is_classification:
            return {h: o.argmax(1) for h, o in outs.items()}
        return {h: o[:, 0] for h, o in outs.items()}

    def predict_proba(self, pool, positions=None):
        if not self.task_.is_classification:
            raise mmal.CapabilityError("predict_proba is for classification tasks")
        return {h: softmax(o) for h, o in self._outs(pool, self._pos(pool, positions)).items()}

    def embed(self, pool, positions=None):
        f = self._f(pool, self._pos(pool, positions))
        return {**f, "fused": np.concatenate([f[m] for m in self.mods_], axis=1)}

    def predict_masked(self, pool, positions=None, *, absent=frozenset()):
        return self._finish(self._outs(pool, self._pos(pool, positions), frozenset(absent))["M"])

    def predict_proba_samples(self, pool, positions=None, *, T=10, seed=0):
        pos = self._pos(pool, positions)
        rng = np.random.default_rng(seed)
        f = self._f(pool, pos)
        draws = []
        for _ in range(T):
            keep = {m: (rng.random(f[m].shape) >= self.dropout) / (1 - self.dropout) for m in sorted(self.mods_)}
            draws.append(self._finish(sum((f[m] * keep[m]) @ self.V[m] for m in self.mods_)))
        return np.stack(draws, axis=2)

    # ------------------------------------------------------------------ gradients
    def _dout(self, out, labels):
        """``dL/d out`` for CE (``p - e_y``) or L1 (``sign(out - y)``)."""
        if self.task_.is_classification:
            return softmax(out) - np.eye(self.out_)[np.asarray(labels, dtype=int)]
        return np.sign(out - np.asarray(labels, dtype=np.float64)[:, None])

    def _labels(self, head, outs, pseudo):
        if isinstance(pseudo, dict):
            return np.asarray(pseudo[head])
        src = outs["M"] if pseudo in (None, "fused") else outs[head]
        if self.task_.is_classification:
            return src.argmax(1)
        return src[:, 0] + np.where(src[:, 0] >= 0, 1.0, -1.0)

    def grad_embed(self, pool, positions=None, *, head="M", layer="head:M", pseudo=None, bias=False):
        pos = self._pos(pool, positions)
        outs, f = self._outs(pool, pos), self._f(pool, pos)
        dout = self._dout(outs[head], self._labels(head, outs, pseudo))
        kind, _, name = layer.partition(":")
        if kind == "head":
            if name != head:
                raise ValueError(f"layer {layer!r} does not belong to head {head!r}")
            h = np.concatenate([f[m] for m in self.mods_], axis=1) if head == "M" else f[head]
            return RankOne(dout.astype(np.float32), h.astype(np.float32))
        if kind != "enc" or name not in self.mods_:
            raise ValueError(f"unknown layer {layer!r}; layers are {self.grad_layers()}")
        block = self.V[name] if head == "M" else (self.U[name] if head == name else np.zeros_like(self.U[name]))
        return RankOne((dout @ block.T).astype(np.float32), self._x(pool, pos)[name].astype(np.float32))


def random_pool(seed, *, n=30, n_labeled=8, task="classification", n_classes=3, dims=(5, 3), sequence=False,
                identical=False, single_class=None):
    """A pool with ``len(dims)`` modalities ``m0, m1, ...`` (the last a padded sequence if
    ``sequence``), ``n_labeled`` random samples labeled; ``identical``: every row the same;
    ``single_class``: every labeled sample has that class."""
    rng = np.random.default_rng(seed)
    mods, lengths = {}, {}
    for i, d in enumerate(dims):
        if sequence and i == len(dims) - 1:
            mods[f"m{i}"] = rng.normal(size=(n, 4, d)).astype(np.float32)
            lengths[f"m{i}"] = rng.integers(1, 5, n)
        else:
            mods[f"m{i}"] = rng.normal(size=(n, d)).astype(np.float32)
    if identical:
        mods = {k: np.repeat(v[:1], n, axis=0) for k, v in mods.items()}
        lengths = {k: np.repeat(v[:1], n) for k, v in lengths.items()}
    if task == "classification":
        t = mmal.Task("classification", n_classes=n_classes)
        y = rng.integers(0, n_classes, n).astype(float)
        if single_class is not None:
            y[:] = single_class
    else:
        t = mmal.Task("regression", label_range=(-1.0, 1.0))
        y = np.round(rng.uniform(-1, 1, n), 1)
    lab = np.zeros(n, bool)
    lab[rng.choice(n, n_labeled, replace=False)] = True
    y[~lab] = np.nan
    return mmal.Pool(mods, t, labels={"M": y}, lengths=lengths, ids=np.array([f"r{i:03d}" for i in range(n)]))


def reorder(pool, order):
    """The same pool with its modality dict in another order (same arrays, ids, labels, mask)."""
    return mmal.Pool({k: pool.modalities[k] for k in order}, pool.task, ids=pool.ids, labels=pool.labels,
                     lengths=pool.lengths, labeled=pool.labeled)


# Fast settings for the strategies that train something of their own (GCN: 200 steps of 128 units).
FAST = {"gcnal": {"steps": 20, "hidden": 8}, "coregcn": {"steps": 20, "hidden": 8}}


def make_strategy(name):
    return mmal.strategies.get(name, **FAST.get(name, {}))


def strategy_tasks(name):
    return sorted(make_strategy(name).tasks)


def finite_info(info, path="info"):
    """Every number in a Selection's info is finite (what the loop and the report record)."""
    bad = []
    if isinstance(info, dict):
        for k, v in info.items():
            bad += finite_info(v, f"{path}.{k}")
    elif isinstance(info, (list, tuple)):
        for j, v in enumerate(info):
            bad += finite_info(v, f"{path}[{j}]")
    elif isinstance(info, np.ndarray) and np.issubdtype(info.dtype, np.number):
        if not np.isfinite(info).all():
            bad.append(path)
    elif isinstance(info, (float, np.floating)) and not np.isfinite(info):
        bad.append(path)
    return bad
