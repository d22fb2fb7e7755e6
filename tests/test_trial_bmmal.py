"""benchmarks/trial_bmmal.py (BMMAL on trial, issue #15) and the BMMAL families' phenomena."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import mmal
from mmal.bench.stats import aubc

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("trial_bmmal", ROOT / "benchmarks" / "trial_bmmal.py")
trial = importlib.util.module_from_spec(spec)
spec.loader.exec_module(trial)


def _centroid_accuracy(train, test, y_train, y_test, n_classes):
    means = np.stack([train[y_train == c].mean(0) for c in range(n_classes)])
    d = ((test[:, None, :] - means[None]) ** 2).sum(-1)
    return float((d.argmin(1) == y_test).mean())


@pytest.mark.parametrize("name,strong,weak,size", [("kineticssound-synthetic", "audio", "visual", 1500),
                                                   ("food101-synthetic", "text", "image", 3030)])
def test_the_dominant_modality_carries_more_label_signal(name, strong, weak, size):
    """BMMAL Sec. 4.4: audio (KineticsSound) and text (Food101) are the stronger modalities.
    A nearest-class-mean classifier per modality (train -> test) must order them so, both above chance."""
    ds = mmal.datasets.get(name, size=size, seed=0)
    y_tr = ds.oracle.truth["M"].astype(int)
    y_te = ds.test.labels["M"].astype(int)
    k = ds.train.task.n_classes
    acc = {m: _centroid_accuracy(np.asarray(ds.train.modalities[m], float), np.asarray(ds.test.modalities[m], float), y_tr, y_te, k)
           for m in (strong, weak)}
    assert acc[weak] > 3.0 / k, acc  # the weak modality still carries signal
    assert acc[strong] > acc[weak] + 0.1, acc


def _rows(pool, picks_by_strategy, acc_by_strategy):
    rows = []
    for s, by_seed in picks_by_strategy.items():
        for seed, rounds in by_seed.items():
            for k, pos in enumerate(rounds):
                rows.append({"status": "ok", "strategy": s, "dataset": "ks", "dataset_name": "kineticssound-synthetic",
                             "seed": seed, "round": k, "n_labeled": 10 * (k + 1), "pool_size": pool.n,
                             "selected_ids": pool.ids[pos].tolist(), "metrics": {"acc": acc_by_strategy[s][seed][k]},
                             "modality_metrics": {"audio": {"acc": 0.5}, "visual": {"acc": 0.2}},
                             "contributions": {"audio": 0.7 if s == "badge" else 0.6, "visual": 0.3 if s == "badge" else 0.4},
                             "selection_contributions": None, "info": {}})
    return rows


def test_pick_rates_and_curves_match_a_hand_count():
    ds = mmal.datasets.get("kineticssound-synthetic", size="tiny", seed=0, outlier_rate=0.1, conflict_rate=0.3)
    pool = ds.train
    out = np.flatnonzero(pool.meta["outlier"])
    con = np.flatnonzero(pool.meta["conflict"])
    clean = np.flatnonzero(~pool.meta["outlier"] & ~pool.meta["conflict"])
    # round 0 (the random initial set) does not count; rounds 1-2 are the queried batches
    picks = {"random": {0: [clean[:10], clean[10:20], clean[20:30]], 1: [clean[:10], out[:2].tolist() + clean[30:38].tolist(), clean[40:50]]},
             "badge": {0: [clean[:10], out[:5], con[:5]], 1: [clean[:10], out[5:10], clean[50:55].tolist() + con[5:10].tolist()]}}
    acc = {"random": {0: [0.1, 0.2, 0.3], 1: [0.1, 0.25, 0.3]}, "badge": {0: [0.1, 0.3, 0.4], 1: [0.1, 0.3, 0.5]}}
    rows = _rows(pool, picks, acc)
    cells, n_rounds = trial.complete(trial.by_cell(rows)["ks"])
    assert n_rounds == 3
    index = {i: k for k, i in enumerate(pool.ids.tolist())}
    res = trial.summarize(cells, pool, index)
    pr = res["pick_rates"]
    assert pr["base"]["outlier"] == pytest.approx(pool.meta["outlier"].mean())
    assert pr["base"]["conflict"] == pytest.approx(pool.meta["conflict"].mean())
    # badge seed 0: 5 outliers + 5 conflicts of 10 picked; seed 1: 5 outliers + 5 conflicts of 15
    assert pr["strategies"]["badge"]["outlier"]["mean"] == pytest.approx((5 / 10 + 5 / 15) / 2)
    assert pr["strategies"]["badge"]["conflict"]["mean"] == pytest.approx((5 / 10 + 5 / 15) / 2)
    assert pr["strategies"]["random"]["outlier"]["mean"] == pytest.approx((0 + 2 / 20) / 2)
    cm = pool.meta["conflict_modality"][con[:10]]
    assert pr["strategies"]["badge"]["conflict:audio"]["mean"] == pytest.approx(
        ((cm[:5] == "audio").sum() / 10 + (cm[5:10] == "audio").sum() / 15) / 2)
    assert pr["strategies"]["badge"]["outlier"]["vs_random"]["diff"] == pytest.approx((5 / 10 + 5 / 15) / 2 - 0.05)
    S = res["strategies"]
    for s in ("random", "badge"):
        want = [aubc([10, 20, 30], acc[s][seed]) for seed in (0, 1)]
        assert S[s]["aubc"]["mean"] == pytest.approx(np.mean(want))
    assert S["badge"]["aubc_vs_random"]["diff"] == pytest.approx(np.mean([aubc([10, 20, 30], acc["badge"][k]) - aubc([10, 20, 30], acc["random"][k]) for k in (0, 1)]))
    assert S["badge"]["contrib_gap"][0]["mean"] == pytest.approx(0.4)
    assert S["random"]["contrib_gap"][0]["mean"] == pytest.approx(0.2)
    assert "| badge |" in trial.markdown("t", {"ks": res})
