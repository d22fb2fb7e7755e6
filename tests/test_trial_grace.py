"""benchmarks/trial_grace.py on a tiny real run: pick rates equal a direct count from the pool's
meta flags, the curves' means equal the rows' metrics, and the rank AUC helper is exact."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("trial_grace", ROOT / "benchmarks" / "trial_grace.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cmd = [sys.executable, "-m", "mmal", "bench", "--protocol", "simsv2-regression", "--strategies", "random,grace",
           "--seeds", "0,1", "--size", "tiny", "--rounds", "2", "--init", "20", "--budget", "15",
           "--set", "full_data=false", "--model-arg", "epochs=1", "--out", str(out), "--progress", "none", "--no-report"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


def test_pick_rates_equal_a_direct_count(tiny_run, tmp_path, monkeypatch):
    tg = _script()
    monkeypatch.setattr(tg, "OUT", tmp_path)
    tg.picks("p", [str(tiny_run)])
    got = json.loads((tmp_path / "p.json").read_text())
    import mmal
    from mmal.bench.store import read_rows

    ds = mmal.datasets.get("simsv2-synthetic", size="tiny", seed=0)
    outlier = np.asarray(ds.train.meta["outlier"], bool)
    conflict = np.asarray(ds.train.meta["conflict"], bool)
    assert got["base_rate"]["outlier"] == pytest.approx(outlier.mean())
    rows = [r for r in read_rows(tiny_run / "results.jsonl") if r["status"] == "ok" and r["round"] >= 1]
    for s in ("random", "grace"):
        for seed in (0, 1):
            ids = [i for r in rows if r["strategy"] == s and r["seed"] == seed for i in r["selected_ids"]]
            assert len(ids) == 30
            pos = ds.train.positions(ids)
            k = got["strategies"][s]["seeds"].index(seed)
            assert got["strategies"][s]["per_seed"]["outlier"][k] == pytest.approx(outlier[pos].mean())
            assert got["strategies"][s]["per_seed"]["conflict"][k] == pytest.approx(conflict[pos].mean())


def test_curves_mean_the_rows(tiny_run, tmp_path, monkeypatch):
    tg = _script()
    monkeypatch.setattr(tg, "OUT", tmp_path)
    tg.curves("c", [str(tiny_run)], "mae", "random")
    got = json.loads((tmp_path / "c.json").read_text())
    from mmal.bench.store import read_rows

    rows = [r for r in read_rows(tiny_run / "results.jsonl") if r["status"] == "ok"]
    for n in (20, 35, 50):
        want = np.mean([r["metrics"]["mae"] for r in rows if r["strategy"] == "grace" and r["n_labeled"] == n])
        assert got["curves"]["grace"][str(n)]["mean"] == pytest.approx(want)
    assert got["labels_per_sample"] == 4.0  # M, T, A, V
    assert [r["round"] for r in got["against_baseline"]["grace"]["rounds"]] == [1, 2]


def test_auc_is_the_pairwise_count():
    tg = _script()
    low, high = np.array([0.1, 0.5, 0.5]), np.array([0.5, 0.9])
    pairs = [(a < b) + 0.5 * (a == b) for a in low for b in high]
    assert tg.auc(low, high) == pytest.approx(np.mean(pairs))
