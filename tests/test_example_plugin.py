"""A third-party plugin package, pip-installed, appears in `mmal list` and runs in `mmal bench`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "plugins" / "examples" / "mmal-entropy"


def test_pip_installed_example_plugin_lists_and_runs(tmp_path):
    site, src = tmp_path / "site", tmp_path / "src"
    shutil.copytree(EXAMPLE, src)  # the build writes build/ and *.egg-info next to the sources
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(src)], check=True, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=str(site))
    listing = subprocess.run([sys.executable, "-m", "mmal", "list", "--json"], capture_output=True, text=True,
                             env=env, check=True)
    entries = {e["name"]: e for e in json.loads(listing.stdout)["strategy"]}
    assert entries["entropy"]["dist"] == "mmal-entropy" and entries["entropy"]["version"] == "0.1.0"
    out = subprocess.run([sys.executable, "-m", "mmal", "bench", "--strategies", "entropy,random", "--dataset", "toy",
                          "--seeds", "0", "--rounds", "2", "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert {r["strategy"] for r in rows} == {"entropy", "random"}
    # without the install it is unknown: nothing in mmal names it
    plain = subprocess.run([sys.executable, "-m", "mmal", "list", "--json"], capture_output=True, text=True, check=True)
    assert "entropy" not in {e["name"] for e in json.loads(plain.stdout)["strategy"]}


def test_example_passes_conformance_kit(tmp_path):
    sys.path.insert(0, str(EXAMPLE))
    try:
        import mmal_entropy

        from mmal.testing import check_strategy

        check_strategy(mmal_entropy.Entropy)
    finally:
        sys.path.remove(str(EXAMPLE))
