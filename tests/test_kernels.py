"""Selection kernels against direct, slow implementations (explicit loops, explicit embeddings)."""

import sys
import warnings

import numpy as np
import pytest

from mmal.grads import RankOne, explicit
from mmal.kernels import (
    available_backends, kcenter_greedy, kmeanspp, knn, knn_graph, nearest_to_centroids, resolve, weighted_kmeans,
)

BACKENDS = available_backends()
print(f"kernel backends tested here: {BACKENDS}")


def _blocks(seed, n=60, shapes=((4, 6), (3, 5))):
    rng = np.random.default_rng(seed)
    return [RankOne(rng.normal(size=(n, c)).astype(np.float32), rng.normal(size=(n, d)).astype(np.float32)) for c, d in shapes]


# ------------------------------------------------------------------ slow references
def slow_kmeanspp(X, k, rng):
    """BADGE's seeding, written out: largest-norm first, then D^2 sampling (cumsum / first cum > u*total)."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    norms = [float(np.dot(X[i], X[i])) for i in range(n)]
    centers = [int(np.argmax(norms))]
    u = rng.random(k - 1)
    for t in range(k - 1):
        d2 = []
        for i in range(n):
            d2.append(0.0 if i in centers else min(float(np.sum((X[i] - X[c]) ** 2)) for c in centers))
        total = sum(d2)
        if total == 0:
            d2 = [0.0 if i in centers else 1.0 for i in range(n)]
            total = sum(d2)
        acc, target = 0.0, u[t] * total
        for i in range(n):
            acc += d2[i]
            if acc > target:
                break
        centers.append(i)
    return np.array(centers)


def slow_kcenter(X, k, labeled, return_radii=False):
    """Greedy k-center written out in float64: direct differences, the first largest minimum wins."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    covered, out, radii = list(labeled), [], []
    if not covered:
        norms = [float(np.dot(x, x)) for x in X]
        out.append(int(np.argmax(norms)))
        covered.append(out[0])
        radii.append(np.inf)
    mind = np.full(n, np.inf)
    for c in covered:
        mind = np.minimum(mind, ((X - X[c]) ** 2).sum(1))  # one column of the pairwise matrix
    done = set(covered)
    while len(out) < k:
        best, best_d = -1, -1.0
        for i in range(n):
            if i not in done and mind[i] > best_d:
                best, best_d = i, mind[i]
        out.append(best)
        done.add(best)
        radii.append(np.sqrt(best_d))
        mind = np.minimum(mind, ((X - X[best]) ** 2).sum(1))
    return (np.array(out), np.array(radii)) if return_radii else np.array(out)


def ref_kmeanspp64(X, k, rng):
    """slow_kmeanspp vectorized over rows (still float64 direct differences), for larger inputs."""
    X = np.asarray(X, dtype=np.float64)
    centers = [int(np.argmax((X * X).sum(1)))]
    u = rng.random(k - 1)
    d2 = ((X - X[centers[0]]) ** 2).sum(1)
    for t in range(k - 1):
        d2[centers] = 0.0
        w = d2 if d2.sum() > 0 else np.where(np.isin(np.arange(len(X)), centers), 0.0, 1.0)
        cum = np.cumsum(w)
        centers.append(int(np.flatnonzero(cum > u[t] * cum[-1])[0]))
        d2 = np.minimum(d2, ((X - X[centers[-1]]) ** 2).sum(1))
    return np.array(centers)


def explicit64(blocks):
    """The explicit float64 embedding of rank-1 blocks (products not rounded to float32)."""
    blocks = [blocks] if isinstance(blocks, RankOne) else blocks
    return explicit([RankOne(b.delta.astype(np.float64), b.h.astype(np.float64)) for b in blocks])


def slow_greedy_match(X, C):
    D = ((C[:, None, :].astype(np.float64) - X[None, :, :]) ** 2).sum(-1)
    out = np.full(len(C), -1)
    for _ in range(len(C)):
        j, i = np.unravel_index(np.argmin(D), D.shape)
        out[j] = i
        D[j, :] = np.inf
        D[:, i] = np.inf
    return out


def slow_weighted_kmeans(X, k, w, rng, iters=100):
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    u = rng.random(k)
    cw = np.cumsum(w)
    seeds = [int(np.searchsorted(cw, u[0] * cw[-1], side="right"))]
    for t in range(1, k):
        p = np.array([0.0 if i in seeds else w[i] * min(np.sum((X[i] - X[s]) ** 2) for s in seeds) for i in range(n)])
        cp = np.cumsum(p)
        seeds.append(int(np.searchsorted(cp, u[t] * cp[-1], side="right")))
    C = X[seeds].copy()
    assign = None
    for _ in range(iters):
        new = np.array([int(np.argmin([np.sum((X[i] - c) ** 2) for c in C])) for i in range(n)])
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            m = assign == j
            if w[m].sum() > 0:
                C[j] = (w[m, None] * X[m]).sum(0) / w[m].sum()
    return C, assign


# --------------------------------------------------------------------- k-means++
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeanspp_factored_equals_slow_explicit(backend, seed):
    blocks = _blocks(seed)
    X = explicit(blocks)
    ref = slow_kmeanspp(X, 12, np.random.default_rng(seed + 10))
    assert np.array_equal(kmeanspp(blocks, 12, np.random.default_rng(seed + 10), backend=backend, defer=False), ref)
    assert np.array_equal(kmeanspp(X, 12, np.random.default_rng(seed + 10), backend=backend), ref)  # auto: not deferred
    one = blocks[0]
    ref1 = slow_kmeanspp(one.explicit(), 9, np.random.default_rng(seed))
    assert np.array_equal(kmeanspp(one, 9, np.random.default_rng(seed), backend=backend, defer=False), ref1)


def exact_sequence_probs(X, k, w=None):
    """P(second, ..., k-th pick) of D^2 sampling from the largest-norm first point, by enumeration."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if w is None else np.asarray(w, dtype=np.float64)
    first = int(np.argmax((X**2).sum(1)))
    out = {}

    def walk(seq, p):
        if len(seq) == k:
            out[tuple(seq[1:])] = p
            return
        d2 = np.array([min(float(((x - X[c]) ** 2).sum()) for c in seq) for x in X])
        d2[seq] = 0.0
        mass = w * d2
        for j in np.flatnonzero(mass > 0):
            walk(seq + [int(j)], p * mass[j] / mass.sum())

    walk([first], 1.0)
    return out


def stale_sequence_probs(X, k):
    """What a sampler that proposes from the first D^2 and never rejects would give (a wrong k-means++)."""
    X = np.asarray(X, dtype=np.float64)
    first = int(np.argmax((X**2).sum(1)))
    u = ((X - X[first]) ** 2).sum(1)
    out = {}

    def walk(seq, p):
        if len(seq) == k:
            out[tuple(seq[1:])] = p
            return
        mass = u.copy()
        mass[seq] = 0.0
        for j in np.flatnonzero(mass > 0):
            walk(seq + [int(j)], p * mass[j] / mass.sum())

    walk([first], 1.0)
    return out


# three tight pairs and a far, largest-norm point: a picked point nearly zeroes its twin's D^2
PAIRS = np.array([[5, 0], [0, 1], [0, 1.05], [1, -1], [1.02, -1], [-1, 0], [-1, 0.03]], dtype=np.float32)


def _chi2_p(counts: dict, probs: dict, runs: int) -> float:
    from scipy.stats import chisquare

    assert set(counts) <= set(probs), "a sequence with probability 0 was drawn"
    common = [s for s in sorted(probs) if probs[s] * runs >= 5]  # rarer sequences pooled into one cell
    observed = [counts.get(s, 0) for s in common]
    expected = [probs[s] * runs for s in common]
    if len(common) < len(probs):
        observed.append(runs - sum(observed))
        expected.append(runs * sum(probs[s] for s in probs if s not in common))
    return chisquare(observed, expected, sum_check=False).pvalue


@pytest.mark.parametrize("refresh", ["after-each-block", "never"])
@pytest.mark.parametrize("form", ["explicit", "rank1"])
def test_kmeanspp_deferred_rejection_sampling_has_the_exact_d2_distribution(form, refresh, monkeypatch):
    """defer=True draws by rejection against a stale D^2: the same distribution as D^2 sampling."""
    kpp_mod = sys.modules["mmal.kernels.kmeanspp"]
    k = 4
    if refresh == "never":  # D^2 is never refreshed after the first center: every pick is a rejection step
        monkeypatch.setattr(kpp_mod, "MIN_BLOCKS", 10**9)
        k = 3  # (at k=4 every twin left has a ~0 D^2 against a large stale one: thousands of rejections)
    else:  # (at this size a block costs far more than a refresh: refreshed after every block)
        monkeypatch.setattr(kpp_mod, "MIN_BLOCKS", 1)
    emb = PAIRS if form == "explicit" else RankOne(np.ones((7, 1), np.float32), PAIRS)
    runs, counts = 1500, {}
    for seed in range(runs):
        seq = tuple(kmeanspp(emb, k, np.random.default_rng(seed), defer=True)[1:].tolist())
        counts[seq] = counts.get(seq, 0) + 1
    assert _chi2_p(counts, exact_sequence_probs(PAIRS, k), runs) > 1e-3
    assert _chi2_p(counts, stale_sequence_probs(PAIRS, k), runs) < 1e-6  # the test can tell a wrong sampler


def test_weighted_d2_seeding_deferred_has_the_exact_distribution():
    import torch

    from mmal.kernels.embedding import Embedding
    from mmal.kernels.kmeanspp import d2_seeding

    w = np.array([1.0, 3.0, 0.5, 1.0, 2.0, 0.0, 1.0])
    e = Embedding(PAIRS, torch.device("cpu"))
    wt = torch.as_tensor(w, dtype=torch.float64)
    runs, counts = 2000, {}
    for seed in range(runs):
        seq = tuple(d2_seeding(e, 0, 3, np.random.default_rng(seed), weights=wt, defer=True)[1:].tolist())
        counts[seq] = counts.get(seq, 0) + 1
    assert _chi2_p(counts, exact_sequence_probs(PAIRS, 3, w), runs) > 1e-3


def test_kmeanspp_defer_auto_follows_the_cost_model_and_rejects_bad_values():
    from mmal.kernels.embedding import Embedding
    from mmal.kernels.kmeanspp import _check_defer, defer_pays

    import torch

    small = Embedding(np.zeros((10, 4), np.float32), torch.device("cpu"))
    assert _check_defer("auto", small, 3) is False
    assert not defer_pays(300, 21, 20) and not defer_pays(16_230, 263, 2)  # few picks: per-pick refresh
    assert defer_pays(16_230, 39, 1000) and defer_pays(179_000, 1333, 1000)  # CHERMA / VGGSound BADGE budgets
    big = Embedding(RankOne(np.zeros((1 << 18, 4), np.float32), np.zeros((1 << 18, 4), np.float32)), torch.device("cpu"))
    assert _check_defer("auto", big, 100) is True
    with pytest.raises(ValueError, match="defer"):
        kmeanspp(np.ones((3, 2)), 2, np.random.default_rng(0), defer="yes")


def test_kmeanspp_consumes_one_uniform_per_pick():
    rng = np.random.default_rng(5)
    kmeanspp(_blocks(0), 7, rng)
    other = np.random.default_rng(5)
    other.random(6)
    assert rng.random() == other.random()


def test_kmeanspp_first_is_largest_norm_lowest_index_on_ties():
    x = np.array([[1, 0], [0, 3], [3, 0], [0, 1]], dtype=np.float32)
    assert kmeanspp(x, 1, np.random.default_rng(0))[0] == 1


def test_kmeanspp_all_zero_d2_falls_back_to_uniform_with_warning():
    x = np.zeros((8, 3), dtype=np.float32)
    x[2] = 5.0
    x[6] = -5.0
    with pytest.warns(RuntimeWarning, match="D\\^2 = 0"):
        got = kmeanspp(x, 6, np.random.default_rng(3))
    assert np.array_equal(got, slow_kmeanspp(x, 6, np.random.default_rng(3)))
    assert len(set(got.tolist())) == 6 and {2, 6} <= set(got.tolist())


@pytest.mark.parametrize("defer", [False, True])
def test_kmeanspp_never_repicks_and_takes_all(defer):
    got = kmeanspp(_blocks(3, n=20), 20, np.random.default_rng(0), defer=defer)
    assert sorted(got.tolist()) == list(range(20))


def test_kmeanspp_deferred_all_zero_d2_falls_back_to_uniform_with_warning():
    x = np.zeros((8, 3), dtype=np.float32)
    x[2] = 5.0
    x[6] = -5.0
    with pytest.warns(RuntimeWarning, match="D\\^2 = 0"):
        got = kmeanspp(x, 8, np.random.default_rng(3), defer=True)
    assert sorted(got.tolist()) == list(range(8)) and got[0] == 2
    assert 6 in got[:3]  # D^2 > 0 only for 6 and, until one is picked, the zero rows


def test_kmeanspp_bad_input_names_the_fix():
    with pytest.raises(ValueError, match="larger than"):
        kmeanspp(np.ones((3, 2)), 4, np.random.default_rng(0))
    x = np.ones((3, 2))
    x[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        kmeanspp(x, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="backend"):
        kmeanspp(np.ones((3, 2)), 2, np.random.default_rng(0), backend="cuda")


# ---------------------------------------------------------------------- k-center
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_labeled", [0, 1, 7])
def test_kcenter_equals_naive_pairwise(backend, n_labeled):
    rng = np.random.default_rng(n_labeled)
    X = rng.normal(size=(50, 5)).astype(np.float32)
    lab = rng.choice(50, n_labeled, replace=False)
    ref = slow_kcenter(X, 10, lab.tolist())
    mask = np.zeros(50, bool)
    mask[lab] = True
    got, radius = kcenter_greedy(X, 10, labeled=mask, backend=backend, return_distances=True)
    assert np.array_equal(got, ref)
    assert np.array_equal(kcenter_greedy(X, 10, labeled=lab, backend=backend), ref)
    assert np.all(np.diff(radius[np.isfinite(radius)]) <= 1e-6)
    covered = list(lab) + list(got[:-1])
    if covered:
        assert radius[-1] == pytest.approx(min(np.linalg.norm(X[got[-1]] - X[c]) for c in covered), rel=1e-4)


def test_kcenter_factored_equals_explicit():
    blocks = _blocks(4, n=40)
    lab = np.arange(0, 40, 9)
    assert np.array_equal(kcenter_greedy(blocks, 8, labeled=lab), slow_kcenter(explicit(blocks), 8, lab.tolist()))


def test_kcenter_min_over_labeled_is_blocked():
    # a tiny block size forces several GEMM blocks for the labeled set
    from mmal.kernels.embedding import Embedding

    import torch

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    e = Embedding(X, torch.device("cpu"))
    got = e.min_sq_dist_to(np.arange(11), e.sq_norms(), max_block_elems=30 * 2).numpy()
    ref = np.array([min(np.sum((X[i] - X[j]) ** 2) for j in range(11)) for i in range(30)])
    assert np.allclose(got, ref, atol=1e-4)


# ------------------------------------------------------- exact to float64 references
def _exact_inputs(name):
    """``(embedding, its explicit float64 rows)`` for inputs where float32 alone decides wrong."""
    rng = np.random.default_rng(7)
    if name == "grid":  # exact ties everywhere (an integer 20 x 20 grid)
        g = np.stack(np.meshgrid(np.arange(20), np.arange(20), indexing="ij"), -1).reshape(-1, 2).astype(np.float32)
        return g, g.astype(np.float64)
    if name == "grid-dups":  # the grid with 40 rows twice: duplicates have D^2 = 0 exactly once one is a center
        g = _exact_inputs("grid")[0]
        g = np.concatenate([g, g[rng.choice(400, 40, replace=False)]])
        return g, g.astype(np.float64)
    if name == "grid-rank1":  # integer factors: ties, duplicate gradients, zero gradients
        r = RankOne(rng.integers(-2, 3, size=(400, 2)).astype(np.float32), rng.integers(0, 5, size=(400, 3)).astype(np.float32))
        return r, explicit64(r)
    if name == "shifted":  # far from the origin: ||x|| ~ 800, D = 64
        x = (100 + rng.standard_normal((1000, 64))).astype(np.float32)
        return x, x.astype(np.float64)
    if name == "shifted-rank1":  # the same as g = 1 ⊗ x (centring is not available to a factored form)
        x = (100 + rng.standard_normal((1000, 64))).astype(np.float32)
        return RankOne(np.ones((1000, 1), np.float32), x), x.astype(np.float64)
    if name == "shifted-rank1-ill":  # both factors nearly constant: ||g||^2 / D^2 ~ 1e4
        r = RankOne((1 + 0.01 * rng.standard_normal((600, 3))).astype(np.float32), (100 + rng.standard_normal((600, 64))).astype(np.float32))
        return r, explicit64(r)
    if name == "ordinary":
        x = rng.standard_normal((500, 16)).astype(np.float32)
        return x, x.astype(np.float64)
    if name == "ordinary-rank1":
        b = _blocks(3, n=300)
        return b, explicit64(b)
    raise KeyError(name)


EXACT = ["grid", "grid-dups", "grid-rank1", "shifted", "shifted-rank1", "shifted-rank1-ill", "ordinary", "ordinary-rank1"]


@pytest.mark.parametrize("n_labeled", [0, 5])
@pytest.mark.parametrize("name", EXACT)
def test_kcenter_equals_float64_reference(name, n_labeled):
    emb, X = _exact_inputs(name)
    lab = np.random.default_rng(1).choice(len(X), n_labeled, replace=False)
    ref, ref_r = slow_kcenter(X, 40, lab.tolist(), return_radii=True)
    got, r = kcenter_greedy(emb, 40, labeled=lab, return_distances=True)
    assert np.array_equal(got, ref)
    np.testing.assert_allclose(r, ref_r, rtol=1e-9)


@pytest.mark.parametrize("name", EXACT)
def test_kmeanspp_equals_float64_reference(name):
    emb, X = _exact_inputs(name)
    for seed in range(3):
        ref = ref_kmeanspp64(X, 30, np.random.default_rng(seed))
        assert np.array_equal(kmeanspp(emb, 30, np.random.default_rng(seed), defer=False), ref), seed


@pytest.mark.parametrize("name", ["grid-dups", "grid-rank1", "shifted-rank1-ill"])
def test_kmeanspp_deferred_never_draws_a_point_at_distance_zero(name):
    emb, X = _exact_inputs(name)
    for seed in range(3):
        got = kmeanspp(emb, 60, np.random.default_rng(seed), defer=True)
        d2 = np.array([min(((X[got[t]] - X[c]) ** 2).sum() for c in got[:t]) for t in range(1, len(got))])
        assert np.all(d2 > 0), (seed, np.flatnonzero(d2 == 0))


@pytest.mark.parametrize("defer", [False, True])
@pytest.mark.parametrize("form", ["explicit", "rank1"])
def test_kmeanspp_duplicates_far_from_the_origin_have_d2_exactly_zero(form, defer):
    """10 points at ||x|| ~ 800 with spread 0.01, each 50 times: float32 rounding alone (~1e-2) would
    give the duplicates more D^2 mass than the real distances (~1e-2); exact zeros pick each point once."""
    rng = np.random.default_rng(4)
    x = np.repeat((100 + 0.01 * rng.standard_normal((10, 64))).astype(np.float32), 50, axis=0)
    emb = x if form == "explicit" else RankOne(np.ones((500, 1), np.float32), x)
    for seed in range(3):
        got = kmeanspp(emb, 10, np.random.default_rng(seed), defer=defer)
        assert sorted(got // 50) == list(range(10)), (seed, got // 50)
    with pytest.warns(RuntimeWarning, match="D\\^2 = 0 after 10 picks"):
        kmeanspp(emb, 11, np.random.default_rng(0), defer=defer)


@pytest.mark.parametrize("name", ["grid-dups", "grid-rank1", "shifted", "shifted-rank1", "shifted-rank1-ill", "ordinary-rank1"])
def test_running_minimum_matches_float64_to_float32_rounding(name):
    """k-means++'s D^2 (Cover.values64): exact zeros, float64 values for the ill-conditioned rows,
    float32 ones within a few roundings elsewhere."""
    import torch

    from mmal.kernels.cover import Cover
    from mmal.kernels.embedding import Embedding

    emb, X = _exact_inputs(name)
    cover = Cover(Embedding(emb, torch.device("cpu")), covered=0.0, nearest_two=False)
    centers = np.random.default_rng(2).choice(len(X), 12, replace=False)
    ref = np.full(len(X), np.inf)
    for c in np.split(centers, [1, 2, 6]):  # one at a time and in blocks
        cover.add(c)
        cover.promote_ill()
        ref = np.minimum(ref, ((X[:, None, :] - X[None, c, :]) ** 2).sum(-1).min(1))
        got = cover.values64().numpy()
        assert np.array_equal(got == 0, ref == 0)
        rel = np.abs(got - ref)[ref > 0] / ref[ref > 0]
        print(f"{name}: {len(cover.t_pos)} rows tracked in float64, max relative error {rel.max():.1e}")
        assert rel.max() < 1e-5
        assert np.allclose(got[cover.t_pos], ref[cover.t_pos], rtol=1e-9, atol=0)


# ---------------------------------------------------------------------------- kNN
@pytest.mark.parametrize("backend", BACKENDS)
def test_knn_matches_brute_force(backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 6)).astype(np.float32)
    Q = rng.normal(size=(9, 6)).astype(np.float32)
    d, i = knn(X, 5, queries=Q, backend=backend)
    D = ((Q[:, None].astype(np.float64) - X[None]) ** 2).sum(-1)
    assert np.array_equal(i, np.argsort(D, axis=1)[:, :5])
    assert np.allclose(d, np.sort(D, axis=1)[:, :5], rtol=1e-4, atol=1e-4)
    d, i = knn(X, 4, backend=backend)  # self excluded
    D = ((X[:, None].astype(np.float64) - X[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    assert np.array_equal(i, np.argsort(D, axis=1)[:, :4])
    s, i = knn(X, 3, queries=Q, metric="ip", backend=backend)
    S = Q.astype(np.float64) @ X.T.astype(np.float64)
    assert np.array_equal(i, np.argsort(-S, axis=1)[:, :3])
    assert np.allclose(s, -np.sort(-S, axis=1)[:, :3], rtol=1e-4, atol=1e-4)


def test_knn_graph_is_sparse_rows_of_neighbours():
    X = np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32)
    g = knn_graph(X, 3)
    d, i = knn(X, 3)
    assert g.shape == (40, 40) and g.nnz == 120
    for r in range(40):
        assert sorted(g[r].indices.tolist()) == sorted(i[r].tolist())
        assert np.allclose(g[r, i[r]].toarray().ravel(), d[r])


# ----------------------------------------------------- weighted k-means, matching
@pytest.mark.parametrize("backend", BACKENDS)
def test_weighted_kmeans_equals_slow_lloyd(backend):
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(size=(20, 3)) + off for off in (0, 6, -6)]).astype(np.float32)
    w = rng.random(60) + 0.1
    C, a = weighted_kmeans(X, 4, w, np.random.default_rng(7), backend=backend)
    Cr, ar = slow_weighted_kmeans(X, 4, w, np.random.default_rng(7))
    assert np.array_equal(a, ar)
    assert np.allclose(C, Cr, atol=1e-4)


def test_weighted_kmeans_weights_pull_centroids():
    X = np.array([[0.0], [1.0], [10.0], [11.0]], dtype=np.float32)
    C, a = weighted_kmeans(X, 2, np.array([1.0, 3.0, 1.0, 1.0]), np.random.default_rng(0))
    assert sorted(C.ravel().round(4).tolist()) == [0.75, 10.5]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_candidates", [1, 3, 64])
def test_nearest_to_centroids_is_unique_greedy(backend, n_candidates):
    rng = np.random.default_rng(n_candidates)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    C = (X[rng.choice(40, 12, replace=False)] + 0.3 * rng.normal(size=(12, 3))).astype(np.float32)
    C[5] = C[4]  # two centroids wanting the same point
    got = nearest_to_centroids(X, C, backend=backend, n_candidates=n_candidates)
    assert np.array_equal(got, slow_greedy_match(X, C))
    assert len(set(got.tolist())) == 12


def test_resolve_auto_is_first_available():
    assert resolve("auto") == available_backends()[0]
    with pytest.raises(ValueError, match="backend"):
        resolve("bogus")


# ------------------------------------------------------------ backends, memory
@pytest.mark.skipif(len(BACKENDS) < 2, reason="only one kernel backend available here")
def test_backends_agree_with_each_other():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(400, 12)).astype(np.float32)
    blocks = _blocks(11, n=400)
    w = rng.random(400)
    outs, neighbours = [], []
    for b in BACKENDS:
        C, a = weighted_kmeans(X, 6, w, np.random.default_rng(1), backend=b)
        outs.append((
            kmeanspp(blocks, 30, np.random.default_rng(0), backend=b),
            kcenter_greedy(blocks, 30, labeled=np.arange(5), backend=b),
            a, nearest_to_centroids(X, C, backend=b),
        ))
        neighbours.append(knn(X, 6, backend=b))
    for other in outs[1:]:
        for mine, theirs in zip(outs[0], other):
            assert np.array_equal(mine, theirs)
    # knn is float32 (its documented tolerance): neighbours may differ only where float64 ties them
    (d0, i0), x64 = neighbours[0], X.astype(np.float64)
    for d, i in neighbours[1:]:
        np.testing.assert_allclose(d, d0, rtol=1e-5, atol=1e-5)
        rows, cols = np.nonzero(i != i0)
        exact = lambda idx: ((x64[rows] - x64[idx[rows, cols]]) ** 2).sum(1)
        np.testing.assert_allclose(exact(i), exact(i0), rtol=1e-6)
        assert len(rows) <= 2, f"{len(rows)} neighbours differ between backends"


def test_factored_kernels_never_materialize(monkeypatch):
    def boom(self):
        raise AssertionError("the explicit delta ⊗ h embedding was built")

    monkeypatch.setattr(RankOne, "explicit", boom)
    blocks = _blocks(5, n=50)
    assert len(kmeanspp(blocks, 10, np.random.default_rng(0))) == 10
    assert len(kcenter_greedy(blocks, 10, labeled=np.arange(3))) == 10


# ------------------------------------------------------------ threads
def test_kernels_set_torch_and_blas_threads_apart_and_restore_them():
    """The GEMVs run on numpy's BLAS with the caller's thread count, the vector ops on one torch
    thread (mmal.kernels.backend); every count is restored, also after a kernel call."""
    import torch

    from mmal.kernels.backend import _blas, blas_threads, few_threads_for_small

    def counts():
        return torch.get_num_threads(), {i["num_threads"] for i in _blas().info()}

    before = counts()
    with blas_threads(2):
        outer = counts()
        with few_threads_for_small(10):
            assert counts() == (1, {1})
            with blas_threads(2):
                assert counts() == (1, {2})
            assert counts() == (1, {1})
        assert counts() == outer and outer[1] == {2}
        with few_threads_for_small(1 << 20):  # large work: nothing changes
            assert counts() == outer
    assert counts() == before
    x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    kcenter_greedy(x, 10, labeled=np.arange(3))
    kmeanspp(_blocks(3, n=300), 10, np.random.default_rng(0), defer=False)
    assert counts() == before
