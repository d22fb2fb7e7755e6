"""`mmal bench` from the command line: the embedded default, configs, overrides, errors."""

import json
import subprocess
import sys

from mmal.bench.config import DEFAULT_CONFIG, validate
from mmal.bench.report import slug
from mmal.bench.store import read_rows


def mmal(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mmal", *args], capture_output=True, text=True, cwd=cwd, timeout=1800)  # a hang guard (loaded machines)


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
    # what ran, stated first: the default changed by the two flags (not the shipped description)
    assert out.stdout.startswith(f"{cfg['name']}: protocol `{cfg['name']}` changed on the command line: --seeds {seed} --rounds 1;")
    summary = (run / "report" / "summary.md").read_text().strip()
    assert summary in out.stdout and f"summary: runs/{cfg['name']}/report/summary.md" in out.stdout
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


def test_overridden_default_does_not_claim_its_description_and_prints_the_verdicts(tmp_path):
    out = mmal("bench", "--dataset", "toy", "--size", "60", "--task-model", "linear", "--strategies", "random,coreset",
               "--seeds", "0,1,2", "--rounds", "1", "--init", "10", "--budget", "5", "--progress", "none", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run = tmp_path / "runs" / validate(DEFAULT_CONFIG)["name"]
    recorded = json.loads((run / "config.json").read_text())["config"]["description"]
    flags = "--strategies random,coreset --dataset toy --seeds 0,1,2 --rounds 1 --init 10 --budget 5 --size 60 --task-model linear"
    assert recorded == f"protocol `default` changed on the command line: {flags}"
    assert DEFAULT_CONFIG["description"] not in out.stdout + (run / "report" / "report.md").read_text()
    assert out.stdout.startswith(f"default: {recorded}; writing runs/default")
    # the summary: one verdict sentence for coreset against random with its numbers, and the closing line
    verdicts = [line for line in out.stdout.splitlines() if line.startswith("- **coreset** ")]
    assert len(verdicts) == 1 and "random" in verdicts[0] and "AUBC of acc" in verdicts[0] and "p = " in verdicts[0]
    assert any(line.startswith("**") and "random" in line and "3 seeds" in line for line in out.stdout.splitlines())


def test_a_description_set_on_the_command_line_is_kept(tmp_path):
    out = mmal("bench", "--dataset", "toy", "--size", "40", "--task-model", "linear", "--strategies", "random",
               "--seeds", "0", "--rounds", "1", "--init", "10", "--budget", "5", "--set", 'description="mine"',
               "--progress", "none", "--no-report", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "runs" / "default" / "config.json").read_text())["config"]["description"] == "mine"
