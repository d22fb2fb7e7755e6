"""SIGKILL a running `mmal bench` at random moments, resume it, and get exactly the results
store of an uninterrupted run: no partial line, no lost or repeated round (issue 10)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from mmal.bench import load_config, run_bench
from mmal.bench.store import read_rows, strip_timings

CONFIG = """name = "kill"
seeds = [0, 1, 2]
init = 10
budget = 5
rounds = 4
[[datasets]]
name = "toy"
size = 60
[[strategies]]
name = "random"
label = "random-a"
[[strategies]]
name = "random"
label = "random-b"
"""
TOTAL = 3 * 2 * 5  # seeds x strategies x (rounds + 1)


def normalized(path):
    return sorted(json.dumps(strip_timings(r), sort_keys=True) for r in read_rows(path))


def count_lines(path):
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_store(tmp_path):
    cfg_file = tmp_path / "kill.toml"
    cfg_file.write_text(CONFIG)
    run_bench(load_config(cfg_file), tmp_path / "reference", progress="none", report=False)
    reference = normalized(tmp_path / "reference" / "results.jsonl")
    assert len(reference) == TOTAL

    out = tmp_path / "killed"
    store = out / "results.jsonl"
    cmd = [sys.executable, "-m", "mmal", "bench", "--config", str(cfg_file), "--out", str(out), "--progress", "plain", "--no-report"]
    rng = np.random.default_rng(20240601)
    kills = []
    for attempt in range(3):
        start = count_lines(store)
        target = start + int(rng.integers(1, 8))  # kill after a few more rounds, plus a random delay
        proc = subprocess.Popen(cmd + (["--resume"] if attempt or start else []), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while count_lines(store) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0, 0.05)))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills.append(count_lines(store))
        proc.wait(timeout=60)
        proc.stderr.close()
        rows = read_rows(store)  # every line before a possible torn last one parses
        assert len({(r["cell"], r["round"]) for r in rows}) == len(rows), "a finished round was written twice"
    assert kills and min(kills) < TOTAL, f"no kill landed mid-run (lines at kills: {kills})"

    final = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    data = store.read_bytes()
    assert data.endswith(b"\n") and all(json.loads(line) for line in data.splitlines())
    assert normalized(store) == reference
    print(f"killed at {kills} of {TOTAL} stored rounds; resumed to the reference store")


def test_resuming_a_finished_bench_whose_pool_ran_out_skips_every_cell(tmp_path):
    """init 10 + 3 rounds of 10 on 30 train samples: the pool runs out at round 2 of 3, so the
    cells end with round 2 (n_labeled == pool_size); a resume must skip them, not rerun them."""
    from mmal.bench import BenchConfig

    cfg = BenchConfig(strategies=["random"], dataset="toy", size=30, seeds=[0, 1], rounds=3, init=10, budget=10)
    first = run_bench(cfg, tmp_path / "run", progress="none", report=False)
    rows = read_rows(tmp_path / "run" / "results.jsonl")
    assert first.failed == [] and sorted((r["seed"], r["round"], r["n_labeled"]) for r in rows) == [
        (s, r, 10 * (r + 1)) for s in (0, 1) for r in range(3)]
    again = run_bench(cfg, tmp_path / "run", progress="none", report=False, resume=True)
    assert (again.cells, again.skipped) == (2, 2)
    assert read_rows(tmp_path / "run" / "results.jsonl") == rows  # nothing appended
