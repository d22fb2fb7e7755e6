"""mmal.arrays: every strategy's math on plain arrays (issue 17 item 1, DESIGN §8 layer 1).

For each strategy: the array function on the model's arrays for the whole pool with
``candidates=`` the unlabeled positions equals the plugin through ``mmal.Pool`` (same picks,
same scores, one rng stream); the all-candidate scores equal a direct, slow formula on small
inputs; ``candidates`` restricts the picks; bad input raises an ArrayError naming the argument.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import mmal
from mmal import arrays
from mmal.builtin.bmmal import modality_inputs
from mmal.grads import RankOne
from mmal.shapley import subset_values
from reliability.reliability_fakes import LinearNet, random_pool
from test_kernels import slow_greedy_match, slow_kcenter, slow_kmeanspp, slow_weighted_kmeans

POOL = random_pool(3, n=40, n_labeled=10, n_classes=4)
MODEL = LinearNet().fit(POOL)
UNL = POOL.unlabeled_positions()
REG_POOL = random_pool(4, n=40, n_labeled=10, task="regression")
REG_MODEL = LinearNet().fit(REG_POOL)


def rng():
    return mmal.derive_rng(0, 1, "arrays")


def through_pool(name, budget=6, pool=POOL, model=MODEL, round=1, **params):
    return mmal.strategies.get(name, **params).select(model, pool, budget, rng=rng(), round=round)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------- equal to the plugins
def test_random_equals_the_plugin():
    got = arrays.random(POOL.n, 6, rng(), candidates=UNL)
    assert np.array_equal(got.positions, through_pool("random").positions) and got.scores is None


@pytest.mark.parametrize("fn, plugin, offset", [
    (arrays.least_confidence, "modal-uncertainty", 0.0),
    (arrays.margin, "modal-margin", 1.0),  # modAL ranks by -(p1 - p2); ours is 1 - (p1 - p2)
    (arrays.entropy, "modal-entropy", 0.0),
])
def test_uncertainty_family_equals_the_modal_plugins(fn, plugin, offset):
    got = fn(MODEL.predict_proba(POOL)["M"], 6, candidates=UNL)
    sel = through_pool(plugin)
    assert np.array_equal(got.positions, sel.positions)
    np.testing.assert_allclose(got.picked_scores, sel.scores + offset, atol=1e-12)
    assert np.isnan(got.scores[POOL.labeled]).all() and np.isfinite(got.scores[UNL]).all()


def test_bald_equals_the_plugin():
    r = rng()
    seed = int(r.integers(0, 2**31 - 1))  # the plugin's MC-dropout seed, drawn first
    samples = np.full((POOL.n, 4, 10), 0.25)
    samples[UNL] = MODEL.predict_proba_samples(POOL, UNL, T=10, seed=seed)
    got = arrays.bald(samples, 6, candidates=UNL)
    sel = through_pool("bald")
    assert np.array_equal(got.positions, sel.positions)
    np.testing.assert_allclose(got.picked_scores, sel.scores, rtol=1e-12)


def test_badge_equals_the_plugin_in_every_embedding_form():
    g = MODEL.grad_embed(POOL, head="M", layer="head:M")
    sel = through_pool("badge")
    for emb in (g, (g.delta, g.h), [g]):
        got = arrays.badge(emb, 6, rng(), candidates=UNL)
        assert np.array_equal(got.positions, sel.positions)
        np.testing.assert_allclose(got.info["grad_sq_norm"], sel.info["grad_sq_norm"], rtol=1e-6)


def test_bmmal_equals_the_plugin():
    mods = list(MODEL.unimodal_heads)
    _, delta, z = modality_inputs(MODEL, POOL, np.arange(POOL.n), mods)
    got = arrays.bmmal(subset_values(MODEL, POOL, None, mods), delta, z, 6, rng(), candidates=UNL)
    sel = through_pool("bmmal")
    assert np.array_equal(got.positions, sel.positions)
    Phi = got.info["contributions"]
    assert np.isnan(Phi[POOL.labeled]).all()
    for j, m in enumerate(mods):
        assert sel.info["contribution_pool"][m] == pytest.approx(Phi[UNL, j].mean(), abs=1e-12)
        assert sel.info["contribution_selected"][m] == pytest.approx(Phi[got.positions, j].mean(), abs=1e-12)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_dbal_equals_the_plugin(task):
    pool, model = (POOL, MODEL) if task == "classification" else (REG_POOL, REG_MODEL)
    unl = pool.unlabeled_positions()
    r = rng()
    u = np.zeros(pool.n)
    if task == "classification":
        u[unl] = arrays.margin_scores(model.predict_proba(pool, unl)["M"])
    else:  # the plugin draws the MC-dropout seed first, then k-means draws from the same stream
        u[unl] = arrays.predictive_std(model.predict_proba_samples(pool, unl, T=10, seed=int(r.integers(0, 2**31 - 1))))
    got = arrays.dbal(model.embed(pool)["fused"], u, 4, r, beta=3, candidates=unl)
    sel = mmal.strategies.get("dbal", beta=3).select(model, pool, 4, rng=rng())
    assert np.array_equal(got.positions, sel.positions)
    np.testing.assert_allclose(got.picked_scores, sel.scores, rtol=1e-12)
    assert got.info["n_prefiltered"] == sel.info["n_prefiltered"] == 12
    np.testing.assert_allclose(got.scores[unl], u[unl], rtol=0)


@pytest.mark.parametrize("name", ["grace", "grace-i", "grace-ir", "grace-rp", "grace-rp-m", "grace-additive"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_grace_equals_the_plugin(name, task):
    pool, model = (POOL, MODEL) if task == "classification" else (REG_POOL, REG_MODEL)
    unl = pool.unlabeled_positions()
    strategy = mmal.strategies.get(name, dtype="float64")
    got_in = strategy.inputs(model, pool, np.arange(pool.n))  # the arrays of the whole pool
    got = arrays.grace(got_in["gradients"], 6, candidates=unl, representations=got_in["representations"],
                       **strategy.options(round=3))
    sel = strategy.select(model, pool, 6, rng=rng(), round=3)
    assert np.array_equal(got.positions, sel.positions)
    np.testing.assert_allclose(got.picked_scores, sel.scores, rtol=1e-9, atol=1e-12)
    for crit, v in got.info["normalized"].items():
        np.testing.assert_allclose(v[got.positions], sel.info[crit], rtol=1e-9, atol=1e-12)
    assert got.info["alpha"] == sel.info["alpha"] == pytest.approx(0.8)


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("features", ["fused", "concat"])
def test_coreset_equals_the_plugin(task, features):
    pool, model = (POOL, MODEL) if task == "classification" else (REG_POOL, REG_MODEL)
    emb = model.embed(pool)
    x = emb["fused"] if features == "fused" else np.concatenate([emb[m] for m in ("m0", "m1")], axis=1)
    got = arrays.coreset(x, pool.labeled, 6)
    sel = mmal.strategies.get("coreset", features=features).select(model, pool, 6, rng=rng())
    assert np.array_equal(got.positions, sel.positions) and got.scores is None
    np.testing.assert_array_equal(got.info["radius"], sel.scores)
    assert np.all(np.diff(got.info["radius"]) <= 0)


GCN_FAST = {"steps": 20, "hidden": 8}


@pytest.mark.parametrize("name", ["gcnal", "coregcn"])
@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("subset", [10000, 12])
def test_gcnal_and_coregcn_equal_the_plugins(name, task, subset):
    pool, model = (POOL, MODEL) if task == "classification" else (REG_POOL, REG_MODEL)
    fn = getattr(arrays, name)
    got = fn(model.embed(pool)["fused"], pool.labeled, 6, rng(), subset=subset, **GCN_FAST)
    sel = mmal.strategies.get(name, subset=subset, **GCN_FAST).select(model, pool, 6, rng=rng())
    assert np.array_equal(got.positions, sel.positions)
    assert got.info["graph"] == sel.info["graph"] and got.info["n_nodes"] == sel.info["n_nodes"] == min(subset, 30) + 10
    np.testing.assert_array_equal(got.info["gcn_score"], sel.info["gcn_score"])
    if name == "gcnal":
        np.testing.assert_array_equal(got.picked_scores, sel.scores)
        in_graph = np.isfinite(got.scores)
        assert in_graph.sum() == min(subset, 30) and not in_graph[pool.labeled].any()
        np.testing.assert_allclose(got.picked_scores, -np.abs(got.info["gcn_score"] - 0.1), rtol=0)
    else:
        assert got.scores is None and sel.scores is None


def test_strategies_through_pool_with_candidates_equal_the_arrays_with_candidates():
    cand = UNL[::2][::-1]  # any order
    emb, g = MODEL.embed(POOL)["fused"], MODEL.grad_embed(POOL, head="M", layer="head:M")
    want = {
        "coreset": arrays.coreset(emb, POOL.labeled, 5, candidates=cand),
        "gcnal": arrays.gcnal(emb, POOL.labeled, 5, rng(), candidates=cand, **GCN_FAST),
        "coregcn": arrays.coregcn(emb, POOL.labeled, 5, rng(), candidates=cand, **GCN_FAST),
        "badge": arrays.badge(g, 5, rng(), candidates=cand),
        "modal-margin": arrays.margin(MODEL.predict_proba(POOL)["M"], 5, candidates=cand),
        "random": arrays.random(POOL.n, 5, rng(), candidates=cand),
    }
    for name, picked in want.items():
        sel = mmal.strategies.get(name, **(GCN_FAST if "gcn" in name else {})).select(MODEL, POOL, 5, rng=rng(),
                                                                                     candidates=cand)
        assert np.array_equal(sel.positions, picked.positions), name
        assert set(sel.positions) <= set(cand.tolist())
    mask = np.isin(np.arange(POOL.n), cand)
    sel = mmal.strategies.get("coreset").select(MODEL, POOL, 5, rng=rng(), candidates=mask)
    assert np.array_equal(sel.positions, want["coreset"].positions)
    with pytest.raises(mmal.ArrayError, match="candidates has labeled positions"):
        mmal.strategies.get("coreset").select(MODEL, POOL, 5, rng=rng(), candidates=POOL.labeled_positions()[:2])


# --------------------------------------------------------------- direct, slow formulas
def slow_uncertainties(p):
    """least confidence, margin, entropy of the predictive rows; BALD of the samples (loops)."""
    n, C, T = p.shape
    lc, mg, en, mi = [], [], [], []
    for i in range(n):
        mean = [sum(p[i, c, t] for t in range(T)) / T for c in range(C)]
        top = sorted(mean, reverse=True)
        lc.append(1 - top[0])
        mg.append(1 - (top[0] - top[1]))
        H = -sum(m * math.log(m) for m in mean if m > 0)
        en.append(H)
        mi.append(H - sum(-sum(p[i, c, t] * math.log(p[i, c, t]) for c in range(C) if p[i, c, t] > 0) for t in range(T)) / T)
    return dict(least_confidence=lc, margin=mg, entropy=en, bald=mi)


def mc_samples(seed=0, n=15, C=3, T=5):
    r = np.random.default_rng(seed)
    p = softmax(r.normal(size=(n * T, C)) * 2).reshape(n, T, C).transpose(0, 2, 1).copy()
    p[0] = np.eye(C)[:, [0] * T]  # certain: zero entropy, zero MI
    return p


@pytest.mark.parametrize("name", ["least_confidence", "margin", "entropy", "bald"])
def test_every_candidates_score_is_the_formula(name):
    p = mc_samples()
    cand = np.array([0, 2, 3, 5, 8, 9, 13])
    slow = np.array(slow_uncertainties(p)[name])
    got = getattr(arrays, name)(p, 4, candidates=cand)
    np.testing.assert_allclose(got.scores[cand], slow[cand], atol=1e-12)
    assert np.isnan(np.delete(got.scores, cand)).all()
    assert got.positions.tolist() == sorted(cand.tolist(), key=lambda i: (-slow[i], i))[:4]
    if name != "bald":  # [N, C] is its own predictive distribution
        np.testing.assert_allclose(getattr(arrays, name)(p.mean(axis=2), 4, candidates=cand).scores, got.scores, atol=1e-12)


def float32_probabilities(seed=5, n=3000, C=40):
    """Float32 softmax rows with exact ties, permuted rows (equal entropy in exact arithmetic,
    float64 values apart by roundoff) and near-ties below float32 resolution."""
    r = np.random.default_rng(seed)
    p = softmax(r.normal(0, 2, (n, C))).astype(np.float32)
    p[1000:1200] = p[0]
    p[1200:1400] = r.permuted(np.repeat(p[1:2], 200, axis=0), axis=1)
    p[1400:1500] = p[0] * (1 - 1e-7) + 1e-7 / C
    return p


@pytest.mark.parametrize("name", ["least_confidence", "margin", "entropy"])
def test_float32_uncertainty_scores_and_picks_are_those_of_float64(name):
    """Float32 [N, C] is scored on torch float32 chunks: least confidence and margin give the float64
    values exactly, entropy within its bound, and every pick order is float64's."""
    p = float32_probabilities()
    q = p.astype(np.float64)
    f32, f64 = getattr(arrays, name + "_scores")(p), getattr(arrays, name + "_scores")(q)
    if name == "entropy":
        assert np.abs(f32 - f64).max() <= arrays._uncertainty.entropy_error_bound(p.shape[1])
        assert any(np.argsort(-f32, kind="stable")[:k].tolist() != np.argsort(-f64, kind="stable")[:k].tolist()
                   for k in (1, 100, 300, 700))  # the data does need the float64 re-scoring
    else:
        np.testing.assert_array_equal(f32, f64)
    for k in (1, 100, 300, 700, 2999):
        assert getattr(arrays, name)(p, k).positions.tolist() == np.argsort(-f64, kind="stable")[:k].tolist()


def test_entropy_float32_error_bound_holds_on_extreme_rows():
    r = np.random.default_rng(2)
    for C in (2, 7, 309, 2000):
        rows = [np.full(C, 1 / C), np.eye(C)[0], softmax(r.normal(0, 8, (50, C))), softmax(r.normal(0, 0.01, (50, C))),
                softmax(np.where(r.uniform(size=(50, C)) < 0.5, -80.0, 0.0))]
        p = np.vstack(rows).astype(np.float32)
        err = np.abs(arrays.entropy_scores(p) - arrays.entropy_scores(p.astype(np.float64))).max()
        assert err <= arrays._uncertainty.entropy_error_bound(C), (C, err)


def test_top_k_by_partition_equals_the_full_stable_sort():
    from mmal.arrays._checks import top_k

    r = np.random.default_rng(0)
    for n, k in [(1000, 1), (1000, 10), (1000, 249), (1000, 250), (1000, 1000), (7, 3)]:
        s = r.integers(0, 20, n).astype(float)  # many ties
        cand = np.sort(r.choice(10 * n, n, replace=False))
        assert top_k(s, cand, k).tolist() == cand[np.argsort(-s, kind="stable")[:k]].tolist()
    s, cand = r.integers(0, 20, 1000).astype(float), np.arange(1000)
    s[[3, 500]] = np.nan  # NaN scores keep the full sort's order (NaN last)
    assert top_k(s, cand, 10).tolist() == cand[np.argsort(-s, kind="stable")[:10]].tolist()


def slow_grace(grads, alpha, reps=None, criteria="ire"):
    """Eqs. 4-7 from explicit gradient vectors g_k = delta_k ⊗ h_k, g_mk = delta_mk ⊗ h_k."""
    n = len(next(iter(grads.values()))[2])
    G = {k: (np.einsum("nc,nd->ncd", du, h).reshape(n, -1), np.einsum("nc,nd->ncd", dm, h).reshape(n, -1))
         for k, (du, dm, h) in grads.items()}
    s_i = sum(np.linalg.norm(gk + gm, axis=1) for gk, gm in G.values())
    embs = [gk + gm for gk, gm in G.values()] if reps is None else reps
    s_r = sum(np.array([sum(np.linalg.norm(e[p] - e[q]) for q in range(n)) for p in range(n)]) for e in embs)
    cos = lambda a, b: 0.0 if not (np.linalg.norm(a) and np.linalg.norm(b)) else a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    s_e = sum(np.array([cos(gk[p], gm[p]) for p in range(n)]) for gk, gm in G.values())
    mm = lambda x: (x - x.min()) / (x.max() - x.min())
    if criteria == "i":
        return mm(s_i)
    if criteria == "ir":
        return mm(s_i) * mm(s_r)
    return alpha * mm(s_e) + mm(s_i) * mm(s_r)


@pytest.mark.parametrize("criteria", ["i", "ir", "ire"])
def test_grace_scores_of_every_candidate_are_eqs_4_to_8(criteria):
    r = np.random.default_rng(1)
    n = 14
    grads = {k: (r.normal(size=(n, 3)), r.normal(size=(n, 3)), r.normal(size=(n, 4))) for k in ("t", "a")}
    cand = np.array([1, 2, 4, 6, 7, 9, 10, 12])
    got = arrays.grace(grads, 3, candidates=cand, round=4, criteria=criteria, dtype="float64")
    want = slow_grace({k: tuple(x[cand] for x in g) for k, g in grads.items()}, alpha=0.7, criteria=criteria)
    np.testing.assert_allclose(got.scores[cand], want, rtol=1e-9, atol=1e-12)
    assert np.isnan(np.delete(got.scores, cand)).all()
    assert got.positions.tolist() == cand[np.argsort(-want, kind="stable")[:3]].tolist()
    reps = [r.normal(size=(n, 5))]  # App. H: Eq. 5 on representations instead of gradients
    got = arrays.grace(grads, 3, candidates=cand, round=4, representations=reps, dtype="float64")
    want = slow_grace({k: tuple(x[cand] for x in g) for k, g in grads.items()}, alpha=0.7, reps=[reps[0][cand]])
    np.testing.assert_allclose(got.scores[cand], want, rtol=1e-9, atol=1e-12)


def test_dbal_with_candidates_is_the_slow_algorithm_on_them():
    r = np.random.default_rng(5)
    n = 50
    x, u = r.normal(size=(n, 3)).astype(np.float32), r.uniform(0.1, 1, n)
    cand = np.sort(r.choice(n, 30, replace=False))
    got = arrays.dbal(x, u, 4, np.random.default_rng(11), beta=3, candidates=cand)
    top = sorted(range(len(cand)), key=lambda i: (-u[cand][i], i))[:12]
    C, _ = slow_weighted_kmeans(x[cand][top], 4, u[cand][top], np.random.default_rng(11))
    picks = sorted((top[j] for j in slow_greedy_match(x[cand][top], C)), key=lambda i: (-u[cand][i], i))
    assert got.positions.tolist() == cand[picks].tolist()
    lazy = arrays.dbal(lambda rows: x[rows], u, 4, np.random.default_rng(11), beta=3, candidates=cand)
    assert np.array_equal(lazy.positions, got.positions)  # features as a function of positions


def test_badge_and_bmmal_with_candidates_are_kmeanspp_on_the_explicit_embedding():
    r = np.random.default_rng(2)
    n, M = 30, 3
    delta, h = r.normal(size=(n, 4)).astype(np.float32), r.normal(size=(n, 5)).astype(np.float32)
    cand = np.sort(r.choice(n, 20, replace=False))
    G = np.einsum("nc,nd->ncd", delta, h).reshape(n, -1)
    got = arrays.badge((delta, h), 5, np.random.default_rng(7), candidates=cand)
    assert got.positions.tolist() == cand[slow_kmeanspp(G[cand], 5, np.random.default_rng(7))].tolist()

    V = r.uniform(size=(1 << M, n))
    z = [r.normal(size=(n, d)).astype(np.float32) for d in (2, 3, 4)]
    got = arrays.bmmal(V, delta, z, 5, np.random.default_rng(7), candidates=cand)
    # Eq. 10 by permutations, Eq. 12, Eq. 14, Eq. 15 explicit
    phi = np.zeros((n, M))
    for order in itertools.permutations(range(M)):
        S = 0
        for m in order:
            phi[:, m] += (V[S | 1 << m] - V[S]) / math.factorial(M)
            S |= 1 << m
    Phi = np.abs(phi) / np.abs(phi).sum(1, keepdims=True)
    w = 1 - (Phi.max(1, keepdims=True) - Phi)
    E = np.concatenate([np.einsum("nc,nd->ncd", delta * w[:, [m]], z[m]).reshape(n, -1) for m in range(M)], axis=1)
    np.testing.assert_allclose(got.info["contributions"][cand], Phi[cand], atol=1e-12)
    np.testing.assert_allclose(got.info["weights"][cand], w[cand], atol=1e-12)
    assert got.positions.tolist() == cand[slow_kmeanspp(E[cand], 5, np.random.default_rng(7))].tolist()


def test_coreset_with_candidates_is_slow_kcenter_on_the_labeled_rows_and_them():
    r = np.random.default_rng(8)
    n = 40
    x = r.normal(size=(n, 3)).astype(np.float32)
    labeled = np.zeros(n, bool)
    labeled[r.choice(n, 6, replace=False)] = True
    cand = np.sort(r.choice(np.flatnonzero(~labeled), 15, replace=False))
    rows = np.union1d(np.flatnonzero(labeled), cand)
    got = arrays.coreset(x, labeled, 5, candidates=cand)
    want, radii = slow_kcenter(x[rows], 5, np.flatnonzero(labeled[rows]).tolist(), return_radii=True)
    assert got.positions.tolist() == rows[want].tolist()
    np.testing.assert_allclose(got.info["radius"], radii, rtol=1e-6)
    full = arrays.coreset(x, labeled, 5)  # without candidates: every unlabeled row
    assert full.positions.tolist() == slow_kcenter(x, 5, np.flatnonzero(labeled).tolist()).tolist()
    assert np.array_equal(arrays.coreset(lambda pos: x[pos], labeled, 5, candidates=cand).positions, got.positions)
    none = arrays.coreset(x, np.zeros(n, bool), 3)  # nothing labeled: the largest norm first, radius inf
    assert none.positions[0] == int(np.argmax((x.astype(np.float64) ** 2).sum(1))) and none.info["radius"][0] == np.inf


class FixedGCN:
    """A GCN replaced by fixed node scores / embeddings (rows in the graph's node order)."""

    def __init__(self, n, seed=0):
        r = np.random.default_rng(seed)
        self.s, self.e, self.calls = r.uniform(size=n), r.normal(size=(n, 3)).astype(np.float32), []

    def __call__(self, v, graph, is_labeled, seed):
        self.calls.append((v, graph, is_labeled, seed))
        return self.s[: len(v)], self.e[: len(v)]


def test_gcnal_and_coregcn_with_candidates_build_the_graph_of_labeled_rows_and_candidates():
    r = np.random.default_rng(3)
    n = 30
    x = r.normal(size=(n, 4))
    labeled = np.arange(n) % 5 == 0
    cand = np.array([29, 3, 7, 11, 13, 17, 21, 22, 26])
    fixed = FixedGCN(n)
    got = arrays.gcnal(x, labeled, 4, np.random.default_rng(1), candidates=cand, gcn=fixed, subset=6)
    ref = np.random.default_rng(1)
    sub = np.sort(ref.choice(np.sort(cand), 6, replace=False))  # the node subset first, then the GCN seed
    nodes = np.r_[sub, np.flatnonzero(labeled)]
    v, graph, is_lab, seed = fixed.calls[0]
    np.testing.assert_allclose(v, x[nodes] / np.linalg.norm(x[nodes], axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(graph.toarray(), (lambda S: np.diag(1 / S.sum(1)) @ S + np.eye(len(nodes)))(
        np.clip(v.astype(np.float64) @ v.T.astype(np.float64), 0, None) * (1 - np.eye(len(nodes)))), atol=1e-6)
    assert np.array_equal(is_lab, np.arange(len(nodes)) >= 6) and seed == int(ref.integers(0, 2**31 - 1))
    gap = [abs(fixed.s[i] - 0.1) for i in range(6)]
    assert got.positions.tolist() == sub[sorted(range(6), key=lambda i: (gap[i], i))[:4]].tolist()
    want = np.full(n, np.nan)
    want[sub] = -np.array(gap)
    np.testing.assert_allclose(got.scores, want, rtol=0)
    assert got.info["gcn_seed"] == seed and got.info["n_nodes"] == len(nodes)
    core = arrays.coregcn(x, labeled, 4, np.random.default_rng(1), candidates=cand, gcn=fixed, subset=6)
    assert core.positions.tolist() == sub[slow_kcenter(fixed.e[: len(nodes)], 4, list(range(6, len(nodes))))].tolist()


# --------------------------------------------------------------- candidates
def test_candidates_restrict_every_top_k_as_the_sub_array_would():
    p = mc_samples(3, n=25)
    cand = np.array([20, 3, 7, 11, 4, 16, 0])  # order does not matter
    for fn in (arrays.margin, arrays.entropy, arrays.least_confidence, arrays.bald):
        got = fn(p, 4, candidates=cand)
        sub = fn(p[np.sort(cand)], 4)
        assert got.positions.tolist() == np.sort(cand)[sub.positions].tolist()
        mask = np.isin(np.arange(25), cand)
        assert np.array_equal(fn(p, 4, candidates=mask).positions, got.positions)  # a bool mask too
    assert set(arrays.random(25, 5, 0, candidates=cand).positions) <= set(cand.tolist())
    assert np.array_equal(arrays.random(25, 5, 0, candidates=cand).positions,
                          np.random.default_rng(0).choice(np.sort(cand), 5, replace=False))


def test_torch_tensors_are_accepted():
    p = mc_samples(4)
    assert np.array_equal(arrays.bald(torch.as_tensor(p), 3).positions, arrays.bald(p, 3).positions)
    d, h = torch.randn(15, 3, generator=torch.Generator().manual_seed(0)), torch.randn(15, 4)
    assert np.array_equal(arrays.badge((d, h), 3, 0).positions, arrays.badge((d.numpy(), h.numpy()), 3, 0).positions)


# --------------------------------------------------------------- bad input
P2 = mc_samples(5).mean(axis=2)
BAD = [
    (lambda: arrays.margin(P2[0], 2), r"proba must be \[N, C\] or \[N, C, T\].*got shape \(3,\)"),
    (lambda: arrays.bald(P2, 2), r"samples must be \[N, C, T\]"),
    (lambda: arrays.margin(np.where(np.arange(15)[:, None] == 4, np.nan, P2), 2), r"proba has NaN or inf in rows \[4\]"),
    (lambda: arrays.entropy(np.log(P2 + 0.1), 2), "proba must be probabilities.*softmax"),
    (lambda: arrays.margin(P2, 0), "budget must be a positive int"),
    (lambda: arrays.margin(P2, 16), "budget 16 is larger than the 15 candidates"),
    (lambda: arrays.margin(P2, 2, candidates=[0, 0, 3]), r"candidates has repeated positions \[0\]"),
    (lambda: arrays.margin(P2, 2, candidates=[]), "candidates is empty"),
    (lambda: arrays.margin(P2, 2, candidates=[3, 15]), r"candidates has positions out of range 0..14: \[15\]"),
    (lambda: arrays.margin(P2, 2, candidates=[1.0, 2.0]), "candidates must be 1-D integer positions"),
    (lambda: arrays.margin(P2, 2, candidates=np.ones(14, bool)), r"bool mask must have shape \(15,\)"),
    (lambda: arrays.margin(P2, 4, candidates=[1, 2, 3]), "budget 4 is larger than the 3 candidates"),
    (lambda: arrays.random(10, 2, rng=None), "rng must be a numpy.random.Generator or an int seed"),
    (lambda: arrays.badge(np.zeros((5, 2, 2)), 2, 0), r"embedding must be 2-D"),
    (lambda: arrays.badge((np.zeros((5, 2)), np.zeros((4, 3))), 2, 0), "embedding h has 4 rows but the other inputs have 5"),
    (lambda: arrays.badge((np.full((5, 2), np.inf), np.zeros((5, 3))), 2, 0), r"embedding delta has NaN or inf in rows \[0, 1"),
    (lambda: arrays.dbal(np.zeros((5, 2)), -np.ones(5), 2, 0), "uncertainty must be >= 0"),
    (lambda: arrays.dbal(np.zeros((4, 2)), np.ones(5), 2, 0), "features has 4 rows but the other inputs have 5"),
    (lambda: arrays.dbal(lambda rows: np.zeros((1, 2)), np.ones(5), 2, 0), r"features\(positions\) returned 1 rows"),
    (lambda: arrays.bmmal(np.ones((3, 5)), np.zeros((5, 2)), [np.zeros((5, 1))] * 2, 2, 0), "subset_values must have 2\\^M rows"),
    (lambda: arrays.bmmal(np.ones((4, 5)), np.zeros((5, 2)), [np.zeros((5, 1))], 2, 0), "inputs must be a list of 2 arrays"),
    (lambda: arrays.grace({"t": (np.zeros((5, 2)), np.zeros((5, 3)), np.zeros((5, 4)))}, 2), "delta_k .* and delta_mk .* must have one shape"),
    (lambda: arrays.grace({"t": (np.zeros((5, 2)),) * 3}, 2, round=0), "round must be >= 1"),
    (lambda: arrays.grace({"t": (np.zeros((5, 2)),) * 3}, 2, criteria="ie"), "criteria must be one of"),
    (lambda: arrays.predictive_std(np.zeros((5, 2, 3))), r"samples must be \[N, 1, T\]"),
    (lambda: arrays.coreset(np.zeros(5), np.zeros(5, bool), 2), r"features must be 2-D \[N, D\], got shape \(5,\)"),
    (lambda: arrays.coreset(np.full((5, 2), np.nan), np.zeros(5, bool), 2), r"features has NaN or inf in rows \[0, 1"),
    (lambda: arrays.coreset(np.zeros((5, 2)), np.zeros(4, bool), 2), r"labeled must have one entry per sample, shape \(5,\)"),
    (lambda: arrays.coreset(np.zeros((5, 2)), np.zeros(5, int), 2), "labeled must be a bool mask.*np.isin"),
    (lambda: arrays.coreset(np.zeros((5, 2)), np.arange(5) < 2, 2, candidates=[1, 3]), r"candidates has labeled positions \[1\]"),
    (lambda: arrays.coreset(np.zeros((5, 2)), np.arange(5) < 2, 4), "budget 4 is larger than the 3 candidates"),
    (lambda: arrays.coreset(np.zeros((5, 2)), np.ones(5, bool), 1), "every sample is labeled"),
    (lambda: arrays.coreset(lambda pos: np.zeros((1, 2)), np.zeros(5, bool), 2), r"features\(positions\) returned 1 rows"),
    (lambda: arrays.gcnal(np.zeros((5, 2, 1)), np.zeros(5, bool), 2, 0), "features must be 2-D"),
    (lambda: arrays.gcnal(np.zeros((5, 2)), np.zeros(6, bool), 2, 0), r"labeled must have one entry per sample"),
    (lambda: arrays.coregcn(np.zeros((5, 2)), np.zeros(5, bool), 2, 0, subset=0), "subset .* must be an int >= 1"),
    (lambda: arrays.gcnal(np.zeros((5, 2)), np.zeros(5, bool), 2, 0, graph_k=0), "graph_k .* must be an int >= 1"),
    (lambda: arrays.gcnal(np.zeros((5, 2)), np.zeros(5, bool), 2, 0, dense_mib=-1), "dense_mib .* must be >= 0"),
    (lambda: arrays.gcnal(np.zeros((5, 2)), np.zeros(5, bool), 2, None), "rng must be a numpy.random.Generator"),
]


@pytest.mark.parametrize("call, message", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_input_names_the_argument_and_the_fix(call, message):
    with pytest.raises((mmal.ArrayError, TypeError, ValueError), match=message):
        call()
