"""Bad input gets a clear error naming the field and the fix, for every registered strategy (issue 10).

Pool construction and labeling errors are tested field by field in tests/test_pool.py; the
budget rules and the Selection contract in tests/test_strategy_contract.py; config files in
tests/bench/test_config.py and tests/bench/test_store.py; MMSA ``-inf`` audio in
tests/test_loaders.py. This file runs the rules across every registered strategy and fills
the gaps (see tests/reliability/README.md for the full map).
"""

import warnings

import numpy as np
import pytest

import mmal
from mmal import CapabilityError, PoolError, UnknownNameError
from mmal.rng import derive_rng
from reliability_fakes import LinearNet, finite_info, make_strategy, random_pool, strategy_tasks

NAMES = mmal.strategies.names()
CASES = [(name, task) for name in NAMES for task in strategy_tasks(name)]


def select(name, model, pool, budget):
    return make_strategy(name).select(model, pool, budget, rng=derive_rng(0, 1, name))


# ------------------------------------------------------------------ budgets and empty pools
@pytest.mark.parametrize("name, task", CASES)
def test_bad_budgets_and_an_exhausted_pool_fail_before_the_strategy_runs(name, task):
    pool = random_pool(0, n=12, n_labeled=4, task=task)
    model = LinearNet().fit(pool)
    for bad, words in ((0, "at least 1"), (-2, "at least 1"), (1.5, "positive int"), (np.float64(3), "positive int")):
        with pytest.raises(PoolError, match=words):
            select(name, model, pool, bad)
    full = pool.take(np.arange(pool.n))
    rest = full.ids[full.unlabeled_positions()]
    full.label(rest, np.zeros(len(rest)))
    with pytest.raises(PoolError, match="no unlabeled samples"):
        select(name, model, full, 1)


def test_an_empty_pool_is_a_clear_error():
    pool = mmal.Pool({"a": np.zeros((0, 3))}, mmal.Task("classification", n_classes=2))
    assert pool.n == 0
    with pytest.raises(PoolError, match="no unlabeled samples"):
        select("random", None, pool, 1)


# ------------------------------------------------------------------ tasks and capabilities
@pytest.mark.parametrize("name", NAMES)
def test_unsupported_task_and_missing_capabilities_are_named(name):
    s = make_strategy(name)
    for task in sorted({"regression", "classification"} - set(s.tasks)):
        pool = random_pool(0, n=12, n_labeled=4, task=task)
        with pytest.raises(CapabilityError, match=f"strategy '{name}' supports.*'{task}'.*choose a strategy"):
            select(name, LinearNet().fit(pool), pool, 2)
    task = sorted(s.tasks)[0]
    pool = random_pool(0, n=12, n_labeled=4, task=task)
    bare = LinearNet(caps=frozenset()).fit(pool)
    if s.requires or (name == "dbal" and task == "regression"):
        with pytest.raises(CapabilityError, match=f"strategy '{name}' requires the model capabilities.*LinearNet"):
            select(name, bare, pool, 2)
    else:
        assert len(select(name, bare, pool, 2).positions) == 2
    if s.needs_model:
        with pytest.raises(CapabilityError, match=f"'{name}'"):
            select(name, None, pool, 2)


def test_dbal_regression_names_the_extra_capability():
    pool = random_pool(0, n=12, n_labeled=4, task="regression")
    embed_only = LinearNet(caps=frozenset({"embed"})).fit(pool)
    with pytest.raises(CapabilityError, match="predict_proba_samples"):
        select("dbal", embed_only, pool, 2)


# ------------------------------------------------------------------ unknown names
@pytest.mark.parametrize("registry, typo, right", [
    (mmal.strategies, "corset", "coreset"), (mmal.strategies, "grace_rp", "grace-rp"),
    (mmal.task_models, "linaer", "linear"), (mmal.task_models, "mm-clasifier", "mm-classifier"),
    (mmal.datasets, "simsv2-synthetc", "simsv2-synthetic"), (mmal.datasets, "toyy", "toy"),
])
def test_unknown_names_suggest_the_right_one(registry, typo, right):
    with pytest.raises(UnknownNameError, match=f"did you mean '{right}'"):
        registry.get(typo)


@pytest.mark.parametrize("typo, right", [("GRACE", "grace"), ("BADGE", "badge"), ("BMMAL", "bmmal")])
def test_the_papers_upper_case_spelling_gets_a_suggestion(typo, right):
    with pytest.raises(UnknownNameError, match=f"did you mean '{right}'"):
        mmal.strategies.get(typo)


# ------------------------------------------------------------------ features and labels
def test_minus_inf_and_nan_features_name_the_positions_and_the_mmsa_fix():
    audio = np.zeros((4, 3, 2), np.float32)
    audio[2, 1, 0] = -np.inf
    with pytest.raises(PoolError, match=r"modality 'audio' has NaN or inf at sample positions \[2\].*replace -inf with 0"):
        mmal.Pool({"audio": audio}, mmal.Task("regression"))
    ok = mmal.Pool({"audio": audio}, mmal.Task("regression"), check_finite=False)  # opt-out is explicit
    assert ok.n == 4


def test_labels_that_contradict_the_labeled_mask_or_are_infinite():
    task = mmal.Task("regression", label_range=(-1.0, 1.0))
    with pytest.raises(PoolError, match="marked labeled without a 'M' label"):
        mmal.Pool({"a": np.zeros((3, 2))}, task, labels={"M": [0.1, np.nan, 0.2]}, labeled=np.ones(3, bool))
    with pytest.raises(PoolError, match="contains inf; use NaN for a missing label"):
        mmal.Pool({"a": np.zeros((3, 2))}, task, labels={"M": [0.1, np.inf, 0.2]})
    pool = mmal.Pool({"a": np.zeros((3, 2))}, task)
    with pytest.raises(PoolError, match="'M' label is NaN"):
        pool.label([0, 1], [0.1, np.nan])
    with pytest.raises(PoolError, match="duplicates"):
        pool.label([0, 0], [0.1, 0.2])
    assert pool.n_labeled == 0  # a failed label() changes nothing


# ------------------------------------------------------------------ a single class labeled
@pytest.mark.parametrize("name", [n for n in NAMES if "classification" in strategy_tasks(n)])
def test_a_single_labeled_class_gives_a_defined_selection(name):
    """Every labeled sample has class 1: the models predict that class with certainty (linear,
    LinearNet) or learn it (mm-classifier); every strategy still returns a valid, finite,
    reproducible selection (no 0/0 in margins, entropies, gradients or Shapley values)."""
    pool = random_pool(1, n=20, n_labeled=6, single_class=1, dims=(3, 2))
    s = make_strategy(name)
    models = [LinearNet().fit(pool)]
    linear = mmal.task_models.get("linear").fit(pool)
    if s.requires <= linear.capabilities:
        models.append(linear)
    for model in models:
        sel = select(name, model, pool, 5)
        again = select(name, model, pool, 5)
        assert sel.positions.tolist() == again.positions.tolist() and len(set(sel.positions.tolist())) == 5
        assert not pool.labeled[sel.positions].any()
        assert sel.scores is None or np.isfinite(sel.scores).all()
        assert finite_info(sel.info) == [], (name, type(model).__name__, finite_info(sel.info))


@pytest.mark.parametrize("model_name", ["mm-classifier", "mtl"])
def test_a_single_labeled_class_with_a_torch_model(model_name):
    pool = random_pool(1, n=20, n_labeled=6, single_class=1, dims=(3, 2))
    model = mmal.task_models.get(model_name, feature_dim=4, hidden=8, epochs=1, device="cpu").fit(pool, seed=0)
    for name in ("badge", "bmmal", "bald", "grace", "dbal"):
        sel = select(name, model, pool, 5)
        assert len(set(sel.positions.tolist())) == 5 and not pool.labeled[sel.positions].any()
        assert sel.scores is None or np.isfinite(sel.scores).all()
        assert finite_info(sel.info) == [], (name, model_name, finite_info(sel.info))


def test_the_linear_model_with_one_class_predicts_it_everywhere():
    pool = random_pool(1, n=20, n_labeled=6, single_class=2, dims=(3, 2))
    model = mmal.task_models.get("linear").fit(pool)
    assert (model.predict(pool)["M"] == 2).all()
    np.testing.assert_array_equal(model.predict_proba(pool)["M"][:, 2], 1.0)


def test_over_budget_warns_once_and_returns_everything_for_every_strategy_kind():
    pool = random_pool(2, n=10, n_labeled=7)
    model = LinearNet().fit(pool)
    for name in ("random", "grace", "coreset", "bmmal"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sel = select(name, model, pool, 50)
        assert sum("budget 50 is larger than the 3 unlabeled" in str(w.message) for w in caught) == 1
        assert sorted(sel.positions.tolist()) == pool.unlabeled_positions().tolist()
