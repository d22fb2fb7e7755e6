"""`mmal bench` from the command line: the embedded default, configs, overrides, errors."""

import json
import subprocess
import sys

from mmal.bench.config import DEFAULT_CONFIG, validate
from mmal.bench.report import slug
from mmal.bench.store import read_rows


def mmal(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mmal", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_bench_without_arguments_runs_the_embedded_default(tmp_path):
    cfg = validate(DEFAULT_CONFIG)
    seed = cfg["seeds"][-1]
    out = mmal("bench", "--rounds", "1", "--seeds", str(seed), cwd=tmp_path)  # the default, one seed and round only (cost)
    assert out.returncode == 0, out.stderr
    run = tmp_path / "runs" / cfg["name"]
    rows = read_rows(run / "results.jsonl")
    assert {r["seed"] for r in rows} == {seed} and {r["round"] for r in rows} == {0, 1}
    assert {r["strategy"] for r in rows} == {s["label"] for s in cfg["strategies"]} | ({"full-data"} if cfg["full_data"] else set())
    data, last = cfg["datasets"][0]["label"], cfg["strategies"][-1]["label"]
    assert (run / "report" / "report.md").exists() and (run / "report" / f"table_{slug(data)}.csv").exists()
    assert f"| {last} |" in out.stdout
    assert f"{data}/{last}/{cfg['seeds'][-1]} round 1/1" in out.stderr  # plain progress lines (not a terminal)


def test_config_file_overrides_resume_and_errors(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('name = "c"\nseeds = [0]\ninit = 10\nbudget = 5\nrounds = 3\n'
                   '[[datasets]]\nname = "toy"\nsize = 60\n[[strategies]]\nname = "random"\n')
    run = tmp_path / "run"
    first = mmal("bench", "--config", str(cfg), "--set", "rounds=1", "--out", str(run), "--progress", "none", "--no-report")
    assert first.returncode == 0, first.stderr
    assert [r["n_labeled"] for r in read_rows(run / "results.jsonl")] == [10, 15]
    assert json.loads((run / "config.json").read_text())["config"]["rounds"] == 1
    again = mmal("bench", "--config", str(cfg), "--set", "rounds=1", "--out", str(run))
    assert again.returncode == 2 and "pass --resume" in again.stderr
    other = mmal("bench", "--config", str(cfg), "--out", str(run), "--resume")
    assert other.returncode == 2 and "--force" in other.stderr
    bad = mmal("bench", "--config", str(cfg), "--set", "datasets.0.sise=3", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "unknown config key 'datasets.0.sise'; did you mean 'size'?" in bad.stderr
