import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest


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


# ------------------------------------------------------------------ issue 19: mmal query for real rounds
def features(tmp_path, n=30):
    rng = np.random.default_rng(0)
    ids = np.array([f"clip{i:03d}" for i in range(n)])
    np.savez(tmp_path / "f.npz", ids=ids, text=rng.normal(size=(n, 6)), audio=rng.normal(size=(n, 4, 3)),
             audio__lengths=rng.integers(1, 5, n), vision=rng.normal(size=(n, 5)))
    return ids


def labels_csv(tmp_path, text, name="l.csv", encoding="utf-8"):
    (tmp_path / name).write_text(text, encoding=encoding)
    return str(tmp_path / name)


def query(tmp_path, *extra, labels=None, strategy="random", budget="4"):
    args = ["query", "--features", str(tmp_path / "f.npz"), "--strategy", strategy, "--budget", budget, *extra]
    return cli(*args, *(["--labels", labels] if labels else []))


def test_query_reads_every_head_and_costs_labels_per_head(tmp_path):
    ids = features(tmp_path)
    rows = "".join(f"{ids[i]},{(i % 5 - 2) / 2},{(i % 3 - 1) / 2},{'' if i % 2 else 0.5},\n" for i in range(8))
    lab = labels_csv(tmp_path, "id,M,T,A,V\n" + rows)
    out = query(tmp_path, "--task", "regression", "--label-range", "-1,1", labels=lab)
    assert out.returncode == 0, out.stderr
    assert "labels paid per head: M 8, T 8, A 4, V 0 (20 in all)" in out.stderr
    state = json.loads((tmp_path / "l.csv.mmal-state.json").read_text())
    assert state["task"]["heads"] == ["M", "T", "A", "V"] and state["task"]["head_modality"] == {"T": "text", "A": "audio", "V": "vision"}
    assert state["task"]["label_range"] == [-1.0, 1.0] and state["round"] == 1 and len(state["queried"]) == 4
    bad = labels_csv(tmp_path, "id,M,T\n" + f"{ids[0]},0.5,garbage\n", name="bad.csv")
    out = query(tmp_path, "--task", "regression", labels=bad)
    assert out.returncode == 2 and "line 2: T='garbage' is not a number" in out.stderr


def test_query_needs_the_task_and_reads_it_from_flags_or_the_state(tmp_path):
    ids = features(tmp_path)
    lab = labels_csv(tmp_path, "id,M\n" + "".join(f"{ids[i]},{i % 3}\n" for i in range(6)))
    out = query(tmp_path, labels=lab)
    assert out.returncode == 2 and "give the task: --task classification --n-classes C" in out.stderr
    out = query(tmp_path, "--task", "classification", labels=lab)
    assert out.returncode == 2 and "--task classification needs --n-classes C" in out.stderr
    out = query(tmp_path, "--n-classes", "1", labels=lab)
    assert out.returncode == 2 and "--n-classes must be an int >= 2, got 1" in out.stderr
    assert query(tmp_path, "--n-classes", "3", labels=lab).returncode == 0  # --n-classes means classification
    again = query(tmp_path, labels=lab)  # the state file remembers the task
    assert again.returncode == 0, again.stderr
    out = query(tmp_path, "--task", "regression", labels=lab, budget="0")
    assert out.returncode == 2 and "--budget must be an int >= 1" in out.stderr


@pytest.mark.parametrize("flag, words", [
    ("-1,1", None), ("-0.5,2", None), ("a,b", "--label-range must be lo,hi (two numbers)"),
    ("1,-1", "lo < hi"), ("-1", "--label-range must be lo,hi"),
])
def test_label_range_takes_negative_numbers(tmp_path, flag, words):
    features(tmp_path)
    out = query(tmp_path, "--task", "regression", "--label-range", flag)
    if words is None:
        assert out.returncode == 0, out.stderr
        assert json.loads((tmp_path / "f.npz.mmal-state.json").read_text())["task"]["label_range"] == [float(x) for x in flag.split(",")]
    else:
        assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("text, words", [
    ("id,M\nclip000,happy\n", "line 2: M='happy' is not a class index 0..2 (pass --class-names"),
    ("id,M\nclip000,1.5\n", "line 2: M='1.5' is not a class index 0..2 (--n-classes 3)"),
    ("id,M,T\nclip000,1,2\nclip001,1\n", "line 3: 2 fields, but the header has 3"),
    ("id,M\nclip000,1,2\n", "line 2: 3 fields, but the header has 2"),
    ("", "is empty; it needs a header 'id,M[,T,A,V]'"),
    ("sample,M\nclip000,1\n", "needs an 'id' column"),
    ("id,T\nclip000,1\n", "no 'M' column (the fused label)"),
    ("id,M\nclip000,1\nclip000,2\n", "line 3: id 'clip000' is already on line 2"),
    ("id,M\nnope,1\n", "1 ids are not in --features, e.g. 'nope' on line 2"),
    ("id,M,T\nclip000,,1\n", "line 2: id 'clip000' has no 'M' label"),
    ("id,M,M\nclip000,1,1\n", "the header repeats the columns ['M']"),
])
def test_bad_label_files_name_the_line_and_the_fix(tmp_path, text, words):
    features(tmp_path)
    out = query(tmp_path, "--n-classes", "3", labels=labels_csv(tmp_path, text))
    assert out.returncode == 2 and words in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "training" not in out.stderr


def test_missing_or_directory_files_are_clear(tmp_path):
    features(tmp_path)
    out = query(tmp_path, "--n-classes", "3", labels=str(tmp_path / "nope.csv"))
    assert out.returncode == 2 and "nope.csv: no such file; omit --labels in a first round" in out.stderr
    out = query(tmp_path, "--n-classes", "3", labels=str(tmp_path))
    assert out.returncode == 2 and "is a directory; give the CSV file" in out.stderr
    out = query(tmp_path, "--n-classes", "3", "--out", str(tmp_path))
    assert out.returncode == 2 and f"--out {tmp_path} is a directory; give a file name" in out.stderr
    out = cli("query", "--features", str(tmp_path / "none.npz"), "--strategy", "random", "--budget", "2", "--n-classes", "3")
    assert out.returncode == 2 and "none.npz: no such file" in out.stderr


def test_bom_spaces_names_and_extra_columns_are_handled(tmp_path):
    ids = features(tmp_path)
    text = "id , M ,notes\n" + "".join(f"  {ids[i]} , {['neg', 'pos'][i % 2]} ,free text\n" for i in range(6)) + f"{ids[7]},,\n\n"
    lab = labels_csv(tmp_path, text, encoding="utf-8-sig")
    assert (tmp_path / "l.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    out = query(tmp_path, "--class-names", "neg,pos", labels=lab)
    assert out.returncode == 0, out.stderr
    assert "ignoring the columns ['notes']" in out.stderr and "30 samples, 6 labeled" in out.stderr
    assert not set(out.stdout.split()) & set(ids[:6].tolist())


def test_strategy_and_model_arguments_are_passed_and_checked_before_training(tmp_path):
    ids = features(tmp_path)
    lab = labels_csv(tmp_path, "id,M\n" + "".join(f"{ids[i]},{i % 3}\n" for i in range(9)))
    out = query(tmp_path, "--n-classes", "3", "--task-model", "linear", "--strategy-arg", "features=x", labels=lab, strategy="coreset")
    assert out.returncode == 2 and "coreset: features must be one of ('fused', 'concat'), got 'x'" in out.stderr
    out = query(tmp_path, "--n-classes", "3", "--task-model", "linear", "--model-arg", "alpah=2", labels=lab, strategy="coreset")
    assert out.returncode == 2 and "no parameter 'alpah'; did you mean 'alpha'?" in out.stderr
    out = query(tmp_path, "--n-classes", "3", "--task-model", "linear", labels=lab, strategy="badge")
    assert out.returncode == 2 and "requires the model capabilities ['grad_embed']" in out.stderr and "training" not in out.stderr
    out = query(tmp_path, "--n-classes", "3", labels=lab, strategy="coreset")
    assert out.returncode == 2 and "strategy 'coreset' reads a task model: pass --task-model NAME offering ['embed']" in out.stderr
    ok = query(tmp_path, "--n-classes", "3", "--task-model", "linear", "--model-arg", "alpha=2.0", "--strategy-arg",
               "features=concat", labels=lab, strategy="coreset")
    assert ok.returncode == 0, ok.stderr
    assert "training 'linear' on 9 labeled samples ..." in ok.stderr and "selecting 4 with 'coreset': done in" in ok.stderr
    assert len(ok.stdout.split()) == 4


def test_the_round_follows_the_state_file(tmp_path):
    ids = features(tmp_path)
    header = "id,M\n"
    seed_rows = "".join(f"{ids[i]},{i % 3}\n" for i in range(6))
    lab = labels_csv(tmp_path, header + seed_rows)
    first = query(tmp_path, "--n-classes", "3", labels=lab)
    assert first.returncode == 0 and "round 1 (no state file yet)" in first.stderr
    repeat = query(tmp_path, labels=lab)
    assert "round 1 again: none of its 4 picks is labeled yet" in repeat.stderr
    assert repeat.stdout == first.stdout
    picked = first.stdout.split()
    labels_csv(tmp_path, header + seed_rows + "".join(f"{i},0\n" for i in picked[:2]))  # two of four labeled
    second = query(tmp_path, labels=lab)
    assert "round 2 (2 of round 1's 4 picks are labeled)" in second.stderr
    assert json.loads((tmp_path / "l.csv.mmal-state.json").read_text())["round"] == 2
    other = str(tmp_path / "other-state.json")
    explicit = query(tmp_path, "--n-classes", "3", "--round", "2", "--state", other, labels=lab)
    assert explicit.stdout == second.stdout and "round 2 (--round)" in explicit.stderr
    round1 = query(tmp_path, "--n-classes", "3", "--round", "1", "--state", other, labels=lab)
    assert round1.stdout != second.stdout  # the round picks the stream: --round is read
    out = query(tmp_path, "--n-classes", "3", "--round", "0", "--state", other, labels=lab)
    assert out.returncode == 2 and "--round must be >= 1" in out.stderr


def test_list_into_a_closed_pipe_is_quiet():
    r, w = os.pipe()
    os.close(r)
    out = subprocess.run([sys.executable, "-m", "mmal", "list"], stdout=w, stderr=subprocess.PIPE, text=True, timeout=300)
    os.close(w)
    assert out.returncode == 141 and out.stderr == ""


# ------------------------------------------------------------------ issue 19: bench and report flags
BENCH = ("bench", "--strategies", "random", "--dataset", "toy", "--size", "40", "--seeds", "0", "--rounds", "1",
         "--init", "8", "--budget", "4", "--progress", "none", "--no-report")


def rows_of(run):
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]


def test_bench_dataset_and_model_args_reach_the_cells(tmp_path):
    out = cli(*BENCH, "--dataset-arg", "task=regression", "--out", str(tmp_path / "reg"))
    assert out.returncode == 0, out.stderr
    assert all("mae" in r["metrics"] and "acc" not in r["metrics"] for r in rows_of(tmp_path / "reg"))
    stiff = cli(*BENCH, "--dataset-arg", "task=regression", "--model-arg", "alpha=1e6", "--out", str(tmp_path / "b"))
    assert stiff.returncode == 0, stiff.stderr  # ridge with a huge penalty predicts ~ the mean: another MAE
    assert [r["metrics"]["mae"] for r in rows_of(tmp_path / "reg")] != [r["metrics"]["mae"] for r in rows_of(tmp_path / "b")]
    typo = cli(*BENCH, "--model-arg", "alpah=1", "--out", str(tmp_path / "c"))
    assert typo.returncode == 2 and "did you mean 'alpha'?" in typo.stderr and not (tmp_path / "c").exists()


def test_bench_jobs_and_address_are_read(tmp_path):
    bad = cli(*BENCH, "--jobs", "0", "--out", str(tmp_path / "j0"))
    assert bad.returncode == 2 and "--jobs must be >= 1, got 0" in bad.stderr
    two = cli(*BENCH, "--strategies", "random,coreset", "--jobs", "2", "--out", str(tmp_path / "j2"))
    one = cli(*BENCH, "--strategies", "random,coreset", "--out", str(tmp_path / "j1"))
    assert two.returncode == one.returncode == 0, two.stderr

    def key(r):
        return (r["cell"], r["round"], r["selected_ids"], r["metrics"])

    assert sorted(map(str, map(key, rows_of(tmp_path / "j2")))) == sorted(map(str, map(key, rows_of(tmp_path / "j1"))))
    addr = cli(*BENCH, "--address", "ray://head:10001", "--out", str(tmp_path / "ray"))
    assert addr.returncode == 2 and "--address 'ray://head:10001' is the Ray cluster to run on: add --executor ray" in addr.stderr


def test_report_baseline_and_metrics_flags(tmp_path):
    run = tmp_path / "run"
    assert cli(*BENCH[:-1], "--strategies", "random,coreset", "--seeds", "0,1", "--out", str(run)).returncode == 0
    out = cli("report", str(run), "--metrics", "acc", "--baseline", "coreset", "--formats", "png")
    assert out.returncode == 0, out.stderr
    assert "Annotation savings against coreset, per seed" in out.stdout
    assert "| strategy | labeled | seeds | acc |" in out.stdout and "f1_weighted" not in out.stdout
    default = cli("report", str(run), "--formats", "png")
    assert "Annotation savings against random, per seed" in default.stdout and "f1_weighted" in default.stdout
