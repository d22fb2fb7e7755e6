"""grace-rank: GRACE with rank normalization of the criteria (not in the paper).

Checks: rank_normalize against a brute-force count on small inputs (ties included); the
score equals Eq. 7 on the rank-normalized criteria of the same raw criteria as grace's; grace
itself still min-max normalizes; an outlier block far from the rest does not squeeze the
ordinary samples under rank normalization (it does under min-max); the conformance kit.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import mmal
from mmal.arrays import ModalityGradients, grace_scores, minmax, rank_normalize
from mmal.testing import check_strategy

from test_grace import TinyMultimodal


def brute_rank(x):
    """(number strictly below + (number equal - 1) / 2) / (n - 1): the mean rank of the ties, 0-based, scaled."""
    n = len(x)
    if n < 2 or len(set(x)) == 1:
        return [0.0] * n
    return [(sum(b < a for b in x) + (sum(b == a for b in x) - 1) / 2) / (n - 1) for a in x]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_rank_normalize_equals_brute_force(n):
    rng = np.random.default_rng(n)
    for trial in range(20):
        x = rng.integers(0, 4, n).astype(float) if trial % 2 else rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4)
        np.testing.assert_allclose(rank_normalize(x), brute_rank(list(x)), rtol=0, atol=1e-15)


def test_rank_normalize_every_permutation_of_distinct_values():
    for perm in itertools.permutations([3.0, -1.0, 7.5, 0.0]):
        got = rank_normalize(np.array(perm))
        assert sorted(got.tolist()) == [0.0, 1 / 3, 2 / 3, 1.0]
        assert np.array_equal(np.argsort(got), np.argsort(perm))


def test_rank_normalize_constant_and_scale_invariance():
    assert np.array_equal(rank_normalize(np.full(6, 2.5)), np.zeros(6))
    x = np.array([0.1, 5.0, 3.0, 1e6])
    np.testing.assert_array_equal(rank_normalize(x), rank_normalize(np.log(x)))  # any increasing map
    np.testing.assert_array_equal(rank_normalize(x), [0, 2 / 3, 1 / 3, 1])


def _grads(n=60, seed=0, outliers=0, scale=50.0):
    rng = np.random.default_rng(seed)
    out = {}
    for k in ("text", "audio"):
        h = rng.standard_normal((n, 5))
        h[:outliers] *= scale
        out[k] = ModalityGradients(rng.standard_normal((n, 3)), rng.standard_normal((n, 3)), h)
    return out


def test_rank_scores_are_eq7_on_ranks_of_the_same_raw_criteria():
    g = _grads()
    mm = grace_scores(g, round=2, dtype="float64")
    rk = grace_scores(g, round=2, dtype="float64", normalize="rank")
    for name in ("informativeness", "representativeness", "easiness"):
        np.testing.assert_array_equal(mm["raw"][name], rk["raw"][name])
        np.testing.assert_array_equal(mm["normalized"][name], minmax(mm["raw"][name]))
        np.testing.assert_allclose(rk["normalized"][name], brute_rank(list(rk["raw"][name])), atol=1e-15)
    n = rk["normalized"]
    np.testing.assert_allclose(rk["score"], 0.9 * n["easiness"] + n["informativeness"] * n["representativeness"])


def test_outliers_squeeze_minmax_but_not_ranks():
    """5 of 60 rows with 50x the input norm: under min-max the other 55 rows' informativeness is
    <= 0.05 and the outliers are the top 5; under ranks the 55 ordinary rows span [0, 0.9]."""
    g = _grads(outliers=5)
    mm = grace_scores(g, round=1, dtype="float64")
    rk = grace_scores(g, round=1, dtype="float64", normalize="rank")
    ordinary = np.arange(5, 60)
    assert mm["normalized"]["informativeness"][ordinary].max() < 0.05
    assert set(np.argsort(-(mm["normalized"]["informativeness"] * mm["normalized"]["representativeness"]))[:5]) == set(range(5))
    s_i = rk["normalized"]["informativeness"][ordinary]
    assert s_i.min() == 0.0 and s_i.max() == pytest.approx(54 / 59)


def test_grace_is_unchanged_and_bad_normalize_is_refused():
    grace, rank = mmal.strategies.get("grace"), mmal.strategies.get("grace-rank")
    assert "normalize" not in grace.options(1)
    assert rank.options(1)["normalize"] == "rank"
    assert {k: v for k, v in rank.options(1).items() if k != "normalize"} == grace.options(1)
    with pytest.raises(mmal.errors.ArrayError, match="normalize must be"):
        grace_scores(_grads(), normalize="zscore")


def test_plugin_equals_the_array_function():
    from test_grace import fitted

    model, pool = fitted("classification", seed=3)
    strategy = mmal.strategies.get("grace-rank", dtype="float64")
    unl = pool.unlabeled_positions()
    got_in = strategy.inputs(model, pool, unl)
    want = grace_scores(got_in["gradients"], **strategy.options(round=2))
    sel = strategy.select(model, pool, 4, rng=np.random.default_rng(0), round=2)
    order = np.argsort(-want["score"], kind="stable")[:4]
    assert np.array_equal(sel.positions, unl[order])
    np.testing.assert_allclose(sel.info["informativeness"], want["normalized"]["informativeness"][order])


def test_conformance_kit():
    check_strategy("grace-rank", model_factory=lambda: TinyMultimodal(epochs=20))
