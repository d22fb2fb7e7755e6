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
