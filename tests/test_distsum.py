"""mmal.kernels.distsum: blocked sums of Euclidean distances against the explicit N x N formula."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from mmal.grads import RankOne, explicit
from mmal.kernels.distsum import distance_sums, sampled_distance_sums


def explicit_sums(x: np.ndarray) -> np.ndarray:
    """S_i = sum_{j != i} ||x_i - x_j|| from the full distance matrix (diagonal is 0)."""
    return cdist(x, x).sum(1)





@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("tile", [2, 7, 64, 96, 97, 500])
def test_explicit_array_equals_full_matrix_for_any_tile(rng, tile):
    x = rng.normal(size=(97, 6)) * rng.uniform(0.1, 5, size=(97, 1))
    np.testing.assert_allclose(distance_sums(x, tile=tile, dtype="float64"), explicit_sums(x), rtol=1e-11)


@pytest.mark.parametrize("tile", [1, 5, 32, 80, 1000])
def test_rank_one_equals_materialized_gradients(rng, tile):
    r = RankOne(rng.normal(size=(80, 4)), rng.normal(size=(80, 9)))
    np.testing.assert_allclose(distance_sums(r, tile=tile, dtype="float64"), explicit_sums(r.explicit()), rtol=1e-11)


def test_rank_one_blocks_equal_their_concatenation(rng):
    blocks = [RankOne(rng.normal(size=(50, c)), rng.normal(size=(50, d))) for c, d in [(3, 5), (3, 2), (1, 7)]]
    np.testing.assert_allclose(distance_sums(blocks, tile=16, dtype="float64"), explicit_sums(explicit(blocks)), rtol=1e-11)


def test_float32_tiles_are_close_to_float64(rng):
    r = RankOne(rng.normal(size=(400, 16)).astype(np.float32), (rng.normal(size=(400, 32)) + 3).astype(np.float32))
    ref = distance_sums(r, dtype="float64")
    rel = np.abs(distance_sums(r, tile=128, dtype="float32") / ref - 1).max()
    print(f"float32 vs float64 distance sums, N=400: max relative error {rel:.2e}")
    assert rel < 1e-5


def test_float32_sums_far_from_the_origin(rng):
    """Explicit rows at ||x|| ~ 800 (x = 100 + N(0, 1), D = 64): centring keeps float32 at ~1e-6."""
    x = (100 + rng.normal(size=(300, 64))).astype(np.float32)
    ref = explicit_sums(x.astype(np.float64))
    rel = np.abs(distance_sums(x, tile=128) / ref - 1).max()
    print(f"float32 distance sums at ||x|| ~ 800, N=300: max relative error {rel:.2e}")
    assert rel < 1e-5


def test_duplicates_and_tiny_pools(rng):
    x = np.repeat(rng.normal(size=(4, 3)), 3, axis=0)  # every row has two exact duplicates
    np.testing.assert_allclose(distance_sums(x, tile=5, dtype="float64"), explicit_sums(x), rtol=1e-9, atol=1e-12)
    assert distance_sums(np.ones((1, 3))).tolist() == [0.0]
    two = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(distance_sums(two), [5.0, 5.0])
    assert np.array_equal(distance_sums(np.ones((6, 2)), tile=4), np.zeros(6))  # diagonal excluded exactly


def test_sampled_estimator_is_unbiased_and_its_error_shrinks_with_m(rng):
    n = 400
    x = np.concatenate([rng.normal(size=(n - 15, 5)), 6 + rng.normal(size=(15, 5))])  # with a far cluster
    exact = explicit_sums(x)
    errors = {}
    for m in (16, 64, 256):  # mean over 10 draws of the mean relative error over rows
        ests = [sampled_distance_sums(x, m, np.random.default_rng([m, s]), tile=100, dtype="float64") for s in range(10)]
        errors[m] = float(np.mean([np.mean(np.abs(e / exact - 1)) for e in ests]))
    print("sampled distance sums, N=400, mean relative error by m:", {m: f"{e:.3%}" for m, e in errors.items()})
    assert errors[16] > errors[64] > errors[256]
    assert errors[256] < 0.05
    # unbiased: the mean of many estimates converges to the exact sums (rows in and out of the sample)
    draws = np.stack([sampled_distance_sums(x, 8, np.random.default_rng(s), dtype="float64") for s in range(100)])
    rel_bias = np.abs(draws.mean(0) / exact - 1)
    assert np.median(rel_bias) < 0.03, np.median(rel_bias)


def test_sampled_estimator_with_all_rows_is_exact_and_deterministic_per_rng(rng):
    x = rng.normal(size=(30, 4))
    np.testing.assert_allclose(sampled_distance_sums(x, 30, np.random.default_rng(0), dtype="float64"), explicit_sums(x), rtol=1e-11)
    a = sampled_distance_sums(x, 5, np.random.default_rng(3))
    b = sampled_distance_sums(x, 5, np.random.default_rng(3))
    assert np.array_equal(a, b)


def test_sampled_estimator_excludes_self_distance(rng):
    # with m = N - 1 references every row's estimate uses N-1 or N-2 other rows, rescaled
    x = rng.normal(size=(12, 3))
    d = cdist(x, x)
    est = sampled_distance_sums(x, 11, np.random.default_rng(5), dtype="float64")
    refs = np.sort(np.random.default_rng(5).choice(12, size=11, replace=False))
    for i in range(12):
        others = [j for j in refs if j != i]
        np.testing.assert_allclose(est[i], d[i, others].sum() * 11 / len(others), rtol=1e-11)


def test_bad_inputs_name_the_problem(rng):
    with pytest.raises(ValueError, match="tile"):
        distance_sums(np.ones((3, 2)), tile=0)
    with pytest.raises(ValueError, match="NaN"):
        distance_sums(np.array([[0.0, np.nan], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        distance_sums(np.ones((3, 2, 2)))
    with pytest.raises(TypeError, match="RankOne"):
        distance_sums([np.ones((3, 2))])
    with pytest.raises(ValueError, match="different numbers of rows"):
        distance_sums([RankOne(np.ones((3, 1)), np.ones((3, 2))), RankOne(np.ones((4, 1)), np.ones((4, 2)))])
    with pytest.raises(TypeError, match="Generator"):
        sampled_distance_sums(np.ones((3, 2)), 2, 0)
    with pytest.raises(ValueError, match="m "):
        sampled_distance_sums(np.ones((3, 2)), 1, rng)
