"""Reports from a hand-made results store: every number checked against a direct computation."""

import math

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
OFFSET = {"random": [-0.01, 0.0, 0.01, 0.004, -0.006], "good": [0.006, -0.004, -0.002, 0.001, 0.003],
          "bad": [0.0, 0.003, -0.003, 0.002, -0.001], "tie": [0.01, -0.012, 0.003, -0.004, 0.008]}
BASE["tie"] = BASE["random"]  # the same curve as random, other noise: no significant difference
SEEDS = [0, 1, 2]
T975_DF2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # Student's t quantile, 2 dof, in closed form


def p_two_sided_df2(d):
    """The paired t-test's two-sided p-value over 3 seeds in closed form (t with 2 dof)."""
    t = np.mean(d) / (np.std(d, ddof=1) / math.sqrt(len(d)))
    return 1 - abs(t) / math.sqrt(2 + t * t)


def mae(strategy, seed, r):
    return BASE[strategy][r] + (OFFSET[strategy][seed] if r > 0 else 0.0)  # round 0: the shared start


def make_run(tmp_path, strategies=("random", "good", "bad"), seeds=SEEDS, last_round=None):
    """The hand-made run; ``last_round[(strategy, seed)] = k`` ends that cell after round k."""
    cfg = validate({"name": "hand", "seeds": list(seeds), "init": 10, "budget": 10, "rounds": 3,
                    "datasets": [{"name": "d"}], "strategies": list(strategies),
                    "report": {"label_count": 30, "metric": "mae"}})
    run = RunDir(tmp_path)
    run.open(cfg, resume=False, force=False)
    for spec in build_cells(cfg):
        s, seed = spec["strategy"]["label"], spec["seed"]
        for r, n in enumerate(N):
            if r > (last_round or {}).get((s, seed), len(N)):
                break
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
    # Table 1 at 30 labeled samples: mean and 95% t-interval over seeds, per-seed values kept
    t = nums["table"]
    assert t["label_count"] == 30 and t["metrics"] == ["mae", "acc"]
    good = next(e for e in t["rows"] if e["strategy"] == "good")
    assert good["labeled"] == 30 and good["seeds"] == 3
    v = good["values"]["mae"]
    assert np.isclose(v["mean"], values("good", 2).mean()) and np.isclose(v["sd"], sample_std(list(values("good", 2))))
    assert np.isclose(v["half_width"], T975_DF2 * sample_std(list(values("good", 2))) / math.sqrt(3))
    assert np.allclose([v["per_seed"][s] for s in SEEDS], values("good", 2))
    assert t["best"] == {"mae": ["good"], "acc": ["good"]}
    # significance against random at 30 labels, paired by seed
    d = values("good", 2) - values("random", 2)
    assert np.isclose(good["vs_baseline"]["mae"]["p"], p_two_sided_df2(d)) and good["vs_baseline"]["mae"]["verdict"] == "beat"
    assert next(e for e in t["rows"] if e["strategy"] == "bad")["vs_baseline"]["mae"]["verdict"] == "lost"
    assert next(e for e in t["rows"] if e["strategy"] == "random")["vs_baseline"] == {}
    with open(run_dir / "report" / "table_d.csv") as f:
        rows = {r["strategy"]: r for r in csv.DictReader(f)}
    assert np.isclose(float(rows["bad"]["mae_mean"]), 0.42) and np.isclose(float(rows["bad"]["acc_mean"]), 0.58)
    assert np.isclose(float(rows["good"]["mae_p_vs_baseline"]), p_two_sided_df2(d)) and rows["random"]["mae_p_vs_baseline"] == ""
    md_table = (run_dir / "report" / "table_d.md").read_text()
    hw = T975_DF2 * sample_std(list(values("good", 2))) / math.sqrt(3)
    assert f"| good | 30 | 3 | **0.2800 ± {hw:.4f}** * |" in md_table
    assert "| bad | 30 | 3 | 0.4200 ± " in md_table and "† |" in md_table.split("| bad |")[1]
    assert "| random | 30 | 3 | 0.3500 ± 0.0248 | 0.6500 ± 0.0248 |" in md_table  # 0.01 * t / sqrt(3): no mark
    assert "two-sided paired t-test over 3 seeds" in rep.markdown and "few seeds: p-values are unreliable below 5" in rep.markdown
    # savings per seed: random's final MAE of the same seed is the target; random is not compared with itself
    sv = nums["savings"]
    assert sv["labels_per_sample"] == 4
    for metric in ("mae", "acc"):
        assert set(sv["metrics"][metric]) == {"good", "bad"}
        g = sv["metrics"][metric]["good"]
        saved = []
        for row, seed in zip(g["per_seed"], SEEDS):
            target = 0.30 + OFFSET["random"][seed]
            y1, y2 = 0.38 + OFFSET["good"][seed], 0.28 + OFFSET["good"][seed]  # crosses between 20 and 30
            need = 20 + (target - y1) / (y2 - y1) * 10
            assert row["seed"] == seed and np.isclose(row["samples_needed"], need) and np.isclose(row["labels_saved"], 4 * (40 - need))
            saved.append(40 - need)
        assert np.allclose(saved, [10.4, 12.4, 13.2])
        assert np.isclose(g["samples_saved"]["mean"], 12.0) and g["reached"] == 3 == g["n"]
        assert np.isclose(g["samples_saved"]["half_width"], T975_DF2 * sample_std(saved) / math.sqrt(3))
        assert np.isclose(g["percent_saved"]["mean"], 100 * 12.0 / 40)
        b = sv["metrics"][metric]["bad"]
        assert b["reached"] == 0 and b["samples_saved"] is None and all(r["saved_at_most"] == 0 for r in b["per_seed"])
    with open(run_dir / "report" / "savings_d.csv") as f:
        srows = list(csv.DictReader(f))
    assert len(srows) == 2 * 2 * 3 and {r["strategy"] for r in srows} == {"good", "bad"}
    # area under the budget curve, per seed then mean and t-interval; AUBC test against random
    for s in BASE:
        if s not in nums["aubc"]:
            continue
        per_seed = [trapezoid(N, [mae(s, seed, r) for r in range(4)]) for seed in SEEDS]
        a = nums["aubc"][s]["mae"]
        assert np.isclose(a["mean"], np.mean(per_seed)) and np.isclose(a["half_width"], T975_DF2 * sample_std(per_seed) / math.sqrt(3))
        assert np.allclose([a["per_seed"][seed] for seed in SEEDS], per_seed)
    d_au = [trapezoid(N, [mae("good", seed, r) - mae("random", seed, r) for r in range(4)]) for seed in SEEDS]
    test = nums["vs_baseline"]["mae"]["good"]["aubc"]
    assert np.isclose(test["diff"]["mean"], np.mean(d_au)) and np.isclose(test["p"], p_two_sided_df2(d_au))
    assert "random" not in nums["vs_baseline"]["mae"]
    # the paired test round by round (rounds 1-3)
    rounds = nums["vs_baseline"]["mae"]["bad"]["rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3] and [r["labeled"] for r in rounds] == [20, 30, 40]
    for r in rounds:
        d = values("bad", r["round"]) - values("random", r["round"])
        assert np.isclose(r["p"], p_two_sided_df2(d)) and np.allclose(r["strategy"], values("bad", r["round"]))
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
    expected = ["report.md", "summary.md", "rounds_d.md", "rounds_d.csv", "report.json", "table_d.md", "table_d.csv", "savings_d.md", "savings_d.csv", "aubc_d.md",
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


def summary_of(tmp_path, strategies, seeds=SEEDS):
    rep = write_report(make_run(tmp_path, strategies, seeds), formats=("png",))
    return rep, rep.numbers["summary"]["d"]


def test_summary_says_who_beat_tied_and_lost_with_the_numbers(tmp_path):
    rep, s = summary_of(tmp_path, ("random", "good", "tie", "bad"))
    verdicts = {e["strategy"]: e["verdict"] for e in s["strategies"]}
    assert verdicts == {"good": "beat", "tie": "tied", "bad": "lost"}
    good, tie, bad = s["lines"]
    d = [trapezoid(N, [mae("good", seed, r) - mae("random", seed, r) for r in range(4)]) for seed in SEEDS]
    hw = T975_DF2 * sample_std(d) / math.sqrt(3)
    assert good.startswith("**good** beat random: AUBC of mae (lower is better) ")
    assert f"difference {np.mean(d):+.4f} (95% CI {np.mean(d) - hw:+.4f} to {np.mean(d) + hw:+.4f}), p = {p_two_sided_df2(d):.3f}" in good
    assert "paired t-test over 3 seeds (few seeds: p-values are unreliable below 5)" in good
    assert "Labels saved to reach random's final mae on the same seed: 12.0 ± " in good and "over the 3 of 3 seeds that reached it" in good
    assert tie.startswith("**tie** tied with random (no significant difference at p < 0.05)")
    d_tie = [trapezoid(N, [mae("tie", seed, r) - mae("random", seed, r) for r in range(4)]) for seed in SEEDS]
    assert f"p = {p_two_sided_df2(d_tie):.3f}" in tie and p_two_sided_df2(d_tie) > 0.5
    assert bad.startswith("**bad** lost to random: ") and "It never reached random's final mae on any of the 3 seeds" in bad
    assert s["conclusion"] == "Beat random at p < 0.05 on AUBC of mae: good (over 3 seeds). Lost to random: bad."
    assert not any(line.startswith("**random**") for line in s["lines"])
    # the summary comes right after the protocol, at the top, and stands alone in summary.md
    md = rep.markdown
    assert md.index("## Protocol") < md.index("## Summary") < md.index("\n## d\n")
    assert (rep.dir / "summary.md").read_text().startswith("## Summary") and s["conclusion"] in (rep.dir / "summary.md").read_text()


def test_summary_says_plainly_when_nothing_beat_random(tmp_path):
    _, s = summary_of(tmp_path, ("random", "tie", "bad"))
    assert s["conclusion"] == "No strategy beat random at p < 0.05 over 3 seeds (AUBC of mae). Lost to random: bad."


def test_a_seed_that_misses_the_target_is_counted(tmp_path):
    # "tie" reaches random's final MAE only where its noise is lower than random's (seeds 0 and 2 miss it)
    rep, s = summary_of(tmp_path, ("random", "tie"))
    saved = rep.numbers["datasets"]["d"]["savings"]["metrics"]["mae"]["tie"]
    reached = {r["seed"]: r["reached"] for r in saved["per_seed"]}
    assert reached == {0: False, 1: True, 2: True}  # final: tie 0.31, 0.288, 0.303 vs random 0.29, 0.30, 0.31
    need1 = 30 + (0.30 - (0.35 - 0.012)) / ((0.30 - 0.012) - (0.35 - 0.012)) * 10
    assert np.isclose(saved["per_seed"][1]["samples_needed"], need1)
    assert saved["reached"] == 2 and saved["samples_saved"]["n"] == 2
    assert "over the 2 of 3 seeds that reached it; on 1 seed (0) it did not reach it within its budget" in s["lines"][0]
    table = (rep.dir / "savings_d.md").read_text()
    assert "| mae | tie | 2 of 3 |" in table and "0: not reached" in table


def test_two_seeds_make_no_significance_claim(tmp_path):
    rep, s = summary_of(tmp_path, ("random", "good", "bad"), seeds=[0, 1])
    assert {e["verdict"] for e in s["strategies"]} == {"untested"}
    assert all(e["aubc"]["p"] is None and e["aubc"]["note"] == "n/a: 2 seeds" for e in s["strategies"])
    assert s["lines"][0].startswith("**good** vs random: no significance claim (n/a: 2 seeds; at least 3 are needed); AUBC of mae")
    assert s["conclusion"] == "No significance claim against random: 2 seeds (at least 3 are needed)."
    md = rep.markdown
    assert "No significance marks: n/a: 2 seeds (a test against random needs at least 3)." in md
    assert " * |" not in (rep.dir / "table_d.md").read_text() and "†" not in (rep.dir / "table_d.md").read_text()
    # the BMMAL Fig. 5 matrix is refused with a note, not an error
    assert "## Pairwise comparison: mae\n\nNot computed: n/a: 2 seeds: the paired t-tests need at least 3 seeds." in md
    assert rep.numbers["pairwise"]["mae"]["P"] is None and not (rep.dir / "pairwise_mae.png").exists()


def test_five_seeds_carry_no_warning(tmp_path):
    seeds = [0, 1, 2, 3, 4]
    rep, s = summary_of(tmp_path, ("random", "good"), seeds=seeds)
    line = s["lines"][0]
    assert "paired t-test over 5 seeds." in line and "few seeds" not in line
    d = [trapezoid(N, [mae("good", seed, r) - mae("random", seed, r) for r in range(4)]) for seed in seeds]
    assert np.isclose(s["strategies"][0]["aubc"]["p"], ttest_rel(d, np.zeros(5)).pvalue)
    assert "each test rests on 5 seeds." in rep.markdown and "few seeds" not in rep.markdown


def test_protocol_states_what_was_run(written):
    run_dir, rep = written
    p = rep.numbers["protocol"]
    assert p["source"] == "config.json" and p["baseline"] == "random" and p["confidence"] == 0.9 and p["ci_level"] == 0.95
    d = p["datasets"][0]
    assert (d["label"], d["size"], d["data_seed"], d["init"], d["budget"], d["rounds"], d["seeds"]) == ("d", "tiny", 0, 10, 10, 3, SEEDS)
    assert d["pool_size"] == 100 and d["final_labeled"] == 40 and d["primary_metric"] == "mae" and d["labels_per_sample"] == 4
    assert [s["label"] for s in p["strategies"]] == ["random", "good", "bad"]
    md = rep.markdown
    assert "| d | d (size tiny, data seed 0) | 100 | the dataset's default | 10 | 10 × 3 | 40 | 0, 1, 2 (3) |" in md
    assert "- Strategies: `random`, `good`, `bad`. Full-data reference: no." in md
    assert "primary metric `mae` (lower is better); labels per sample 4" in md
    assert "95% t-intervals of the mean over seeds" in md and "Pairwise matrix (BMMAL Fig. 5): confidence 0.9" in md


def test_curve_bands_are_95_percent_intervals_and_say_so():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from mmal.bench import plots

    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    Y = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 5.0]])
    plots._draw_curves(ax, {"a": (np.array([10.0, 20.0]), Y), "one": (np.array([10.0, 20.0]), Y[:1])}, None, "acc", False)
    (band,) = ax.collections  # the one-seed curve has none
    ys = band.get_paths()[0].vertices[:, 1]
    half = T975_DF2 * np.array([1.0, sample_std([2.0, 2.0, 5.0])]) / math.sqrt(3)  # means 2 and 3
    assert np.allclose(sorted(set(np.round(ys, 9))), sorted(np.round([2 - half[0], 2 + half[0], 3 - half[1], 3 + half[1]], 9)))
    ax.legend(title=plots.BAND)
    assert "95% CI of the mean over seeds" in ax.get_legend().get_title().get_text()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (n=3 seeds)", "one (n=1 seed)"]


def test_primary_metric_falls_back_and_says_so_and_protocol_reads_rows_without_a_config(tmp_path):
    from mmal.bench.report import comparisons, load, protocol, summary

    run_dir = make_run(tmp_path)
    res = load(run_dir, {"metric": "rmse"})
    assert res.primary("d") == "acc"
    assert res.primary_note("d").startswith("the configured metric `rmse` is not recorded on d, whose metrics are mae, acc")
    assert load(run_dir, {"metric": "mae"}).primary_note("d") is None
    head = load(run_dir, {"metric": "T/mae"})  # a head's metric as the primary one: the summary uses it
    summ = summary(head, {"d": comparisons(head, "d")})["d"]
    assert summ["metric"] == "T/mae" and summ["lines"][0].startswith("**good** beat random: AUBC of T/mae (lower is better)")
    (run_dir / "config.json").unlink()
    p = protocol(load(run_dir))
    d = p["datasets"][0]
    assert p["source"] == "rows" and (d["init"], d["budget"], d["rounds"], d["seeds"]) == (10, 10, 3, SEEDS)
    assert [s["label"] for s in p["strategies"]] == ["bad", "good", "random"]  # no config: sorted names


def test_a_cell_that_stopped_early_is_paired_only_where_budgets_match(tmp_path):
    from mmal.bench.report import comparisons, load, table

    res = load(make_run(tmp_path, ("random", "good"), last_round={("good", 2): 1}))  # good/2 ends at 20 labels
    t = table(res, "d")
    good = next(e for e in t["rows"] if e["strategy"] == "good")
    assert good["labeled"] == np.mean([30, 30, 20])  # what the table shows
    test = good["vs_baseline"]["mae"]
    assert test["seeds"] == [0, 1] and test["p"] is None and test["note"] == "n/a: 2 seeds"  # not 20 labels against 30
    c = comparisons(res, "d")["mae"]["good"]
    au = c["aubc"]
    assert au["n"] == 3 and np.isclose(au["strategy"][2], trapezoid(N[:2], [mae("good", 2, r) for r in range(2)]))
    assert np.isclose(au["baseline"][2], trapezoid(N[:2], [mae("random", 2, r) for r in range(2)]))
    assert [r["n"] for r in c["rounds"]] == [3, 2, 2]
    saved = {r["seed"]: r for r in c["saved"]["per_seed"]}
    assert not saved[2]["reached"] and saved[2]["saved_at_most"] == 20.0  # it stopped at 20 of random's 40
    from mmal.bench.report import saved_sentence
    assert "on 1 seed (2) it did not reach it before its curve ended (saved fewer than 20 samples there" in saved_sentence("random", "mae", c["saved"])
