import csv
import json
import os
import subprocess
import sys

import numpy as np


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mmal", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_bench_writes_results_and_table(tmp_path):
    out = cli("bench", "--strategies", "random", "--dataset", "toy", "--seeds", "0,1", "--rounds", "2",
              "--init", "10", "--budget", "5", "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {r["seed"] for r in rows} == {0, 1}
    assert [r["n_labeled"] for r in rows if r["seed"] == 0] == [10, 15, 20]
    assert "| random |" in out.stdout


def test_unknown_strategy_is_a_clear_error(tmp_path):
    out = cli("bench", "--strategies", "randm", "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "did you mean 'random'" in out.stderr


def write_features(tmp_path, n=30):
    rng = np.random.default_rng(0)
    ids = np.array([f"clip{i:03d}" for i in range(n)])
    np.savez(tmp_path / "feats.npz", ids=ids, text=rng.normal(size=(n, 6)), audio=rng.normal(size=(n, 4, 3)),
             audio__lengths=rng.integers(1, 5, n))
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "M"])
        for i in range(8):
            w.writerow([ids[i], i % 3])
    return ids


def test_query_prints_unlabeled_ids(tmp_path):
    ids = write_features(tmp_path)
    args = ("query", "--features", str(tmp_path / "feats.npz"), "--labels", str(tmp_path / "labels.csv"),
            "--strategy", "random", "--budget", "5", "--task", "classification", "--n-classes", "3", "--seed", "1")
    out = cli(*args)
    assert out.returncode == 0, out.stderr
    picked = out.stdout.split()
    assert len(picked) == 5 and len(set(picked)) == 5
    assert set(picked) <= set(ids[8:].tolist())
    again = cli(*args, "--out", str(tmp_path / "next.txt"))
    assert (tmp_path / "next.txt").read_text().split() == picked  # same seed, same answer
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_query_with_bad_label_file(tmp_path):
    write_features(tmp_path)
    (tmp_path / "bad.csv").write_text("sample,M\nclip000,1\n")
    out = cli("query", "--features", str(tmp_path / "feats.npz"), "--labels", str(tmp_path / "bad.csv"),
              "--strategy", "random", "--budget", "2", "--task", "classification", "--n-classes", "3")
    assert out.returncode == 2 and "needs an 'id' column" in out.stderr
