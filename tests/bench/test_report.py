"""Reports from a hand-made results store: every number checked against a direct computation."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.image import imread
from scipy.stats import ttest_rel

from mmal.bench.config import validate
from mmal.bench.grid import build_cells
from mmal.bench.report import fmt_duration, write_report
from mmal.bench.stats import aubc, column_average, labels_needed, mean_std, pairwise_matrix
from mmal.bench.store import RunDir

N = [10, 20, 30, 40]
BASE = {"random": [0.50, 0.40, 0.35, 0.30], "good": [0.50, 0.38, 0.28, 0.25], "bad": [0.50, 0.45, 0.42, 0.40]}
OFFSET = {"random": [-0.01, 0.0, 0.01], "good": [0.006, -0.004, -0.002], "bad": [0.0, 0.003, -0.003]}
SEEDS = [0, 1, 2]


def mae(strategy, seed, r):
    return BASE[strategy][r] + (OFFSET[strategy][seed] if r > 0 else 0.0)  # round 0: the shared start


def make_run(tmp_path):
    cfg = validate({"name": "hand", "seeds": SEEDS, "init": 10, "budget": 10, "rounds": 3,
                    "datasets": [{"name": "d"}], "strategies": list(BASE),
                    "report": {"label_count": 30, "metric": "mae"}})
    run = RunDir(tmp_path)
    run.open(cfg, resume=False, force=False)
    for spec in build_cells(cfg):
        s, seed = spec["strategy"]["label"], spec["seed"]
        for r, n in enumerate(N):
            m = mae(s, seed, r)
            run.append({
                "cell_hash": spec["cell_hash"], "cell": spec["key"], "dataset": "d", "strategy": s, "seed": seed,
                "status": "ok", "round": r, "n_labeled": n, "pool_size": 100, "labels_spent": 4 * n,
                "selected_ids": [], "metrics": {"mae": m, "acc": 1 - m}, "modality_metrics": {"T": {"mae": m + 0.05}},
                "contributions": {"t": 0.6 + 0.01 * r, "a": 0.4 - 0.01 * r}, "selection_contributions": None,
                "query_seconds": 0.0 if r == 0 else 1.0 + 0.1 * seed, "train_seconds": 2.0,
            })
    run.close()
    return tmp_path


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The hand-made run and its report (PNG and SVG), written once for the module."""
    run_dir = make_run(tmp_path_factory.mktemp("hand"))
    return run_dir, write_report(run_dir)


def values(strategy, r, metric="mae"):
    v = np.array([mae(strategy, s, r) for s in SEEDS])
    return v if metric == "mae" else 1 - v


def sample_std(v):
    m = sum(v) / len(v)
    return (sum((x - m) ** 2 for x in v) / (len(v) - 1)) ** 0.5


def trapezoid(x, y):
    area = 0.0
    for i in range(1, len(x)):
        area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2
    return area / (x[-1] - x[0])


def expected_pairwise(names, confidence, metric="mae"):
    P = np.zeros((len(names), len(names)))
    for r in (1, 2, 3):
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                if i == j:
                    continue
                va, vb = values(a, r, metric), values(b, r, metric)
                p = ttest_rel(va, vb).pvalue
                wins = np.mean(va - vb) < 0 if metric == "mae" else np.mean(va - vb) > 0
                if p < 1 - confidence and wins:
                    P[i, j] += 1 / 3
    return P


def test_report_numbers_match_a_direct_computation(written):
    run_dir, rep = written
    nums = rep.numbers["datasets"]["d"]
    # Table 1 at 30 labeled samples
    t = nums["table"]
    assert t["label_count"] == 30 and t["metrics"] == ["mae", "acc"]
    good = next(e for e in t["rows"] if e["strategy"] == "good")
    assert good["labeled"] == 30 and good["seeds"] == 3
    assert np.allclose(good["values"]["mae"], (values("good", 2).mean(), sample_std(list(values("good", 2)))))
    assert t["best"] == {"mae": "good", "acc": "good"}
    with open(run_dir / "report" / "table_d.csv") as f:
        rows = {r["strategy"]: r for r in csv.DictReader(f)}
    assert np.isclose(float(rows["bad"]["mae_mean"]), 0.42) and np.isclose(float(rows["bad"]["acc_mean"]), 0.58)
    assert "**0.2800 ± " in (run_dir / "report" / "table_d.md").read_text()
    # savings against random's final mean MAE 0.30: good crosses between 20 (0.38) and 30 (0.28)
    sv = nums["savings"]
    assert sv["labels_per_sample"] == 4
    for metric in ("mae", "acc"):
        g = sv["metrics"][metric]["good"]
        need = 20 + (0.30 - 0.38) / (0.28 - 0.38) * (30 - 20)
        assert np.isclose(g["samples_needed"], need) and np.isclose(g["samples_saved"], 40 - need)
        assert np.isclose(g["labels_saved"], 4 * (40 - need)) and np.isclose(g["percent_saved"], 100 * (40 - need) / 40)
        assert sv["metrics"][metric]["bad"]["samples_needed"] is None
        assert sv["metrics"][metric]["random"]["samples_saved"] == 0
    # area under the budget curve, per seed then mean +- std
    for s in BASE:
        per_seed = [trapezoid(N, [mae(s, seed, r) for r in range(4)]) for seed in SEEDS]
        assert np.allclose(nums["aubc"][s]["mae"], (np.mean(per_seed), sample_std(per_seed)))
    # query time (GRACE supplement Table 3)
    qt = {e["strategy"]: e for e in nums["query_time"]}
    assert np.isclose(qt["good"]["query_per_cycle"][0], np.mean([1.0, 1.1, 1.2])) and qt["good"]["cycles"] == 3
    assert np.isclose(qt["good"]["overall"][0], np.mean([3 * (1.0 + 0.1 * s) + 4 * 2.0 for s in SEEDS]))
    # contribution curves: mean over seeds per round
    assert np.allclose(nums["contributions"]["good"]["t"], [0.6, 0.61, 0.62, 0.63])
    # BMMAL Fig. 5 matrix against scipy's paired t-test, for the fused and the T head's MAE
    for metric in ("mae", "T/mae"):
        pw = rep.numbers["pairwise"][metric]
        assert pw["strategies"] == ["random", "good", "bad"]
        assert np.allclose(pw["P"], expected_pairwise(pw["strategies"], 0.9)), metric
        assert np.allclose(pw["column_average"], column_average(np.array(pw["P"])))
    P = np.array(rep.numbers["pairwise"]["mae"]["P"])
    assert P[1, 2] > 0 and P[2, 1] == 0  # good beats bad, never the other way
    with open(run_dir / "report" / "pairwise_mae.csv") as f:
        table = list(csv.reader(f))
    assert table[0] == ["strategy", "random", "good", "bad"] and np.allclose([float(x) for x in table[2][1:]], P[1])


def test_report_files_exist_and_images_open(written):
    run_dir, rep = written
    out = run_dir / "report"
    expected = ["report.md", "report.json", "table_d.md", "table_d.csv", "savings_d.md", "savings_d.csv", "aubc_d.md",
                "aubc_d.csv", "query_time_d.md", "query_time_d.csv", "pairwise_mae.md", "pairwise_mae.csv"]
    images = ["curve_d_mae.png", "curve_d_acc.png", "curve_d_T-mae.png", "modality_d_mae.png", "contributions_d.png",
              "pairwise_mae.png", "pairwise_T-mae.png"]
    for name in expected + images + ["curve_d_mae.svg", "modality_d_mae.svg"]:
        assert (out / name).exists(), name
        assert out / name in rep.files
    for name in images:
        img = imread(out / name)
        h, w = img.shape[:2]
        assert 250 <= h <= 3000 and 250 <= w <= 4000 and img.shape[2] in (3, 4), (name, img.shape)
        assert img[..., :3].std() > 0.05, f"{name} looks blank"
    assert (out / "curve_d_mae.svg").read_text().lstrip().startswith("<?xml")
    assert json.loads((out / "report.json").read_text())["datasets"]["d"]["table"]["label_count"] == 30
    md = rep.markdown
    assert "![mae](curve_d_mae.png)" in md and "Annotation savings against random" in md and "Pairwise comparison: mae" in md


def test_mmal_report_cli_takes_options(tmp_path):
    run_dir = make_run(tmp_path)
    out = subprocess.run([sys.executable, "-m", "mmal", "report", str(run_dir), "--confidence", "0.5", "--label-count", "20",
                          "--formats", "png"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Metrics at 20 labeled samples" in out.stdout
    nums = json.loads((run_dir / "report" / "report.json").read_text())
    assert np.allclose(nums["pairwise"]["mae"]["P"], expected_pairwise(["random", "good", "bad"], 0.5))
    assert not (run_dir / "report" / "curve_d_mae.svg").exists()
    bad = subprocess.run([sys.executable, "-m", "mmal", "report", str(run_dir / "nope")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_labels_needed_interpolates_the_first_crossing():
    assert labels_needed([10, 20, 30], [0.5, 0.4, 0.2], 0.3, lower=True) == pytest.approx(25.0)
    assert labels_needed([10, 20, 30], [0.6, 0.7, 0.9], 0.8, lower=False) == pytest.approx(25.0)
    assert labels_needed([10, 20, 30], [0.9, 0.7, 0.95], 0.8, lower=False) == 10.0
    assert labels_needed([10, 20, 30], [0.5, 0.6, 0.7], 0.8, lower=False) is None
    assert labels_needed([10, 20, 30, 40], [0.5, 0.85, 0.6, 0.9], 0.8, lower=False) == pytest.approx(10 + 0.3 / 0.35 * 10)


def test_small_cases_are_defined():
    assert aubc([10], [0.7]) == 0.7 and aubc([0, 10], [0.0, 1.0]) == 0.5
    assert mean_std([0.5]) == (0.5, None)
    same = {"a": {1: {0: 0.5, 1: 0.6}}, "b": {1: {0: 0.5, 1: 0.6}}}
    assert not pairwise_matrix([same], ["a", "b"], confidence=0.9, lower=False).any()
    one_seed = {"a": {1: {0: 0.9}}, "b": {1: {0: 0.1}}}
    assert not pairwise_matrix([one_seed], ["a", "b"], confidence=0.9, lower=False).any()
    assert column_average(np.zeros((1, 1))).tolist() == [0.0]


def test_pairwise_sums_settings_and_weights_rounds_by_one_over_l():
    # setting 1: a beats b clearly on both of its 2 rounds; setting 2 (4 rounds): on 1 round
    clear = {0: 0.9, 1: 0.8, 2: 0.85}
    worse = {0: 0.5, 1: 0.45, 2: 0.52}
    s1 = {"a": {1: clear, 2: clear}, "b": {1: worse, 2: worse}}
    s2 = {"a": {1: clear, 2: worse, 3: worse, 4: worse}, "b": {1: worse, 2: worse, 3: worse, 4: worse}}
    P = pairwise_matrix([s1, s2], ["a", "b"], confidence=0.9, lower=False)
    assert ttest_rel(list(clear.values()), list(worse.values())).pvalue < 0.1
    assert np.allclose(P, [[0.0, 1.0 + 0.25], [0.0, 0.0]])
    assert np.allclose(pairwise_matrix([s1, s2], ["a", "b"], confidence=0.9, lower=True), [[0.0, 0.0], [1.25, 0.0]])


def test_durations_read_like_the_paper():
    assert fmt_duration(5.094) == "5.09s" and fmt_duration(946) == "15m 46s" and fmt_duration(3725) == "1h 2m 5s"
