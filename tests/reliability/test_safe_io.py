"""Issue 19, safe loading and writing: nothing executed from a data file, nothing written
through a planted link, and a full disk ends a bench with a clear error and nothing lost."""

import errno
import os
import pickle

import numpy as np
import pytest

import mmal
import mmal.io
from mmal.bench import BenchConfig, run_bench
from mmal.bench.store import StoreError, read_rows, strip_timings
from mmal.data.loaders import load_mmsa
from mmal.errors import ConfigError


def mmsa_dict(n=6, seed=0):
    rng = np.random.default_rng(seed)

    def split(tag, m):
        return {"text": rng.normal(size=(m, 3, 4)).astype(np.float32), "audio": rng.normal(size=(m, 5, 2)).astype(np.float32),
                "vision": rng.normal(size=(m, 2, 3)).astype(np.float32),
                "regression_labels": np.round(rng.uniform(-1, 1, m), 1).astype(np.float32),
                "id": np.array([f"{tag}{i}" for i in range(m)]), "raw_text": np.array([f"s {i}" for i in range(m)], dtype=object)}

    return {"train": split("tr", n), "valid": split("va", 2), "test": split("te", 3)}


class Payload:
    """What a hostile file carries: unpickling it runs a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ------------------------------------------------------------------ pickles
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_crafted_pickle_does_not_execute_under_the_default_loader(tmp_path, protocol):
    marker = tmp_path / "pwned"
    data = mmsa_dict()
    data["train"]["raw_text"][0] = Payload(marker)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    with pytest.raises(ConfigError, match=r"refused by the safe unpickler: it names (posix|os)\.system.*trust_pickle=True"):
        load_mmsa(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_an_honest_mmsa_pickle_loads_with_the_safe_unpickler(tmp_path, protocol):
    data = mmsa_dict()
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    ds = load_mmsa(path, view="sequence")
    np.testing.assert_array_equal(ds.train.modalities["audio"], data["train"]["audio"])
    assert ds.test.ids.tolist() == ["te0", "te1", "te2"] and ds.train.meta["raw_text"][1] == "s 1"


def test_trust_pickle_admits_other_objects(tmp_path):
    from fractions import Fraction

    data = mmsa_dict()
    data["train"]["raw_text"][0] = Fraction(1, 3)  # harmless, but not a numpy array or a plain container
    path = tmp_path / "mine.pkl"
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(ConfigError, match="fractions.Fraction"):
        load_mmsa(path)
    assert load_mmsa(path, trust_pickle=True).train.meta["raw_text"][0] == Fraction(1, 3)


def test_a_bench_can_pass_trust_pickle_as_a_dataset_argument(tmp_path):
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(mmsa_dict(n=12)))
    cfg = BenchConfig(strategies=["random"], dataset="mmsa", size="full", rounds=1, init=4, budget=2,
                      task_model="linear", dataset_args={"path": str(path), "trust_pickle": False})
    assert run_bench(cfg, tmp_path / "run", progress="none", report=False).failed == []


# ------------------------------------------------------------------ links
def small_config(**kw):
    return BenchConfig(strategies=["random"], dataset="toy", size=30, seeds=[0], rounds=2, init=6, budget=3, **kw)


@pytest.mark.parametrize("name", ["results.jsonl", "config.json", "bench.log", ".lock", "results.jsonl.torn", "report"])
def test_a_symlink_in_the_run_directory_is_refused_and_its_target_untouched(tmp_path, name):
    outside = tmp_path / "precious"
    outside.write_text("keep me\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / name).symlink_to(outside)
    for resume in (False, True):
        with pytest.raises(StoreError, match=f"{name} is a symbolic link .*precious"):
            run_bench(small_config(), run, progress="none", resume=resume)
    assert outside.read_text() == "keep me\n"
    assert sorted(p.name for p in run.iterdir()) == [name]  # nothing else was written


def test_a_hard_linked_store_is_refused(tmp_path):
    run = tmp_path / "run"
    run_bench(small_config(), run, progress="none", report=False)
    other = tmp_path / "other.jsonl"
    os.link(run / "results.jsonl", other)
    before = other.read_bytes()
    with pytest.raises(StoreError, match="has 2 hard links"):
        run_bench(small_config(), run, progress="none", report=False, resume=True)
    assert other.read_bytes() == before


def test_out_that_is_a_file_or_under_a_file_is_a_clear_error(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(StoreError, match="is a file, not a directory"):
        run_bench(small_config(), f, progress="none")
    with pytest.raises(StoreError, match="cannot write the run directory: .*nothing was written.*--resume"):
        run_bench(small_config(), f / "run", progress="none")


# ------------------------------------------------------------------ a full disk
def fail_after(monkeypatch, n_ok, err=errno.ENOSPC):
    """The store's writes succeed ``n_ok`` times, then write half a line and fail with ``err``."""
    real = mmal.io._write_all
    calls = {"n": 0}

    def write(fd, data):
        calls["n"] += 1
        if calls["n"] > n_ok:
            os.write(fd, data[: len(data) // 2])
            raise OSError(err, os.strerror(err))
        real(fd, data)

    monkeypatch.setattr(mmal.io, "_write_all", write)


def normalized(path):
    return sorted(str(sorted(strip_timings(r).items())) for r in read_rows(path))


@pytest.mark.parametrize("n_ok", [0, 2, 4])
def test_a_full_disk_ends_the_bench_clearly_and_resume_finishes_identically(tmp_path, monkeypatch, n_ok):
    cfg = BenchConfig(strategies=["random", "coreset"], dataset="toy", size=40, seeds=[0], rounds=2, init=6, budget=3)
    run_bench(cfg, tmp_path / "straight", progress="none", report=False)
    fail_after(monkeypatch, n_ok)
    with pytest.raises(StoreError, match=r"No space left on device .*results\.jsonl\); every round finished before this is safe"
                                         r".*rerun the same command with --resume"):
        run_bench(cfg, tmp_path / "full", progress="none", report=False)
    text = (tmp_path / "full" / "results.jsonl").read_bytes()
    assert text.count(b"\n") == n_ok and (not text or text.endswith(b"\n"))  # the half line was rolled back
    monkeypatch.undo()
    result = run_bench(cfg, tmp_path / "full", progress="none", report=False, resume=True)
    assert result.failed == []
    assert normalized(tmp_path / "full" / "results.jsonl") == normalized(tmp_path / "straight" / "results.jsonl")
    assert not (tmp_path / "full" / "results.jsonl.torn").exists()


def test_a_full_disk_in_mmal_bench_prints_the_error_and_how_to_resume(tmp_path, monkeypatch, capsys):
    from mmal.cli import main

    fail_after(monkeypatch, 1, errno.EACCES)
    args = ["bench", "--strategies", "random", "--dataset", "toy", "--size", "30", "--seeds", "0", "--rounds", "1",
            "--init", "6", "--budget", "3", "--out", str(tmp_path / "run"), "--progress", "none", "--no-report"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "mmal: error: cannot write the run directory: Permission denied" in err and "--resume" in err
    assert "Traceback" not in err
    monkeypatch.undo()
    assert main(args + ["--resume"]) == 0
    assert [r["round"] for r in read_rows(tmp_path / "run" / "results.jsonl")] == [0, 1]
