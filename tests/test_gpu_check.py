"""benchmarks/gpu_check.py in its dry mode (CPU only, tiny sizes): it imports, its CPU half runs in a
CUDA-hidden child process, the comparisons pass CPU-vs-CPU, and the JSON has every check and timing.
The GPU half itself needs a CUDA machine (no test needs a GPU)."""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_check  # noqa: E402


def test_dry_run_checks_every_gpu_path_and_writes_one_json(tmp_path):
    out = tmp_path / "gpu.json"
    report = gpu_check.main(["--dry", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["dry"] is True and saved["all_ok"] is True
    assert set(saved["checks"]) == {"knn", "kmeanspp_per_pick", "kmeanspp_deferred", "kcenter", "distsum", "gradients"}
    assert saved["checks"]["kcenter"]["same_prefix"] == 30 and saved["checks"]["kmeanspp_per_pick"]["same_prefix"] == 30
    names = [r["name"] for r in saved["query_cycles"]]
    assert any("badge" in n for n in names) and any("bmmal" in n for n in names) and any("grace" in n for n in names)
    assert all(r.get("error") is None for r in saved["query_cycles"]), saved["query_cycles"]
    assert report["checks"] == saved["checks"]


def test_compare_flags_a_different_result():
    """The comparison is not vacuous: a changed pick or a perturbed sum fails its check."""
    ref = gpu_check.compute("dry", "cpu")
    bad = dict(ref, kcenter=ref["kcenter"][::-1].copy(), distsum=ref["distsum"] * (1 + 1e-3),
               grads=ref["grads"] + 1.0, knn_idx=np.roll(ref["knn_idx"], 1, axis=0))
    checks = gpu_check.compare("dry", ref, bad)
    assert not checks["kcenter"]["ok"] and not checks["distsum"]["ok"] and not checks["gradients"]["ok"]
    assert not checks["knn"]["ok"]
    assert all(c["ok"] for c in gpu_check.compare("dry", ref, ref).values())
