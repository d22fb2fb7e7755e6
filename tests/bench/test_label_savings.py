"""benchmarks/label_savings.py on a results store computed by hand (3 seeds, 3 rounds)."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "label_savings.py"
spec = importlib.util.spec_from_file_location("label_savings", SCRIPT)
ls = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ls)

T975_DF2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # Student's t, 2 dof, closed form
X = [10, 20, 30]
RANDOM = {0: [0.5, 0.6, 0.7], 1: [0.4, 0.6, 0.6], 2: [0.5, 0.5, 0.8]}
STRAT = {0: [0.5, 0.8, 0.9], 1: [0.4, 0.7, 0.7], 2: [0.5, 0.6, 0.7]}


def rows():
    out = []
    for name, curves in (("random", RANDOM), ("s", STRAT), ("short", {0: [0.5, 0.9]})):
        for seed, ys in curves.items():
            out += [{"status": "ok", "strategy": name, "seed": seed, "round": r, "n_labeled": X[r], "metrics": {"acc": y},
                     "cell": f"d/{name}/{seed}", "pool_size": 100} for r, y in enumerate(ys)]
    out.append({"status": "ok", "strategy": "full-data", "seed": 0, "round": 0, "n_labeled": 100, "metrics": {"acc": 0.95},
                "cell": "d/full-data/0", "pool_size": 100})
    return out


def test_hand_computed_aubc_test_and_labels_saved():
    res = ls.analyse(rows())
    s = res["strategies"]["s"]
    # AUBC over 10..30 = (y0 + 2 y1 + y2) / 4: strategy 0.75, 0.625, 0.6; random 0.6, 0.55, 0.575
    assert s["aubc"] == pytest.approx([0.75, 0.625, 0.6]) and s["daubc"] == pytest.approx([0.15, 0.075, 0.025])
    d = [0.15, 0.075, 0.025]
    mean = sum(d) / 3
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / 2)
    t = mean / (sd / math.sqrt(3))
    assert s["daubc_ci"] == pytest.approx((mean, T975_DF2 * sd / math.sqrt(3)))
    assert s["p_aubc"] == pytest.approx(1 - t / math.sqrt(2 + t * t))  # two-sided p of t with 2 dof
    assert s["verdict"] == "tied" and s["p_aubc"] == pytest.approx(0.1487, abs=1e-4)
    # labels saved: seed 0 reaches 0.7 at 10 + 0.2 / 0.3 * 10, seed 1 reaches 0.6 likewise, seed 2 never reaches 0.8
    assert s["saved"][:2] == pytest.approx([30 - (10 + 20 / 3)] * 2) and s["saved"][2] is None
    saved = [40 / 3, 40 / 3, 0.0]
    m = sum(saved) / 3
    sd = math.sqrt(sum((v - m) ** 2 for v in saved) / 2)
    assert s["saved_ci"] == pytest.approx((m, T975_DF2 * sd / math.sqrt(3))) and s["saved_percent"] == pytest.approx(100 * m / 30)
    assert s["dfinal"] == pytest.approx([0.2, 0.1, -0.1])
    # a curve shorter than Random's is left out of the table, and said so
    assert res["strategies"]["short"]["seeds"] == [] and ls.incomplete(rows(), res) == ["short/0 (2 rounds)"]


def test_script_writes_the_table_and_the_verdicts(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows()))
    md, js = tmp_path / "LS.md", tmp_path / "ls.json"
    out = subprocess.run([sys.executable, str(SCRIPT), str(run), "--out-md", str(md), "--out-json", str(js), "--notes", "N."],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = md.read_text()
    assert "| s | 3 | 0.658 ± 0." in text and "| 0.149 |" in text and "| 13, 13, n/r |" in text
    assert "- **s** tied with Random: ΔAUBC +0.083 ± 0.156 (p 0.149, 3 seeds; few seeds: p-values are unreliable below 5)" in text
    assert "Not finished in the run (left out of the table): short/0 (2 rounds)." in text
    assert "Full data (all 100 training samples): acc 0.950." in text and text.rstrip().endswith("N.")
    assert json.loads(js.read_text())["strategies"]["s"]["verdict"] == "tied"
