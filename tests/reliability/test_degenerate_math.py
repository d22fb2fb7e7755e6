"""Degenerate math (issue 10): all gradients zero, all points identical, constant criteria, zero
Shapley contributions. Every strategy must give a defined, valid selection with no NaN in its
scores or info, and a loop over such a model must record no NaN.

``LinearNet(zero=True)`` has every weight 0: gradients and embeddings are 0, probabilities
uniform, MC-dropout samples equal, masked predictions equal (every Shapley value 0), so
every criterion is constant. ``identical=True`` pools have one row repeated: identical
embeddings and gradients. Formula-level cases live next to the formulas:
tests/test_grace.py::test_degenerate_criteria_normalize_to_zero_not_nan,
tests/test_bmmal.py::test_contributions_eq12_and_the_all_zero_case,
tests/bench/test_measure.py::test_contribution_is_the_share_of_absolute_shapley_values_and_defined_at_zero.
"""

import json
import math

import numpy as np
import pytest

import mmal
from mmal.rng import derive_rng
from reliability_fakes import LinearNet, finite_info, make_strategy, random_pool, strategy_tasks

NAMES = mmal.strategies.names()
CASES = [(name, task) for name in NAMES for task in strategy_tasks(name)]
DEGENERATE = {
    "zero-model": dict(zero=True, identical=False),
    "identical-points": dict(zero=False, identical=True),
    "both": dict(zero=True, identical=True),
}


def degenerate(task, zero, identical, seed=0):
    pool = random_pool(seed, n=16, n_labeled=5, task=task, dims=(3, 2), identical=identical)
    return LinearNet(zero=zero).fit(pool), pool


@pytest.mark.parametrize("kind", sorted(DEGENERATE))
@pytest.mark.parametrize("name, task", CASES)
def test_defined_selection_without_nan(name, task, kind):
    model, pool = degenerate(task, **DEGENERATE[kind])
    for budget in (1, 4, pool.n_unlabeled):
        sel = make_strategy(name).select(model, pool, budget, rng=derive_rng(0, 1, name), round=1)
        assert len(set(sel.positions.tolist())) == budget and not pool.labeled[sel.positions].any()
        if sel.scores is not None:
            assert np.isfinite(sel.scores).all(), (name, kind, sel.scores)
        assert finite_info(sel.info) == [], (name, kind, finite_info(sel.info))
        again = make_strategy(name).select(model, pool, budget, rng=derive_rng(0, 1, name), round=1)
        assert again.positions.tolist() == sel.positions.tolist()  # defined = reproducible, even on ties


def test_the_zero_model_really_is_degenerate():
    """Guard the fixture: zero gradients, zero embeddings, uniform probabilities, zero Shapley values."""
    model, pool = degenerate("classification", zero=True, identical=False)
    unl = pool.unlabeled_positions()
    g = model.grad_embed(pool, unl, head="M", layer="head:M")
    assert not g.sq_norms().any()
    for k in ("m0", "m1"):
        assert not model.grad_embed(pool, unl, head=k, layer=f"enc:{k}").sq_norms().any()
    assert not np.concatenate(list(model.embed(pool, unl).values()), axis=1).any()
    np.testing.assert_allclose(model.predict_proba(pool, unl)["M"], 1 / 3)
    full, none = model.predict_masked(pool, unl), model.predict_masked(pool, unl, absent={"m0", "m1"})
    np.testing.assert_array_equal(full, none)


def test_grace_criteria_are_zero_not_nan_on_zero_gradients():
    """Eq. 4-6 on zero gradients: informativeness 0, easiness 0 (cos with a zero vector := 0),
    representativeness 0; min-max of a constant criterion is 0, so every score is 0 and the
    pick is the first unlabeled positions (stable order)."""
    model, pool = degenerate("regression", zero=True, identical=False)
    sel = make_strategy("grace").select(model, pool, 3, rng=derive_rng(0, 1, "grace"), round=1)
    for key in ("informativeness_raw", "easiness_raw", "representativeness_raw", "informativeness", "easiness"):
        np.testing.assert_array_equal(sel.info[key], 0.0)
    np.testing.assert_array_equal(sel.scores, 0.0)
    assert sel.positions.tolist() == pool.unlabeled_positions()[:3].tolist()


def test_bmmal_zero_shapley_gives_uniform_contributions():
    """Eq. 12 with every phi = 0: contributions 1/M (no modality dominates), not 0/0."""
    model, pool = degenerate("classification", zero=True, identical=False)
    sel = make_strategy("bmmal").select(model, pool, 4, rng=derive_rng(0, 1, "bmmal"))
    for side in ("contribution_selected", "contribution_pool"):
        assert sel.info[side] == pytest.approx({"m0": 0.5, "m1": 0.5})


def test_identical_points_k_center_radius_is_zero():
    """k-center on identical points: every covering radius is 0 (defined), not NaN or inf."""
    model, pool = degenerate("classification", zero=False, identical=True)
    sel = make_strategy("coreset").select(model, pool, 3, rng=derive_rng(0, 1, "coreset"))
    np.testing.assert_allclose(sel.info["radius"], 0.0, atol=1e-6)


@pytest.mark.parametrize("task, name", [("regression", "grace"), ("classification", "bmmal"), ("classification", "badge")])
def test_a_loop_on_a_degenerate_model_records_no_nan(task, name):
    """What the loop records (and the bench report reads): metrics and info without NaN."""
    ds = mmal.datasets.get("toy", size=30, seed=0, task=task)
    recs = mmal.run_loop(ds, make_strategy(name), lambda: LinearNet(zero=True), init=6, budget=4, rounds=2, seed=0)
    text = json.dumps([r.__dict__ for r in recs], default=str)
    assert "NaN" not in text and "Infinity" not in text
    assert all(math.isfinite(v) for r in recs for v in r.metrics.values())
