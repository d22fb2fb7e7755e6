"""``Strategy.select(..., candidates=)``: the query runs as if the other unlabeled samples were
absent (scikit-activeml's ``candidates=``, small-text's ``indices_unlabeled``)."""

import numpy as np
import pytest

import mmal


@pytest.fixture(scope="module")
def fitted():
    ds = mmal.datasets.get("toy", size=60, seed=0, task="classification")
    pool = ds.train
    ids = pool.ids[:10]
    pool.label(ids, ds.oracle(ids))
    model = mmal.task_models.get("mm-classifier", epochs=3)
    model.fit(pool, seed=0)
    return model, pool


@pytest.mark.parametrize("name", ["random", "coreset", "badge", "dbal", "bmmal", "modal-margin", "bald"])
def test_picks_equal_the_query_on_the_labeled_plus_candidates_pool(fitted, name):
    model, pool = fitted
    cand = pool.unlabeled_positions()[::3]
    got = mmal.strategies.get(name).select(model, pool, 5, rng=np.random.default_rng(1), candidates=cand)
    rows = np.union1d(pool.labeled_positions(), cand)
    ref = mmal.strategies.get(name).select(model, pool.take(rows), 5, rng=np.random.default_rng(1))
    assert got.positions.tolist() == rows[ref.positions].tolist()
    assert set(got.positions.tolist()) <= set(cand.tolist())
    assert got.info["pool_positions"].tolist() == rows.tolist()


def test_a_bool_mask_is_the_same_as_its_positions(fitted):
    model, pool = fitted
    mask = np.zeros(pool.n, bool)
    mask[pool.unlabeled_positions()[1::2]] = True
    margin = mmal.strategies.get("modal-margin")
    a = margin.select(model, pool, 4, rng=np.random.default_rng(0), candidates=mask)
    b = margin.select(model, pool, 4, rng=np.random.default_rng(0), candidates=np.flatnonzero(mask))
    assert a.positions.tolist() == b.positions.tolist() and mask[a.positions].all()


def test_a_budget_over_the_candidates_selects_them_all(fitted):
    model, pool = fitted
    cand = pool.unlabeled_positions()[:3]
    with pytest.warns(UserWarning, match="larger than the 3 unlabeled"):
        got = mmal.strategies.get("random").select(model, pool, 5, rng=np.random.default_rng(0), candidates=cand)
    assert sorted(got.positions.tolist()) == cand.tolist()


@pytest.mark.parametrize("bad, words", [
    ([], "candidates is empty"),
    (lambda p: [p.unlabeled_positions()[0]] * 2, "repeated positions"),
    (lambda p: p.labeled_positions()[:2], "candidates has labeled positions"),
    ([10_000], r"out of range 0..59: \[10000\]"),
    (np.ones(7, bool), r"bool mask must have shape \(60,\)"),
    ([[1, 2]], "1-D integer positions"),
])
def test_bad_candidates_name_the_problem(fitted, bad, words):
    model, pool = fitted
    bad = bad(pool) if callable(bad) else bad
    labeled = pool.labeled.copy()
    with pytest.raises(mmal.ArrayError, match=words):
        mmal.strategies.get("random").select(model, pool, 2, rng=np.random.default_rng(0), candidates=bad)
    assert (pool.labeled == labeled).all()
