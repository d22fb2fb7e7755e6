"""modAL interop (mmal.compat, issues 8 and 17): modAL ActiveLearner loops with mmal strategies
on a multimodal pool (X = positions), the scoped scikit-learn shim, MMALEstimator's sklearn
contract, and modAL query functions as mmal strategies (conformance kit, run_loop, `mmal bench`).
Feature-row learners are tested in tests/test_adapters_modal.py."""

import doctest
import importlib
import inspect
import json
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import sklearn.utils
import sklearn.utils.validation
from modAL.models import ActiveLearner
from modAL.uncertainty import entropy_sampling, margin_sampling, uncertainty_sampling
from sklearn.base import BaseEstimator, clone, is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

import mmal
import mmal.builtin.modal  # noqa: F401  (importing the plugin must not patch modAL either)
from mmal.compat import modal as mc
from mmal.testing import check_strategy

LEARNERS = importlib.import_module("modAL.models.learners")
SKLEARN_REMOVED_FORCE_ALL_FINITE = "force_all_finite" not in inspect.signature(sklearn.utils.check_X_y).parameters


def linear():
    return mmal.task_models.get("linear")


def toy(task="classification", seed=0):
    return mmal.datasets.get("toy", size="tiny", seed=seed, task=task)


def labels_of(ds, X):
    return ds.oracle(ds.train.ids[mc.as_positions(X, ds.train.n)])["M"]


def labeled_view(pool, ds, positions):
    """An independent copy of ``pool`` with exactly ``positions`` labeled (the oracle's labels)."""
    view = pool.take(np.arange(pool.n))
    ids = view.ids[np.asarray(positions)]
    view.label(ids, ds.oracle(ids))
    return view


class FarthestFromLabeled(mmal.Strategy):
    """Needs `embed`: the unlabeled samples farthest (fused feature) from their nearest labeled one."""

    requires = frozenset({"embed"})

    def query(self, model, pool, budget, *, rng, round):
        e = model.embed(pool)["fused"]
        lab, unl = pool.labeled_positions(), pool.unlabeled_positions()
        d = np.sqrt(((e[unl, None, :] - e[None, lab, :]) ** 2).sum(-1)).min(1)
        order = np.lexsort((unl, -d))[:budget]
        return mmal.Selection(unl[order], d[order])


class AnyEstimator(BaseEstimator):
    def fit(self, X, y):
        return self


# ---------------------------------------------------------------- the scikit-learn shim
def test_importing_mmal_changes_nothing_in_modal():
    code = ("import mmal, mmal.compat.modal, mmal.builtin.modal, mmal.adapters, sys; "
            "assert 'modAL' not in sys.modules, 'import mmal must not import modAL'; "
            "import modAL.models.learners as L; assert not hasattr(L.check_X_y, '__mmal_shim_of__'), 'patched at import'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]


def _xy(n=30):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)), rng.integers(0, 2, n)


def test_scoped_shim_serves_learners_that_hold_mmal_and_no_other():
    from modAL.models import Committee

    X, y = _xy()
    query = mc.as_query_strategy("random", seed=0)  # building an mmal adapter puts the scoped shim in place
    mc.unpatch_modal()  # not widened to every learner
    assert hasattr(LEARNERS.check_X_y, "__mmal_shim_of__")
    assert sklearn.utils.check_X_y is sklearn.utils.validation.check_X_y  # scikit-learn itself untouched
    mine = ActiveLearner(LogisticRegression(), query, X_training=X[:10], y_training=y[:10])
    plain = ActiveLearner(LogisticRegression(), X_training=X[:10], y_training=y[:10])
    mine.teach(X[10:12], y[10:12])  # no patch called: works
    assert len(mine.X_training) == 12
    if SKLEARN_REMOVED_FORCE_ALL_FINITE:  # a learner without mmal behaves exactly as without mmal
        with pytest.raises(TypeError, match="force_all_finite"):
            plain.teach(X[10:12], y[10:12])
    else:
        print("this scikit-learn still accepts force_all_finite: modAL's teach works unpatched")
    # the flag keeps its meaning: NaN refused by default, accepted with force_all_finite=False
    Xn = X[12:14].copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mine.teach(Xn, y[12:14])
    lenient = ActiveLearner(AnyEstimator(), query, force_all_finite=False)
    lenient.teach(Xn, y[12:14])
    assert len(lenient.X_training) == 2
    # a committee with an mmal query strategy: its plain members are taught through it
    members = [ActiveLearner(LogisticRegression(C=c), X_training=X[:10], y_training=y[:10]) for c in (0.5, 2.0)]
    committee = Committee(members, query_strategy=mc.as_query_strategy("coreset", seed=0))
    idx, rows = committee.query(X[10:], n_instances=3)
    committee.teach(rows, y[10:][idx])
    assert all(len(m.X_training) == 13 for m in members)
    if SKLEARN_REMOVED_FORCE_ALL_FINITE:
        with pytest.raises(TypeError, match="force_all_finite"):
            members[0].teach(X[20:21], y[20:21])  # taught directly, a member holds nothing of mmal's


def test_patch_modal_widens_the_shim_to_every_learner_and_back():
    X, y = _xy()
    plain = ActiveLearner(LogisticRegression(), X_training=X[:10], y_training=y[:10])
    try:
        assert mc.patch_modal() is True and mc.patch_modal() is True  # idempotent
        shim = LEARNERS.check_X_y
        plain.teach(X[10:12], y[10:12])
        assert LEARNERS.check_X_y is shim and len(plain.X_training) == 12
    finally:
        mc.unpatch_modal()
    if SKLEARN_REMOVED_FORCE_ALL_FINITE:
        with pytest.raises(TypeError, match="force_all_finite"):
            plain.teach(X[12:13], y[12:13])
        with mc.modal_compat() as active:
            assert active
            plain.teach(X[12:13], y[12:13])
        with pytest.raises(TypeError, match="force_all_finite"):
            plain.teach(X[13:14], y[13:14])


def test_module_examples_run():
    from mmal.compat import modal_strategy

    for module, least in ((mc, 8), (modal_strategy, 3)):
        result = doctest.testmod(module)
        assert result.attempted >= least and result.failed == 0, module.__name__


# ---------------------------------------------------------------- mmal strategy in modAL
@pytest.mark.parametrize("k", [1, 3, 5])
def test_active_learner_loop_random(k):
    ds = toy()
    pool = ds.train
    X_pool, init = mc.pool_X(pool), np.arange(8)
    query = mc.as_query_strategy("random", pool=pool, seed=3)
    learner = ActiveLearner(mc.MMALEstimator("linear", pool), query, X_training=X_pool[init], y_training=labels_of(ds, init))
    X_pool = np.delete(X_pool, init, axis=0)
    for r in (1, 2, 3):
        trained = mc.as_positions(learner.X_training, pool.n)
        expected = mmal.strategies.get("random").select(None, labeled_view(pool, ds, trained), k, rng=mmal.derive_rng(3, r, "random"))
        idx, rows = learner.query(X_pool, n_instances=k)
        assert query.round == r
        out = query(learner, X_pool, n_instances=k, round=r)  # the same round again: the same answer
        assert isinstance(out, tuple) and len(out) == 2
        assert all(isinstance(a, np.ndarray) for a in out)
        assert out[0].dtype == np.int64 and out[1].dtype == np.float64 and out[0].shape == out[1].shape == (k,)
        assert np.array_equal(out[0], idx) and np.isnan(out[1]).all()  # random gives no scores
        picked = rows[:, 0]
        assert np.array_equal(rows, X_pool[idx]) and np.array_equal(picked, expected.positions)
        assert not np.isin(picked, trained).any()
        learner.teach(rows, labels_of(ds, rows))
        X_pool = np.delete(X_pool, idx, axis=0)
        assert not np.isin(picked, X_pool).any() and len(X_pool) == pool.n - 8 - r * k
        assert learner.estimator.pool_.n_labeled == len(learner.X_training) == 8 + r * k
    assert pool.n_labeled == 0  # the user's pool is never labeled behind their back


def test_capability_strategy_sees_training_set_and_x_pool_only():
    ds = toy()
    pool = ds.train
    rng = np.random.default_rng(1)
    order = rng.permutation(pool.n)
    init, X_pool = order[:10], mc.pool_X(pool, order[10:50])  # a candidate subset; 190 samples in neither
    learner = ActiveLearner(mc.MMALEstimator("linear", pool), mc.as_query_strategy(FarthestFromLabeled(), pool=pool),
                            X_training=mc.pool_X(pool, init), y_training=labels_of(ds, init))
    for r in (1, 2):
        trained = mc.as_positions(learner.X_training, pool.n)
        emb = learner.estimator.model_.embed(pool)["fused"]
        cand = X_pool[:, 0]
        dist = np.array([min(np.linalg.norm(emb[c] - emb[t]) for t in trained) for c in cand])
        best = np.lexsort((cand, -dist))[:5]
        idx, scores = learner.query_strategy(learner, X_pool, n_instances=5)
        assert np.array_equal(idx, best) and np.allclose(scores, dist[best])
        if r == 1:  # had every sample outside X_pool counted as labeled, the picks would differ
            others = np.setdiff1d(np.arange(pool.n), cand)
            wrong = np.array([min(np.linalg.norm(emb[c] - emb[t]) for t in others) for c in cand])
            assert set(np.argsort(-wrong)[:5]) != set(best.tolist())
        learner.teach(X_pool[idx], labels_of(ds, X_pool[idx]))
        X_pool = np.delete(X_pool, idx, axis=0)
    assert len(learner.X_training) == 20 and len(X_pool) == 30


@pytest.mark.parametrize("k", [1, 3, 5])
def test_active_learner_loop_registered_capability_strategy(k):
    ds = toy()
    pool = ds.train
    X_pool, init = mc.pool_X(pool), np.arange(10)
    query = mc.as_query_strategy("coreset", pool=pool, seed=0)
    learner = ActiveLearner(mc.MMALEstimator("linear", pool), query, X_training=X_pool[init], y_training=labels_of(ds, init))
    X_pool = np.delete(X_pool, init, axis=0)
    for r in (1, 2, 3):
        trained = mc.as_positions(learner.X_training, pool.n)
        view = labeled_view(pool, ds, trained)
        expected = mmal.strategies.get("coreset").select(learner.estimator.model_, view, k, rng=mmal.derive_rng(0, r, "coreset"))
        idx, scores = query(learner, X_pool, n_instances=k)
        assert idx.dtype == np.int64 and scores.dtype == np.float64 and idx.shape == scores.shape == (k,)
        assert np.array_equal(X_pool[idx, 0], expected.positions)
        learner.teach(X_pool[idx], labels_of(ds, X_pool[idx]))
        X_pool = np.delete(X_pool, idx, axis=0)
        assert learner.estimator.pool_.n_labeled == 10 + r * k and len(X_pool) == pool.n - 10 - r * k


def test_learner_with_another_estimator():
    ds = toy()
    pool = ds.train
    X_pool, init = mc.pool_X(pool), np.arange(12)
    learner = ActiveLearner(LogisticRegression(), mc.as_query_strategy("random", pool=pool, seed=5),
                            X_training=X_pool[init], y_training=labels_of(ds, init))
    idx, _ = learner.query(X_pool[6:], n_instances=4)  # candidates overlap the training rows 6..11
    expected = mmal.strategies.get("random").select(None, labeled_view(pool, ds, init[:6]), 4, rng=mmal.derive_rng(5, 1, "random"))
    assert np.array_equal(X_pool[6:][idx, 0], expected.positions)
    needy = ActiveLearner(LogisticRegression(), mc.as_query_strategy(FarthestFromLabeled(), pool=pool),
                          X_training=X_pool[init], y_training=labels_of(ds, init))
    with pytest.raises(mmal.CapabilityError, match="MMALEstimator"):
        needy.query(X_pool[12:], n_instances=2)


def test_query_input_errors():
    ds = toy()
    pool = ds.train
    X = mc.pool_X(pool)
    learner = ActiveLearner(mc.MMALEstimator("linear", pool), mc.as_query_strategy("random", pool=pool),
                            X_training=X[:10], y_training=labels_of(ds, X[:10]))
    query = learner.query_strategy
    with pytest.raises(mmal.PoolError, match="repeats"):
        query(learner, np.concatenate([X[10:], X[10:12]]), n_instances=2)
    with pytest.raises(mmal.PoolError, match="pool_X"):
        query(learner, X[10:] + 0.5, n_instances=2)
    with pytest.raises(mmal.PoolError, match="outside"):
        query(learner, X[10:] + pool.n, n_instances=2)
    with pytest.raises(mmal.PoolError, match="no unlabeled"):
        query(learner, X[:0], n_instances=2)
    other = pool.take(np.arange(pool.n)[::-1])  # the same samples in another order: positions differ
    with pytest.raises(mmal.PoolError, match="same Pool"):
        mc.as_query_strategy("random", pool=other)(learner, X[10:], n_instances=2)
    with pytest.raises(TypeError, match="instance"):
        mc.as_query_strategy(FarthestFromLabeled(), pool=pool, alpha=1)


# ---------------------------------------------------------------- MMALEstimator
def test_estimator_is_an_sklearn_classifier_or_regressor():
    ds = toy()
    est = mc.MMALEstimator("linear", ds.train, seed=2, alpha=0.5)
    assert isinstance(est, mc.MMALClassifier) and is_classifier(est)
    reg = mc.MMALEstimator("linear", toy("regression").train)
    assert isinstance(reg, mc.MMALRegressor) and is_regressor(reg) and not hasattr(reg, "predict_proba")
    params = est.get_params()
    assert params == {"task_model": "linear", "pool": ds.train, "seed": 2, "alpha": 0.5}
    twin = clone(est)  # the pool is data, shared by clones, not copied
    assert type(twin) is mc.MMALClassifier and twin.get_params() == params and twin.pool is ds.train
    model = linear()
    assert clone(mc.MMALEstimator(model, ds.train)).task_model is not model  # a model instance is copied
    est.set_params(alpha=2.0)
    assert est.alpha == 2.0 and est.get_params()["alpha"] == 2.0
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(beta=1)
    with pytest.raises(NotFittedError):
        est.predict_proba(mc.pool_X(ds.train))
    with pytest.raises(TypeError, match="mmal.Pool"):
        mc.MMALEstimator("linear", np.zeros((3, 2)))


def test_estimator_fits_the_task_model_on_the_rows_of_x():
    ds = toy()
    pool = ds.train
    pos = np.array([3, 17, 40, 41, 42, 88, 100, 150, 199, 230, 5, 9])
    est = mc.MMALEstimator("linear", pool, seed=2, alpha=0.5).fit(mc.pool_X(pool, pos), labels_of(ds, pos))
    direct = mmal.task_models.get("linear", alpha=0.5).fit(labeled_view(pool, ds, pos), seed=2)
    X = mc.pool_X(pool)
    assert np.allclose(est.predict_proba(X), direct.predict_proba(pool)["M"])
    assert np.array_equal(est.predict(X), direct.predict(pool)["M"])
    assert np.array_equal(est.classes_, np.arange(3)) and est.predict_proba(X).shape == (pool.n, 3)
    truth = ds.oracle(pool.ids)["M"]
    assert est.score(X, truth) == pytest.approx(np.mean(direct.predict(pool)["M"] == truth))
    assert pool.n_labeled == 0 and est.pool_.n_labeled == pos.size
    # repeated rows (modAL's bootstrap) count once; a 1-D X works too
    rep = np.concatenate([pos, pos[:4]])
    again = mc.MMALEstimator("linear", pool, seed=2, alpha=0.5).fit(rep, labels_of(ds, rep))
    assert np.allclose(again.predict_proba(X), est.predict_proba(X))
    with pytest.raises(mmal.PoolError, match="different labels"):
        mc.MMALEstimator("linear", pool).fit(rep, np.concatenate([labels_of(ds, pos), (labels_of(ds, pos[:4]) + 1) % 3]))
    with pytest.raises(mmal.PoolError, match="one 'M' label per row"):
        est.fit(mc.pool_X(pool, pos), labels_of(ds, pos)[:-1])
    # an instance is deep-copied, never fitted itself
    model = linear()
    mc.MMALEstimator(model, pool).fit(mc.pool_X(pool, pos), labels_of(ds, pos))
    assert not hasattr(model, "heads_")


def test_regressor_predicts_like_the_task_model():
    ds = toy("regression")
    pool = ds.train
    pos = np.arange(0, 60, 3)
    est = mc.MMALEstimator("linear", pool).fit(mc.pool_X(pool, pos), labels_of(ds, pos))
    direct = linear().fit(labeled_view(pool, ds, pos), seed=0)
    assert np.allclose(est.predict(mc.pool_X(pool)), direct.predict(pool)["M"])


# ---------------------------------------------------------------- modAL strategy in mmal
MODAL_NAMES = ["modal-uncertainty", "modal-margin", "modal-entropy"]


@pytest.mark.parametrize("name", MODAL_NAMES)
def test_registered_modal_strategies_conform(name):
    check_strategy(name, model_factory=linear)


def test_from_modal_with_random_tie_break_conforms():
    # modAL breaks ties with global np.random: seeded from rng, global state restored
    check_strategy(mc.from_modal(uncertainty_sampling, name="ut", random_tie_break=True), model_factory=linear)


def _direct_scores(proba, name):
    """The modAL metric by explicit loops over classes; larger is better."""
    out = []
    for p in proba:
        top = sorted(p, reverse=True)
        if name == "modal-uncertainty":
            out.append(1.0 - top[0])
        elif name == "modal-margin":
            out.append(-(top[0] - top[1]))
        else:
            out.append(-sum(q * np.log(q) for q in p if q > 0))
    return np.array(out)


@pytest.mark.parametrize("name", MODAL_NAMES)
def test_modal_strategies_match_their_formulas(name):
    ds = toy(seed=2)
    pool = labeled_view(ds.train, ds, np.arange(15))
    model = linear().fit(pool, seed=0)
    unl = pool.unlabeled_positions()
    direct = _direct_scores(model.predict_proba(pool)["M"][unl], name)
    sel = mmal.strategies.get(name).select(model, pool, 7, rng=mmal.derive_rng(0, 1, name))
    got = direct[np.searchsorted(unl, sel.positions)]
    assert np.allclose(sel.scores, got, atol=1e-12)  # scores are the formula, best first
    assert np.allclose(np.sort(got)[::-1], np.sort(direct)[::-1][:7], atol=1e-12)  # and the 7 best
    raw = -got if name == "modal-margin" else got
    assert np.allclose(sel.info["modal_metric"], raw, atol=1e-12)


def test_from_modal_edge_cases():
    ds = toy()
    pool = labeled_view(ds.train, ds, np.arange(10))
    model = linear().fit(pool, seed=0)
    rng = mmal.derive_rng(0, 1, "x")
    First = mc.from_modal(lambda clf, X, n_instances: np.arange(n_instances), name="first")  # bare indices
    sel = First().select(model, pool, 3, rng=rng)
    assert np.array_equal(sel.positions, pool.unlabeled_positions()[:3]) and sel.scores is None
    Bad = mc.from_modal(lambda clf, X, n_instances: np.array([0, len(X)]), name="bad")
    with pytest.raises(mmal.ContractError, match="'bad'"):
        Bad().select(model, pool, 2, rng=rng)
    with pytest.raises(mmal.CapabilityError, match="regression"):
        mc.from_modal(margin_sampling)().select(model, labeled_view(toy("regression").train, toy("regression"), np.arange(5)), 2, rng=rng)
    with pytest.raises(mmal.CapabilityError, match="model=None"):
        mc.from_modal(entropy_sampling)().select(None, pool, 2, rng=rng)
    with pytest.raises(ValueError, match="tasks"):
        mc.from_modal(entropy_sampling, tasks="ranking")


def test_modal_strategy_in_run_loop():
    ds = toy()
    records = mmal.run_loop(ds, mmal.strategies.get("modal-margin"), linear, init=10, budget=5, rounds=2, seed=0)
    assert [r.n_labeled for r in records] == [10, 15, 20]
    picked = [i for r in records[1:] for i in r.selected_ids]
    assert len(set(picked)) == 10 and not set(picked) & set(records[0].selected_ids)
    assert len(records[1].info["modal_metric"]) == 5


def test_modal_strategy_in_mmal_bench_cli(tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "mmal", "bench", "--strategies", "modal-uncertainty,random", "--dataset", "toy",
           "--seeds", "0", "--rounds", "2", "--init", "20", "--budget", "10", "--out", str(out), "--no-report"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    rows = [r for r in lines if "metrics" in r and r.get("n_labeled") is not None]  # round rows, not cell markers
    cells = sorted((r["strategy"], r["round"]) for r in rows if r["strategy"] in ("modal-uncertainty", "random"))
    assert cells == sorted((s, k) for s in ("modal-uncertainty", "random") for k in range(3))
    modal_rows = [r for r in rows if r["strategy"] == "modal-uncertainty"]
    assert [r["n_labeled"] for r in modal_rows] == [20, 30, 40]
