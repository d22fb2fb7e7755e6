"""The performance suite's one command runs and writes its table as JSON (numbers are not asserted)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_suite_smoke(tmp_path):
    out = tmp_path / "suite.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--sizes", "simsv2=300",
                          "--strategies", "random,coreset,grace", "--no-micro", "--out", str(out)],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "=== summary ===" in run.stdout
    text = json.dumps(json.loads(out.read_text()))
    for name in ("random", "coreset", "grace"):
        assert f"query {name}" in text


def test_calibration_quick(tmp_path):
    """The calibration benchmark's one command runs; each default model equals its checkpoint in the long run."""
    out = tmp_path / "calibration.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "calibration.py"), "--quick", "--out", str(out),
                          "--figure", str(tmp_path / "fig.png")],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    data = json.loads(out.read_text())
    assert (tmp_path / "fig.png").stat().st_size > 0
    cases = {(r["model"], r["family"]) for r in data["rows"]}
    assert cases == {("mm-classifier", "uci-mfeat"), ("linear", "cherma-synthetic")}
    for r in data["rows"]:
        assert {r["n"] for r in data["rows"]} == {20, 60} and r["metric"] == "acc"
        if r["model"] == "linear":
            assert r["reference"] == max(r["grid"].values()) and r["old"] == r["grid"]["1.0"]
        else:
            assert r["verified"] and r["reference_steps"] == 2 * r["default_steps"]
            assert [c["epochs"] for c in r["curve"]] == sorted(c["epochs"] for c in r["curve"])
    assert len(data["summary"]) == 4
