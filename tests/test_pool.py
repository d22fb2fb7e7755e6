import numpy as np
import pytest

import mmal
from mmal import Pool, PoolError, Task

REG = Task("regression", heads=("M", "T", "A"), label_range=(-1, 1), head_modality={"T": "text", "A": "audio"})
CLF = Task("classification", n_classes=3)


def make_pool(n=6, task=REG, **kw):
    rng = np.random.default_rng(0)
    mods = {"text": rng.normal(size=(n, 4)).astype(np.float32), "audio": rng.normal(size=(n, 5, 3)).astype(np.float32)}
    lengths = {"audio": np.array([5, 1, 3, 2, 5, 4][:n])}
    return Pool(mods, task, ids=[f"s{i}" for i in range(n)], lengths=lengths, **kw)


def test_label_take_and_cost():
    pool = make_pool()
    assert pool.n == 6 and pool.n_unlabeled == 6 and pool.label_cost() == {"M": 0, "T": 0, "A": 0}
    pool.label(["s1", "s3"], {"M": [0.2, -0.4], "T": [0.0, 1.0]})
    assert pool.labeled_positions().tolist() == [1, 3]
    assert pool.label_cost() == {"M": 2, "T": 2, "A": 0}  # a head not given is not paid for
    sub = pool.take([3, 0])
    assert sub.ids.tolist() == ["s3", "s0"] and sub.labeled.tolist() == [True, False]
    assert sub.labels["M"][0] == pytest.approx(-0.4) and sub.lengths["audio"].tolist() == [2, 5]
    assert pool.positions(["s3", "s0"]).tolist() == [3, 0]


def test_pooled_means_over_valid_steps_only():
    pool = make_pool()
    x = pool.modalities["audio"]
    got = pool.pooled("audio")
    for i, L in enumerate(pool.lengths["audio"]):
        np.testing.assert_allclose(got[i], x[i, :L].mean(0), rtol=1e-6)
    np.testing.assert_array_equal(pool.pooled("text", [2]), pool.modalities["text"][[2]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ids": ["a", "a", "b", "c", "d", "e"]}, "ids are not unique"),
        ({"lengths": {"audio": np.array([0, 1, 1, 1, 1, 1])}}, "lengths\\['audio'\\] must be in 1..5"),
        ({"lengths": {"audio": np.array([6, 1, 1, 1, 1, 1])}}, "lengths\\['audio'\\] must be in 1..5"),
        ({"labels": {"M": np.array([2.0, 0, 0, 0, 0, 0])}}, "outside the task's label_range"),
        ({"labels": {"X": np.zeros(6)}}, "head 'X'"),
    ],
)
def test_bad_construction_names_the_field(kwargs, match):
    rng = np.random.default_rng(0)
    base = {"modalities": {"text": rng.normal(size=(6, 4)), "audio": rng.normal(size=(6, 5, 3))}, "task": REG}
    base.update(kwargs)
    mods, task = base.pop("modalities"), base.pop("task")
    with pytest.raises(PoolError, match=match):
        Pool(mods, task, **base)


def test_different_n_nan_and_classes():
    with pytest.raises(PoolError, match="different numbers of samples"):
        Pool({"a": np.zeros((3, 2)), "b": np.zeros((4, 2))}, CLF)
    x = np.zeros((3, 2))
    x[1, 0] = np.nan
    with pytest.raises(PoolError, match="modality 'a' has NaN or inf at sample positions \\[1\\]"):
        Pool({"a": x}, CLF)
    with pytest.raises(PoolError, match="not class indices"):
        Pool({"a": np.zeros((3, 2))}, CLF, labels={"M": [0, 3, np.nan]})


def test_label_errors():
    pool = make_pool(task=CLF)
    with pytest.raises(PoolError, match="unknown id 'nope'"):
        pool.label(["nope"], [0])
    pool.label(["s0"], [1])
    with pytest.raises(PoolError, match="already labeled.*relabel=True"):
        pool.label(["s0"], [2])
    pool.label(["s0"], [2], relabel=True)
    assert pool.labels["M"][0] == 2
    with pytest.raises(PoolError, match="not class indices"):
        pool.label(["s1"], [1.5])
    with pytest.raises(PoolError, match="'M' label is required"):
        Pool({"text": np.zeros((2, 2)), "audio": np.zeros((2, 2))}, REG).label([0], {"T": [0.1]})


def test_task_validation():
    with pytest.raises(PoolError, match="n_classes"):
        Task("classification")
    with pytest.raises(PoolError, match="fused head"):
        Task("regression", heads=("T",))
    assert mmal.Task("regression").heads == ("M",)
