"""BADGE, CoreSet, BALD, DBAL, GCNAL against direct, slow implementations of their formulas.

The task models here are fakes that return fixed arrays (given ones, or ones derived from
the pool's features for the conformance kit), so each strategy is checked on its own math.
"""

import math
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import mmal  # noqa: E402
from mmal.grads import RankOne  # noqa: E402
from mmal.testing import check_strategy  # noqa: E402
from test_kernels import slow_greedy_match, slow_kcenter, slow_kmeanspp, slow_weighted_kmeans  # noqa: E402

ALL_CAPS = frozenset({"embed", "grad_embed", "predict_proba_samples"})


class FakeModel:
    """Fixed per-sample arrays indexed by pool position: given, or derived from the pool in fit()."""

    unimodal_heads = {}

    def __init__(self, caps=ALL_CAPS, **arrays):
        self.capabilities = frozenset(caps)
        self.arrays = arrays
        self.seeds = []

    def fit(self, pool, *, seed=0):
        if self.arrays.get("fixed"):
            return self
        rng = np.random.default_rng(123)
        mods = {m: pool.pooled(m) for m in pool.modality_names}
        x = np.concatenate(list(mods.values()), axis=1)
        fused = np.tanh(x @ rng.normal(size=(x.shape[1], 6)) / 3).astype(np.float32)
        c = pool.task.n_classes or 1
        logits = fused @ rng.normal(size=(6, c)) * 2
        self.arrays = dict(mods=mods, fused=fused, logits=logits, classification=pool.task.is_classification)
        return self

    # the fixed arrays ---------------------------------------------------------
    def _pos(self, pool, positions):
        return np.arange(pool.n) if positions is None else np.asarray(positions)

    def _proba(self, logits):
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict_proba(self, pool, positions=None):
        p = self._pos(pool, positions)
        if "proba" in self.arrays:
            return {"M": self.arrays["proba"][p]}
        return {"M": self._proba(self.arrays["logits"][p])}

    def predict(self, pool, positions=None):
        p = self._pos(pool, positions)
        if self.arrays.get("classification", True):
            return {"M": self.predict_proba(pool, p)["M"].argmax(1)}
        return {"M": self.arrays["logits"][p, 0]}

    def embed(self, pool, positions=None):
        p = self._pos(pool, positions)
        mods = self.arrays.get("mods", {})
        return {**{m: v[p] for m, v in mods.items()}, "fused": self.arrays["fused"][p]}

    def grad_embed(self, pool, positions=None, *, head="M", layer="head:M", pseudo=None, bias=False):
        assert (head, layer) == ("M", "head:M")
        p = self._pos(pool, positions)
        if "delta" in self.arrays:
            return RankOne(self.arrays["delta"][p], self.arrays["h"][p])
        proba = self.predict_proba(pool, p)["M"]
        delta = proba - np.eye(proba.shape[1])[proba.argmax(1)]
        return RankOne(delta.astype(np.float32), self.arrays["fused"][p])

    def predict_proba_samples(self, pool, positions=None, *, T=10, seed=0):
        self.seeds.append(seed)
        p = self._pos(pool, positions)
        if "samples" in self.arrays:
            return self.arrays["samples"][p]
        noise = np.random.default_rng(seed).normal(size=(len(p), self.arrays["logits"].shape[1], T))
        z = self.arrays["logits"][p][:, :, None] + noise
        if not self.arrays["classification"]:
            return z
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def _pool(n=40, n_labeled=8, task="classification", seed=0, C=4):
    rng = np.random.default_rng(seed)
    t = mmal.Task("classification", n_classes=C) if task == "classification" else mmal.Task("regression", label_range=(-1.0, 1.0))
    y = rng.integers(0, C, n).astype(float) if task == "classification" else rng.uniform(-1, 1, n)
    lab = np.zeros(n, bool)
    lab[rng.choice(n, n_labeled, replace=False)] = True
    y[~lab] = np.nan
    return mmal.Pool({"a": rng.normal(size=(n, 3)), "b": rng.normal(size=(n, 2))}, t, labels={"M": y})


def _get(name, **kw):
    return mmal.strategies.get(name, **kw)


# -------------------------------------------------------------------------- BADGE
@pytest.mark.parametrize("seed", [0, 1])
def test_badge_equals_slow_kmeanspp_on_explicit_gradients(seed):
    pool = _pool(seed=seed)
    rng = np.random.default_rng(seed)
    delta = rng.normal(size=(pool.n, 4)).astype(np.float32)
    h = rng.normal(size=(pool.n, 5)).astype(np.float32)
    model = FakeModel(fixed=True, delta=delta, h=h)
    unl = pool.unlabeled_positions()
    G = np.array([[delta[i, a] * h[i, b] for a in range(4) for b in range(5)] for i in unl])  # explicit g = delta ⊗ h
    want = unl[slow_kmeanspp(G, 7, np.random.default_rng(99))]
    got = _get("badge").select(model, pool, 7, rng=np.random.default_rng(99))
    assert np.array_equal(got.positions, want)


def test_badge_is_classification_only():
    with pytest.raises(mmal.CapabilityError, match="classification"):
        _get("badge").select(FakeModel(), _pool(task="regression"), 3, rng=np.random.default_rng(0))


# ------------------------------------------------------------------------ CoreSet
@pytest.mark.parametrize("features", ["fused", "concat"])
def test_coreset_equals_slow_kcenter(features):
    pool = _pool(seed=3)
    rng = np.random.default_rng(3)
    fused = rng.normal(size=(pool.n, 4)).astype(np.float32)
    mods = {"a": rng.normal(size=(pool.n, 3)).astype(np.float32), "b": rng.normal(size=(pool.n, 2)).astype(np.float32)}
    model = FakeModel(fixed=True, fused=fused, mods=mods)
    x = fused if features == "fused" else np.concatenate([mods["a"], mods["b"]], 1)
    want = slow_kcenter(x, 9, pool.labeled_positions().tolist())
    got = _get("coreset", features=features).select(model, pool, 9, rng=np.random.default_rng(0))
    assert np.array_equal(got.positions, want)
    lab = list(pool.labeled_positions()) + list(want[:-1])
    assert got.scores[-1] == pytest.approx(min(np.linalg.norm(x[want[-1]] - x[j]) for j in lab), rel=1e-4)


def test_coreset_rejects_unknown_features():
    with pytest.raises(mmal.ConfigError, match="features"):
        _get("coreset", features="mean")


# --------------------------------------------------------------------------- BALD
def slow_bald(p):
    n, C, T = p.shape
    out = []
    for i in range(n):
        mean = [sum(p[i, c, t] for t in range(T)) / T for c in range(C)]
        h_mean = -sum(m * math.log(m) for m in mean if m > 0)
        mean_h = sum(-sum(p[i, c, t] * math.log(p[i, c, t]) for c in range(C) if p[i, c, t] > 0) for t in range(T)) / T
        out.append(h_mean - mean_h)
    return np.array(out)


def test_bald_equals_slow_mutual_information_topk():
    pool = _pool(seed=4)
    rng = np.random.default_rng(4)
    z = rng.normal(size=(pool.n, 4, 10)) * 2
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    p[:5, :, :] = 0.0  # exact zeros: 0 log 0 = 0
    p[:5, 0, :] = 1.0
    p[5, :, :] = np.eye(4)[:, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]]  # confident but disagreeing: high MI
    model = FakeModel(fixed=True, samples=p)
    unl = pool.unlabeled_positions()
    mi = slow_bald(p[unl])
    want = unl[np.argsort(-mi, kind="stable")[:6]]
    got = _get("bald").select(model, pool, 6, rng=np.random.default_rng(5))
    assert np.array_equal(got.positions, want)
    assert np.allclose(got.scores, np.sort(mi)[::-1][:6])
    assert model.seeds == [int(np.random.default_rng(5).integers(0, 2**31 - 1))]
    from mmal.arrays import mutual_information

    assert np.allclose(mutual_information(p, rows=3), slow_bald(p))  # row chunks (4096 by default) join up


# --------------------------------------------------------------------------- DBAL
def slow_dbal(u, x, k, beta, rng):
    top = sorted(range(len(u)), key=lambda i: (-u[i], i))[: min(len(u), beta * k)]
    C, _ = slow_weighted_kmeans(x[top], k, u[top], rng)
    picks = [top[j] for j in slow_greedy_match(x[top], C)]
    return sorted(picks, key=lambda i: (-u[i], i))


@pytest.mark.parametrize("beta", [1, 3, 10])
def test_dbal_classification_equals_slow(beta):
    pool = _pool(n=60, seed=5)
    rng = np.random.default_rng(5)
    proba = rng.dirichlet(np.ones(4), size=pool.n)
    fused = rng.normal(size=(pool.n, 3)).astype(np.float32)
    model = FakeModel(fixed=True, proba=proba, fused=fused)
    unl = pool.unlabeled_positions()
    u = np.array([1 - (sorted(p)[-1] - sorted(p)[-2]) for p in proba[unl]])
    want = unl[slow_dbal(u, fused[unl], 4, beta, np.random.default_rng(11))]
    got = _get("dbal", beta=beta).select(model, pool, 4, rng=np.random.default_rng(11))
    assert np.array_equal(got.positions, want)


def test_dbal_regression_uses_mc_dropout_std():
    pool = _pool(n=60, seed=6, task="regression")
    rng = np.random.default_rng(6)
    samples = rng.normal(size=(pool.n, 1, 10)) * rng.uniform(0.1, 2, size=(pool.n, 1, 1))
    fused = rng.normal(size=(pool.n, 3)).astype(np.float32)
    model = FakeModel(fixed=True, samples=samples, fused=fused)
    unl = pool.unlabeled_positions()
    u = np.array([math.sqrt(sum((s - np.mean(row)) ** 2 for s in row) / len(row)) for row in samples[unl, 0]])
    ref_rng = np.random.default_rng(12)
    seed = int(ref_rng.integers(0, 2**31 - 1))
    want = unl[slow_dbal(u, fused[unl], 5, 10, ref_rng)]
    got = _get("dbal").select(model, pool, 5, rng=np.random.default_rng(12))
    assert np.array_equal(got.positions, want)
    assert model.seeds == [seed]


def test_dbal_regression_needs_mc_dropout():
    model = FakeModel(caps={"embed"})
    with pytest.raises(mmal.CapabilityError, match="predict_proba_samples"):
        _get("dbal").select(model, _pool(task="regression"), 3, rng=np.random.default_rng(0))


# -------------------------------------------------------------------------- GCNAL
from mmal.builtin.gcnal import gcn_graph, gcn_loss, train_gcn  # noqa: E402


def slow_adjacency(v, keep=None):
    n = len(v)
    S = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j and (keep is None or keep[i, j] or keep[j, i]):
                S[i, j] = max(0.0, float(np.dot(v[i], v[j])))
    A = np.eye(n)
    for i in range(n):
        d = S[i].sum()
        for j in range(n):
            A[i, j] += S[i, j] / d if d > 0 else 0.0
    return A


def dense_adjacency(v):
    """A = D^-1 (S - I) + I with S = clip(V V^T, 0), as whole float64 matrices."""
    S = np.clip(v.astype(np.float64) @ v.T.astype(np.float64), 0.0, None)
    np.fill_diagonal(S, 0.0)
    d = S.sum(1)
    return S / np.where(d > 0, d, 1.0)[:, None] + np.eye(len(v))


def _unit_rows(n, d, seed, nonneg):
    v = np.random.default_rng(seed).normal(size=(n, d))
    v = np.abs(v) if nonneg else v + 0.3  # mixed signs: some cosine similarities are negative
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("nonneg", [False, True])
def test_gcn_dense_graph_equals_the_direct_formula(nonneg):
    import torch

    v = _unit_rows(300, 5, 0, nonneg)
    g = gcn_graph(v)
    assert g.name == "dense"
    assert np.allclose(g.toarray(), slow_adjacency(v), atol=1e-6)
    z = np.random.default_rng(1).normal(size=(300, 3))
    assert np.allclose(g.mm(torch.from_numpy(z.astype(np.float32))).numpy(), slow_adjacency(v) @ z, atol=1e-5)


@pytest.mark.parametrize("nonneg", [False, True])
def test_gcn_dense_graph_at_5000_nodes_in_small_row_blocks(nonneg):
    """The default subset-sized graph is dense (no kNN), built in many row blocks, equal to the whole-matrix formula."""
    import torch

    v = _unit_rows(5000, 16, 2, nonneg)
    g = gcn_graph(v, block_mib=1)  # 26 rows per block
    assert g.name == "dense" and g.n == 5000
    x = torch.from_numpy(v)
    want = dense_adjacency(v) @ v.astype(np.float64)  # the first propagation A V
    got = g.mm(x).numpy()
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-5


def test_gcn_knn_graph_only_above_the_dense_budget():
    v = _unit_rows(30, 5, 0, nonneg=False)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    keep = np.zeros((30, 30), bool)
    for i in range(30):
        keep[i, np.argsort(-sims[i])[:4]] = True
    assert gcn_graph(v, dense_mib=30 * 30 * 4 / 2**20, graph_k=4).name == "dense"  # exactly fits
    sparse = gcn_graph(v, dense_mib=30 * 29 * 4 / 2**20, graph_k=4)
    assert sparse.name == "knn(k=4)"
    assert np.allclose(sparse.toarray(), slow_adjacency(v, keep), atol=1e-5)
    assert gcn_graph(np.abs(v), dense_mib=0, graph_k=4).name == "dense"  # factored: no n x n at all


def test_gcn_loss_is_the_papers_binary_loss():
    import torch

    logits = torch.tensor([0.3, -1.0, 2.0, 0.1, -0.5])
    lab = torch.tensor([True, False, True, False, False])
    s = [1 / (1 + math.exp(-z)) for z in logits.tolist()]
    want = -(math.log(s[0]) + math.log(s[2])) / 2 - 1.2 * (math.log(1 - s[1]) + math.log(1 - s[3]) + math.log(1 - s[4])) / 3
    assert float(gcn_loss(logits, lab, 1.2)) == pytest.approx(want, rel=1e-6)


def test_gcn_learns_labeled_vs_unlabeled_and_is_seeded():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(60, 8))
    lab = np.arange(60) < 20
    v[lab] += 3.0
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    graph = gcn_graph(v)
    s1, f1 = train_gcn(v, graph, lab, seed=3, steps=200)
    s2, f2 = train_gcn(v, graph, lab, seed=3, steps=200)
    assert np.array_equal(s1, s2) and np.array_equal(f1, f2) and f1.shape == (60, 129)
    assert s1[lab].mean() > s1[~lab].mean() + 0.05


class _FixedGCN:
    def __init__(self, scores, feat):
        self.scores, self.feat, self.calls = scores, feat, []

    def __call__(self, v, graph, is_labeled, seed):
        self.calls.append((v, is_labeled, seed))
        return self.scores[: len(v)], self.feat[: len(v)]


@pytest.mark.parametrize("subset", [10000, 15])
def test_uncertain_gcn_given_fixed_scores(subset):
    pool = _pool(n=40, seed=7)
    rng = np.random.default_rng(7)
    fused = rng.normal(size=(pool.n, 4)).astype(np.float32)
    model = FakeModel(fixed=True, fused=fused)
    s = _get("gcnal", subset=subset)
    s.gcn = fixed = _FixedGCN(rng.uniform(size=pool.n), rng.normal(size=(pool.n, 3)).astype(np.float32))
    got = s.select(model, pool, 5, rng=np.random.default_rng(8))

    ref = np.random.default_rng(8)
    unl, lab = pool.unlabeled_positions(), pool.labeled_positions()
    sub = unl if subset >= len(unl) else np.sort(ref.choice(unl, subset, replace=False))
    gap = [abs(fixed.scores[i] - 0.1) for i in range(len(sub))]
    want = sub[sorted(range(len(sub)), key=lambda i: (gap[i], i))[:5]]
    assert np.array_equal(got.positions, want)
    v, is_lab, seed = fixed.calls[0]
    nodes = np.concatenate([sub, lab])
    assert np.allclose(v, fused[nodes] / np.linalg.norm(fused[nodes], axis=1, keepdims=True), atol=1e-6)
    assert np.array_equal(is_lab, np.arange(len(nodes)) >= len(sub))
    assert seed == int(ref.integers(0, 2**31 - 1))
    assert got.info["graph"] == "dense" and got.info["n_nodes"] == len(nodes)
    sparse = _get("gcnal", subset=subset, dense_mib=0)
    sparse.gcn = fixed
    assert sparse.select(model, pool, 5, rng=np.random.default_rng(8)).info["graph"] == f"knn(k={min(32, len(nodes) - 1)})"


def test_gcnal_rejects_bad_graph_parameters():
    with pytest.raises(mmal.ConfigError, match="dense_mib"):
        _get("gcnal", dense_mib=-1)
    with pytest.raises(mmal.ConfigError, match="graph_k"):
        _get("coregcn", graph_k=0)


def test_core_gcn_is_kcenter_on_gcn_features():
    pool = _pool(n=40, seed=9)
    rng = np.random.default_rng(9)
    model = FakeModel(fixed=True, fused=rng.normal(size=(pool.n, 4)).astype(np.float32))
    s = _get("coregcn")
    s.gcn = fixed = _FixedGCN(rng.uniform(size=pool.n), rng.normal(size=(pool.n, 3)).astype(np.float32))
    got = s.select(model, pool, 6, rng=np.random.default_rng(0))
    unl = pool.unlabeled_positions()
    n_unl = len(unl)
    want = unl[slow_kcenter(fixed.feat[: pool.n], 6, list(range(n_unl, pool.n)))]
    assert np.array_equal(got.positions, want)


# ------------------------------------------------------------ conformance and registry
@pytest.mark.parametrize("name,kw", [
    ("badge", {}), ("coreset", {}), ("coreset", {"features": "concat"}), ("bald", {}), ("dbal", {}),
    ("gcnal", {}), ("coregcn", {}),
])
def test_conformance_kit(name, kw):
    if name in ("gcnal", "coregcn"):
        kw = {"steps": 10}  # the contract, not the GCN fit (tested above), and ~100 selections
    check_strategy(lambda: mmal.strategies.get(name, **kw), model_factory=FakeModel)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["badge", "bald", "coreset", "dbal", "gcnal"])
def test_conformance_with_real_task_models(name):
    s = mmal.strategies.get(name)
    model = "mm-classifier" if set(s.tasks) == {"classification"} else "mtl"  # mtl serves both tasks
    kw = {"steps": 10} if name == "gcnal" else {}
    small = dict(feature_dim=6, hidden=5, epochs=2, device="cpu")  # the contract, not the model's quality
    check_strategy(lambda: mmal.strategies.get(name, **kw), model_factory=lambda: mmal.task_models.get(model, **small))


def test_registered_with_requirements():
    for name, tasks, req in [("badge", {"classification"}, {"grad_embed"}), ("bald", {"classification"}, {"predict_proba_samples"}),
                             ("coreset", {"classification", "regression"}, {"embed"}), ("dbal", {"classification", "regression"}, {"embed"}),
                             ("gcnal", {"classification", "regression"}, {"embed"}), ("coregcn", {"classification", "regression"}, {"embed"})]:
        s = mmal.strategies.get(name)
        assert set(s.tasks) == tasks and set(s.requires) == req, name
