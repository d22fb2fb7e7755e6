"""The report's statistics on small cases computed by hand (closed forms, not scipy).

Student's t with 1 and 2 degrees of freedom has closed forms: the 0.975 quantile is
tan(0.475 pi) for 1 dof and (2p - 1) / sqrt(2p(1 - p)) at p = 0.975 for 2 dof; the two-sided
p-value of a statistic t with 2 dof is 1 - |t| / sqrt(2 + t^2).
"""

import math

import numpy as np
import pytest

from mmal.bench.stats import (
    FEW_SEEDS, against_baseline, aubc, ci_band, labels_needed, labels_saved, mean_ci, paired_seed_counts, paired_test,
    pairwise_matrix, seed_note,
)

T975_DF1 = math.tan(0.475 * math.pi)                       # 12.7062...
T975_DF2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)             # 4.3026...


def p_two_sided_df2(t):
    return 1 - abs(t) / math.sqrt(2 + t * t)


def test_t_interval_of_one_two_three():
    ci = mean_ci([1.0, 2.0, 3.0])
    assert ci.mean == 2.0 and ci.n == 3 and ci.sd == pytest.approx(1.0)
    assert ci.half_width == pytest.approx(T975_DF2 / math.sqrt(3)) and ci.half_width == pytest.approx(2.4841, abs=1e-4)
    assert (ci.low, ci.high) == pytest.approx((2 - 2.48414, 2 + 2.48414), abs=1e-4)
    two = mean_ci([1.0, 3.0])  # sd sqrt(2), half-width t(1 dof) * sqrt(2) / sqrt(2)
    assert two.half_width == pytest.approx(T975_DF1)


def test_one_seed_has_no_interval_and_says_so():
    ci = mean_ci([0.7])
    assert ci.mean == 0.7 and ci.half_width is None and ci.low is None and ci.n == 1
    assert ci.note == "1 seed: no interval" and ci.as_dict()["half_width"] is None
    assert ci_band(np.array([[0.1, 0.2]])) is None
    with pytest.raises(ValueError, match="at least one value"):
        mean_ci([])


def test_band_is_the_interval_of_each_round():
    Y = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    assert np.allclose(ci_band(Y), [T975_DF2 / math.sqrt(3), 0.0])


def test_seed_count_rules():
    assert seed_note(1) == "n/a: 1 seed" and seed_note(2) == "n/a: 2 seeds"
    assert seed_note(3) == seed_note(4) == FEW_SEEDS == "few seeds: p-values are unreliable below 5"
    assert seed_note(5) is None and seed_note(10) is None


def test_paired_test_claims_nothing_below_three_seeds_and_warns_below_five():
    base = {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}
    # 2 seeds: no p-value at all, whatever the difference
    two = paired_test({0: 5.0, 1: 6.0}, base, lower=False)
    assert two.n == 2 and two.p is None and two.note == "n/a: 2 seeds" and two.verdict() == "untested"
    assert two.diff.mean == 5.5
    # 3 seeds, differences 1, 2, 3: t = 2 / (1 / sqrt 3)
    three = paired_test({0: 1.0, 1: 2.0, 2: 3.0}, base, lower=False)
    t = 2 / (1 / math.sqrt(3))
    assert three.n == 3 and three.p == pytest.approx(p_two_sided_df2(t)) and three.p == pytest.approx(0.07418, abs=1e-5)
    assert three.note == FEW_SEEDS and three.verdict() == "tied"  # p > 0.05
    assert three.diff.half_width == pytest.approx(T975_DF2 / math.sqrt(3))
    # 5 seeds with a clear gain: no warning; the same numbers with lower-is-better lose
    a = {0: 1.0, 1: 1.1, 2: 0.9, 3: 1.05, 4: 0.95}
    five = paired_test(a, base, lower=False)
    assert five.n == 5 and five.note is None and five.p < 1e-4 and five.verdict() == "beat"
    assert paired_test(a, base, lower=True).verdict() == "lost"
    # only the common seeds are paired
    assert paired_test({0: 1.0, 7: 2.0}, base, lower=False).seeds == (0,)
    assert paired_test({7: 1.0}, base, lower=False) is None
    # identical on every seed: no difference (p = 1), not NaN
    same = paired_test({0: 0.5, 1: 0.6, 2: 0.7}, {0: 0.5, 1: 0.6, 2: 0.7}, lower=False)
    assert same.p == 1.0 and same.verdict() == "tied" and "identical" in same.note


# Three seeds of one strategy against the baseline, accuracy-like (higher is better).
X = [10, 20, 30]
BASE = {0: (X, [0.5, 0.6, 0.7]), 1: (X, [0.5, 0.62, 0.66]), 2: (X, [0.5, 0.55, 0.8])}
STRAT = {0: (X, [0.5, 0.8, 0.9]),   # crosses 0.70 between 10 and 20: 10 + 0.2 / 0.3 * 10
         1: (X, [0.5, 0.66, 0.7]),  # reaches 0.66 exactly at 20
         2: (X, [0.5, 0.6, 0.7])}   # never reaches 0.80


def test_labels_saved_pairs_each_seed_with_the_baseline_of_the_same_seed():
    sv = labels_saved(STRAT, BASE, lower=False, labels_per_sample=4)
    rows = {r["seed"]: r for r in sv["per_seed"]}
    assert [rows[s]["target"] for s in (0, 1, 2)] == [0.7, 0.66, 0.8]
    assert rows[0]["samples_needed"] == pytest.approx(10 + 0.2 / 0.3 * 10) and rows[0]["samples_saved"] == pytest.approx(30 - 50 / 3)
    assert rows[1]["samples_needed"] == pytest.approx(20.0) and rows[1]["samples_saved"] == pytest.approx(10.0)
    assert rows[0]["labels_saved"] == pytest.approx(4 * (30 - 50 / 3)) and rows[1]["percent_saved"] == pytest.approx(100 * 10 / 30)
    # the seed that never reaches the target is counted, not dropped, and not averaged in
    assert not rows[2]["reached"] and rows[2]["samples_saved"] is None and rows[2]["saved_at_most"] == 0.0
    assert sv["n"] == 3 and sv["reached"] == 2
    saved = [30 - 50 / 3, 10.0]
    sd = abs(saved[0] - saved[1]) / math.sqrt(2)
    assert sv["samples_saved"]["mean"] == pytest.approx(np.mean(saved)) and sv["samples_saved"]["n"] == 2
    assert sv["samples_saved"]["half_width"] == pytest.approx(T975_DF1 * sd / math.sqrt(2))
    assert sv["labels_saved"]["mean"] == pytest.approx(4 * np.mean(saved))
    # the mean curves would give another answer: 0.72 reached at 20 + (0.72 - 0.6867) / (0.7667 - 0.6867) * 10
    mean_need = labels_needed(X, np.mean([STRAT[s][1] for s in STRAT], 0), np.mean([BASE[s][1][-1] for s in BASE]), lower=False)
    assert 30 - mean_need == pytest.approx(30 - (20 + (0.72 - 2.06 / 3) / (2.3 / 3 - 2.06 / 3) * 10))
    assert not math.isclose(30 - mean_need, sv["samples_saved"]["mean"], abs_tol=1.0)


def test_labels_saved_for_an_error_metric_and_an_unreached_target():
    base = {0: (X, [0.5, 0.4, 0.3])}
    assert labels_saved({0: (X, [0.5, 0.3, 0.2])}, base, lower=True, labels_per_sample=1)["per_seed"][0]["samples_saved"] == pytest.approx(10.0)
    never = labels_saved({0: (X, [0.5, 0.45, 0.35])}, base, lower=True, labels_per_sample=1)
    assert never["reached"] == 0 and never["samples_saved"] is None and never["per_seed"][0]["saved_at_most"] == 0.0
    # a strategy whose curve ends short of the baseline's last count: the bound says so
    short = labels_saved({0: ([10, 20], [0.5, 0.45])}, base, lower=True, labels_per_sample=1)
    assert short["per_seed"][0]["saved_at_most"] == 10.0
    assert labels_saved({5: (X, [0.5, 0.3, 0.2])}, base, lower=True, labels_per_sample=1) is None


def test_against_baseline_never_compares_the_baseline_with_itself():
    curves = {"random": BASE, "s": STRAT}
    out = against_baseline(curves, "random", lower=False, labels_per_sample=1)
    assert list(out) == ["s"]
    # AUBC per seed (trapezoids over 10..30 / 20): strategy 0.75, 0.63, 0.60; baseline 0.60, 0.60, 0.60
    assert [aubc(*STRAT[s]) for s in (0, 1, 2)] == pytest.approx([(6.5 + 8.5) / 20, (5.8 + 6.8) / 20, 0.6])
    assert [aubc(*BASE[s]) for s in (0, 1, 2)] == pytest.approx([0.6, 0.6, (5.25 + 6.75) / 20])
    d = [0.15, 0.03, 0.0]
    test = out["s"]["aubc"]
    assert test.diff.mean == pytest.approx(np.mean(d))
    t = np.mean(d) / (np.std(d, ddof=1) / math.sqrt(3))
    assert test.p == pytest.approx(p_two_sided_df2(t))
    # rounds 1 and 2 only (round 0 is the shared start)
    assert [r["round"] for r in out["s"]["rounds"]] == [1, 2] and out["s"]["rounds"][0]["labeled"] == 20
    r1 = out["s"]["rounds"][0]["test"]
    assert r1.diff.mean == pytest.approx(np.mean([0.2, 0.04, 0.05]))
    assert out["s"]["saved"]["reached"] == 2
    assert against_baseline({"s": STRAT}, "random", lower=False, labels_per_sample=1) == {}


def test_aubc_hand_values():
    assert aubc([10, 20, 30], [0.5, 0.8, 0.9]) == pytest.approx(((0.5 + 0.8) / 2 * 10 + (0.8 + 0.9) / 2 * 10) / 20)
    assert aubc([10], [0.7]) == 0.7


def test_pairwise_matrix_refuses_pairs_below_three_seeds():
    clear = {0: 0.9, 1: 0.8}
    worse = {0: 0.5, 1: 0.45}
    s = {"a": {1: clear}, "b": {1: worse}}
    assert not pairwise_matrix([s], ["a", "b"], confidence=0.5, lower=False).any()
    assert paired_seed_counts([s], ["a", "b"]) == [2]
    s3 = {"a": {1: {**clear, 2: 0.85}}, "b": {1: {**worse, 2: 0.52}}}
    assert pairwise_matrix([s3], ["a", "b"], confidence=0.9, lower=False)[0, 1] == 1.0
    assert paired_seed_counts([s3], ["a", "b"]) == [3]
