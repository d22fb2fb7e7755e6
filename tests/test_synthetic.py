"""The synthetic families: shapes, splits, labels, latent structure, determinism, lazy storage."""

import numpy as np
import pytest

import mmal
from mmal.data import lazy, synthetic
from mmal.errors import ConfigError
from mmal.metrics import ACC3_EDGES, bin_labels


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MMAL_CACHE", str(tmp_path / "cache"))


FAMILIES = {
    "simsv2-synthetic": dict(mods={"text": 768, "audio": 25, "vision": 177}, heads=("M", "T", "A", "V"), dominant="text"),
    "cherma-synthetic": dict(mods={"text": 768, "audio": 768, "vision": 512}, heads=("M", "T", "A", "V"), dominant="text"),
    "food101-synthetic": dict(mods={"image": 2048, "text": 768}, heads=("M",), dominant="text"),
    "kineticssound-synthetic": dict(mods={"audio": 257, "visual": 512}, heads=("M",), dominant="audio"),
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_features_view_shapes_labels_and_hidden_train(name):
    ds = mmal.datasets.get(name, size="tiny", seed=0)
    want = FAMILIES[name]
    assert {m: a.shape[1:] for m, a in ds.train.modalities.items()} == {m: (d,) for m, d in want["mods"].items()}
    assert ds.train.task.heads == want["heads"] and ds.info["dominant_modality"] == want["dominant"]
    assert 200 <= ds.train.n <= 600
    assert ds.train.n_labeled == 0 and all(np.isnan(v).all() for v in ds.train.labels.values())
    truth = ds.oracle(ds.train.ids)
    assert set(truth) == set(want["heads"]) and not np.isnan(truth["M"]).any()
    task = ds.train.task
    for pool in [ds.test] + ([ds.valid] if ds.valid is not None else []):
        assert pool.n_labeled == pool.n
    if name == "simsv2-synthetic":
        for v in truth.values():
            assert np.allclose(v, np.round(v / 0.2) * 0.2) and v.min() >= -1 and v.max() <= 1
        assert task.label_range == (-1.0, 1.0) and task.head_modality == {"T": "text", "A": "audio", "V": "vision"}
        assert ds.default_task_model == "mtl"
    elif name == "cherma-synthetic":
        assert task.class_names == ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")
        counts = np.bincount(np.concatenate([truth["M"], ds.test.labels["M"]]).astype(int), minlength=7)
        assert counts.max() > 3 * counts.min() > 0  # imbalanced, every class present
        assert ds.default_task_model == "mtl"
    else:
        assert task.n_classes == (101 if name.startswith("food") else 31) and ds.default_task_model == "mm-classifier"
        assert ds.valid is None


def test_split_sizes_named_full_and_int():
    assert synthetic.split_sizes(synthetic.SIMSV2, "full") == (2722, 647, 1034)
    c = synthetic.split_sizes(synthetic.CHERMA, "full")
    assert sum(c) == 28717 and c == (17230, 5743, 5744)  # 6:2:2
    assert synthetic.split_sizes(synthetic.FOOD101, "full") == (45719, 0, 15294)
    assert synthetic.split_sizes(synthetic.KINETICS_SOUND, "full") == (14739, 0, 2594)
    assert synthetic.split_sizes(synthetic.SIMSV2, 2722) == (2722, 647, 1034)
    assert synthetic.split_sizes(synthetic.KINETICS_SOUND, 100) == (100, 0, round(100 * 2594 / 14739))
    for bad in ("huge", 0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="size"):
            synthetic.split_sizes(synthetic.SIMSV2, bad)


def test_deterministic_per_seed():
    a = mmal.datasets.get("cherma-synthetic", size=40, seed=3)
    b = mmal.datasets.get("cherma-synthetic", size=40, seed=3)
    c = mmal.datasets.get("cherma-synthetic", size=40, seed=4)
    for m in a.train.modality_names:
        assert np.array_equal(a.train.modalities[m], b.train.modalities[m])
        assert not np.allclose(a.train.modalities[m], c.train.modalities[m])
    for k in a.train.meta:
        assert np.array_equal(a.train.meta[k], b.train.meta[k])
    assert np.array_equal(a.oracle(a.train.ids)["T"], b.oracle(b.train.ids)["T"])


def test_bad_parameters_name_the_field():
    with pytest.raises(ConfigError, match="view"):
        mmal.datasets.get("simsv2-synthetic", size=10, view="pixels")
    with pytest.raises(ConfigError, match="dominant"):
        mmal.datasets.get("simsv2-synthetic", size=10, dominant="smell")
    with pytest.raises(ConfigError, match="conflict_rate"):
        mmal.datasets.get("simsv2-synthetic", size=10, conflict_rate=1.5)
    with pytest.raises(ConfigError, match="text_format"):
        mmal.datasets.get("simsv2-synthetic", size=10, text_format="tokens")
    with pytest.raises(TypeError, match="colour"):
        mmal.datasets.get("simsv2-synthetic", size=10, colour="red")


# ------------------------------------------------------------------------ latent structure
def _all_pools(ds):
    return [p for p in (ds.train, ds.valid, ds.test) if p is not None]


@pytest.mark.parametrize("name", ["simsv2-synthetic", "cherma-synthetic"])
def test_conflicts_are_exactly_the_samples_whose_unimodal_labels_disagree(name):
    ds = mmal.datasets.get(name, size="tiny", seed=1, conflict_rate=0.3)
    truth = ds.oracle(ds.train.ids)
    pools = [(ds.train.meta, truth)] + [(p.meta, p.labels) for p in _all_pools(ds)[1:]]
    n = flagged = 0
    for meta, lab in pools:
        heads = {"text": "T", "audio": "A", "vision": "V"}
        if name.startswith("sims"):
            differs = {m: bin_labels(lab[h], ACC3_EDGES) != bin_labels(lab["M"], ACC3_EDGES) for m, h in heads.items()}
        else:
            differs = {m: lab[h] != lab["M"] for m, h in heads.items()}
        any_differs = np.any(list(differs.values()), axis=0)
        assert np.array_equal(any_differs, meta["conflict"])
        for i in np.flatnonzero(meta["conflict"]):
            assert [m for m, d in differs.items() if d[i]] == [meta["conflict_modality"][i]]
        assert (meta["conflict_modality"][~meta["conflict"]] == "").all()
        n += len(meta["conflict"])
        flagged += meta["conflict"].sum()
    rate = flagged / n  # binomial(n, 0.3 * (1 - 0.02 outliers)): 5 sd
    assert abs(rate - 0.3 * 0.98) < 5 * np.sqrt(0.3 * 0.7 / n)


def test_rates_are_controllable_and_zero_means_none():
    ds = mmal.datasets.get("kineticssound-synthetic", size="tiny", seed=0, conflict_rate=0.0, duplicate_rate=0.0, outlier_rate=0.0)
    for p in _all_pools(ds):
        assert not p.meta["conflict"].any() and not p.meta["outlier"].any() and (p.meta["duplicate_of"] == -1).all()
    ds = mmal.datasets.get("kineticssound-synthetic", size="tiny", seed=0, duplicate_rate=0.2, outlier_rate=0.1)
    n = ds.train.n + ds.test.n
    dup = sum((p.meta["duplicate_of"] >= 0).sum() for p in _all_pools(ds)) / n
    out = sum(p.meta["outlier"].sum() for p in _all_pools(ds)) / n
    assert abs(dup - 0.2) < 5 * np.sqrt(0.2 * 0.8 / n) and abs(out - 0.1) < 5 * np.sqrt(0.1 * 0.9 / n)


@pytest.mark.parametrize("name", ["simsv2-synthetic", "food101-synthetic"])
def test_duplicates_copy_an_earlier_sample_of_their_split(name):
    ds = mmal.datasets.get(name, size="tiny", seed=2, duplicate_rate=0.15)
    truth = ds.oracle(ds.train.ids)
    for pool, lab in [(ds.train, truth), (ds.test, ds.test.labels)]:
        src = pool.meta["duplicate_of"]
        dups = np.flatnonzero(src >= 0)
        assert dups.size > 0
        assert (src[dups] < dups).all() and (src[src[dups]] == -1).all()  # earlier, and not itself a duplicate
        for h, v in lab.items():
            assert np.array_equal(v[dups], v[src[dups]])
        for k in ("conflict", "outlier", "conflict_modality"):
            assert np.array_equal(pool.meta[k][dups], pool.meta[k][src[dups]])
        for m, x in pool.modalities.items():
            x = np.asarray(x, dtype=np.float64)
            near = np.linalg.norm(x[dups] - x[src[dups]], axis=1)
            sq = (x**2).sum(1)
            d = np.sqrt(np.maximum(sq[:, None] + sq[None, :20] - 2 * x @ x[:20].T, 0))  # distances to 20 samples
            typical = np.median(d[d > 1e-6 * np.sqrt(sq.max())])
            assert near.max() < 0.05 * typical, m


def test_outliers_are_far_from_the_data():
    ds = mmal.datasets.get("cherma-synthetic", size="tiny", seed=0, outlier_rate=0.1)
    x = ds.train.modalities["audio"].astype(np.float64)
    dist = np.linalg.norm(x - x.mean(0), axis=1)
    out = ds.train.meta["outlier"]
    assert out.sum() > 5 and np.median(dist[out]) > 2 * np.median(dist[~out])


def _unimodal_accuracy(ds, m):
    """Nearest class-centroid accuracy of modality ``m`` alone (train with oracle labels, score on test)."""
    y = ds.oracle(ds.train.ids)["M"].astype(int)
    x, xt = ds.train.modalities[m].astype(np.float64), ds.test.modalities[m].astype(np.float64)
    mu, sd = x.mean(0), x.std(0) + 1e-9
    x, xt = (x - mu) / sd, (xt - mu) / sd
    classes = np.unique(y)
    cent = np.stack([x[y == c].mean(0) for c in classes])
    pred = classes[np.argmin(((xt[:, None] - cent[None]) ** 2).sum(-1), axis=1)]
    return float((pred == ds.test.labels["M"]).mean())


def test_dominant_modality_carries_more_signal_and_is_a_parameter():
    ds = mmal.datasets.get("kineticssound-synthetic", size="tiny", seed=0)
    assert _unimodal_accuracy(ds, "audio") > _unimodal_accuracy(ds, "visual") + 0.15
    ds = mmal.datasets.get("kineticssound-synthetic", size="tiny", seed=0, dominant="visual")
    assert ds.info["dominant_modality"] == "visual"
    assert _unimodal_accuracy(ds, "visual") > _unimodal_accuracy(ds, "audio") + 0.15


def test_a_conflicting_modality_speaks_for_another_class():
    ds = mmal.datasets.get("kineticssound-synthetic", size=600, seed=0, conflict_rate=0.4, outlier_rate=0.0)
    y = ds.oracle(ds.train.ids)["M"].astype(int)
    x = ds.train.modalities["audio"].astype(np.float64)
    ok = ~ds.train.meta["conflict"]
    cent = np.stack([x[ok & (y == c)].mean(0) for c in range(31)])
    pred = np.argmin(((x[:, None] - cent[None]) ** 2).sum(-1), axis=1)
    audio_conflict = ds.train.meta["conflict_modality"] == "audio"
    assert audio_conflict.sum() > 20
    assert (pred[audio_conflict] == y[audio_conflict]).mean() < 0.2 < (pred[ok] == y[ok]).mean()


# ---------------------------------------------------------------------------- sequence view
SEQ = {
    "simsv2-synthetic": {"text": (50, 768), "audio": (925, 25), "vision": (232, 177)},
    "cherma-synthetic": {"text": (80, 768), "audio": (64, 768), "vision": (64, 512)},
    "food101-synthetic": {"image": (2048,), "text": (40, 768)},
    "kineticssound-synthetic": {"audio": (1004, 257), "visual": (10, 512)},
}


@pytest.mark.parametrize("name", list(SEQ))
def test_sequence_view_shapes_lengths_padding_and_pooled_equals_features(name):
    ds = mmal.datasets.get(name, size=6, seed=0, view="sequence")
    feats = mmal.datasets.get(name, size=6, seed=0, view="features")
    tr = ds.train
    assert {m: a.shape[1:] for m, a in tr.modalities.items()} == SEQ[name]
    for m, lens in tr.lengths.items():
        a = np.asarray(tr.modalities[m])
        for i, n in enumerate(lens):
            assert np.abs(a[i, :n]).sum(-1).min() > 0 and not a[i, n:].any()  # valid steps, zero padding
    if name == "cherma-synthetic":
        assert "vision" not in tr.lengths and tr.lengths["audio"].min() >= 8  # fixed-length vision, variable audio
    for m in tr.modality_names:
        pooled = tr.pooled(m)
        ref = feats.train.modalities[m]
        cols = slice(2, None) if (name, m) == ("simsv2-synthetic", "audio") else slice(None)  # -inf columns differ
        assert np.allclose(pooled[:, cols], ref[:, cols], rtol=1e-5, atol=1e-4 * np.abs(ref).max()), m
    assert np.array_equal(ds.oracle(tr.ids)["M"], feats.oracle(tr.ids)["M"])


def test_simsv2_audio_neg_inf_is_replaced_and_counted():
    ds = mmal.datasets.get("simsv2-synthetic", size=6, seed=0, view="sequence")
    counts = ds.info["neg_inf_replaced"]
    for split, pool in (("train", ds.train), ("valid", ds.valid), ("test", ds.test)):
        a = np.asarray(pool.modalities["audio"])
        assert np.isfinite(a).all()
        valid = np.arange(a.shape[1])[None, :] < pool.lengths["audio"][:, None]
        zeros = int(((a[:, :, :2] == 0) & valid[:, :, None]).sum())  # Gaussian values are never exactly 0
        assert counts[split]["audio"] == zeros > 0
        assert not (a[:, :, 2:][valid] == 0).any()
    vision = np.asarray(ds.train.modalities["vision"])[0, : ds.train.lengths["vision"][0]]
    assert np.abs(vision).max() > 50 and vision.std(0).min() < 1  # raw, uneven scales


def test_sequence_view_memmap_is_cached_deterministic_and_equal_to_memory(tmp_path):
    kw = dict(size=5, seed=7, view="sequence", cache_dir=str(tmp_path / "c"))
    a = mmal.datasets.get("cherma-synthetic", storage="memmap", **kw)
    files = a.info["cache_files"]
    assert files and all(f.startswith(str(tmp_path / "c")) for f in files)
    assert isinstance(a.train.modalities["audio"], np.memmap)
    mtimes = [(tmp_path / f).stat().st_mtime_ns for f in files]
    b = mmal.datasets.get("cherma-synthetic", storage="memmap", **kw)  # reused, not rewritten
    assert b.info["cache_files"] == files and [(tmp_path / f).stat().st_mtime_ns for f in files] == mtimes
    mem = mmal.datasets.get("cherma-synthetic", storage="memory", **kw)
    assert not isinstance(mem.train.modalities["audio"], np.memmap)
    for m in a.train.modality_names:
        assert np.array_equal(a.train.modalities[m], mem.train.modalities[m])
        assert np.array_equal(b.test.modalities[m], mem.test.modalities[m])
    other = mmal.datasets.get("cherma-synthetic", storage="memmap", **{**kw, "seed": 8})
    assert not set(other.info["cache_files"]) & set(files)


def test_storage_auto_memory_maps_the_whole_view_when_it_is_large(monkeypatch, tmp_path):
    food = (505 + 202) * (2048 + 40 * 768) * 4  # bytes of food101's tiny sequence view
    monkeypatch.setenv("MMAL_MEMMAP_BYTES", str(food - 1))
    ds = mmal.datasets.get("food101-synthetic", size="tiny", view="sequence", cache_dir=str(tmp_path))
    assert all(isinstance(a, np.memmap) for p in (ds.train, ds.test) for a in p.modalities.values())  # image too
    assert len(ds.info["cache_files"]) == 4
    monkeypatch.setenv("MMAL_MEMMAP_BYTES", str(food))
    ds = mmal.datasets.get("food101-synthetic", size="tiny", view="sequence", cache_dir=str(tmp_path / "other"))
    assert not any(isinstance(a, np.memmap) for a in ds.train.modalities.values()) and not ds.info["cache_files"]


def test_a_sample_does_not_depend_on_chunking():
    # per-sample streams: the same global sample has the same noise whatever the chunking
    gen_rows = []
    for chunk in (1, 3):
        spec = synthetic.KINETICS_SOUND
        bounds = [(0, 7), (7, 7), (7, 9)]
        latent = synthetic._draw_latent(spec, bounds, 0, 0.15, 0.05, 0.02)
        gen = synthetic._Generator(spec, latent, 0, "audio", 1.0, 2.0)
        arr, _ = lazy.chunked_array((7, 10, 512), np.float32, lambda s, e: gen.sequence_rows("visual", np.arange(s, e)), chunk=chunk)
        gen_rows.append(arr)
    assert np.array_equal(gen_rows[0], gen_rows[1])


def test_food101_tokens():
    ds = mmal.datasets.get("food101-synthetic", size=8, seed=0, view="sequence", text_format="tokens")
    tok = ds.train.modalities["text"]
    assert tok.shape == (8, 40) and tok.dtype == np.int64 and "text" not in ds.train.lengths
    for row in tok:
        n = int((row != 0).sum())
        assert row[0] == 101 and row[n - 1] == 102 and not row[n:].any() and (row[1 : n - 1] >= 1000).all()
    again = mmal.datasets.get("food101-synthetic", size=8, seed=0, view="sequence", text_format="tokens")
    assert np.array_equal(tok, again.train.modalities["text"])


# ------------------------------------------------------------------------------ lazy helpers
def test_chunked_array_leaves_no_file_when_interrupted(tmp_path):
    path = tmp_path / "x.npy"

    def fill(s, e):
        if s >= 4:
            raise RuntimeError("interrupted")
        return np.full((e - s, 3), s, dtype=np.float32)

    with pytest.raises(RuntimeError):
        lazy.chunked_array((8, 3), np.float32, fill, path=path, chunk=2)
    assert list(tmp_path.iterdir()) == []
    arr, counts = lazy.chunked_array((8, 3), np.float32, lambda s, e: (np.full((e - s, 3), s, np.float32), {"n": e - s}), path=path, chunk=2)
    assert isinstance(arr, np.memmap) and arr[5, 0] == 4 and counts == {"n": 8}
    again, counts2 = lazy.chunked_array((8, 3), np.float32, fill, path=path, chunk=2)  # reused: fill never called
    assert np.array_equal(again, arr) and counts2 == {"n": 8}


def test_storage_auto_threshold(monkeypatch):
    monkeypatch.setenv("MMAL_MEMMAP_BYTES", "1000")
    assert lazy.use_memmap("auto", 1001) and not lazy.use_memmap("auto", 1000)
    assert lazy.use_memmap("memmap", 1) and not lazy.use_memmap("memory", 10**12)
    with pytest.raises(ConfigError, match="storage"):
        lazy.use_memmap("disk", 1)


# ------------------------------------------------------------------------------------- loop
@pytest.mark.filterwarnings("ignore:The number of unique classes")
@pytest.mark.parametrize("name", list(FAMILIES))
def test_three_round_random_loop_with_the_linear_model(name):
    ds = mmal.datasets.get(name, size="tiny", seed=0)
    recs = mmal.run_loop(ds, mmal.strategies.get("random"), lambda: mmal.task_models.get("linear"), init=20, budget=10, rounds=3)
    assert [r.n_labeled for r in recs] == [20, 30, 40, 50]
    main = "mae" if name.startswith("sims") else "acc"
    assert all(main in r.metrics for r in recs)
    if name.startswith("cherma"):
        assert {"acc7", "f1/happy", "T/acc"} <= set(recs[-1].metrics)
        assert recs[-1].labels_spent == 4 * 50
    if name.startswith("sims"):
        assert {"acc2", "acc3", "acc5", "f1", "corr", "V/mae"} <= set(recs[-1].metrics)


def test_three_round_random_loop_from_the_cli(tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MMAL_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "mmal", "bench", "--dataset", ",".join(FAMILIES), "--strategies", "random", "--seeds", "0",
           "--rounds", "3", "--init", "20", "--budget", "10", "--size", "tiny", "--task-model", "linear",
           "--out", str(tmp_path / "run"), "--progress", "none", "--no-report"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    done = {(r["dataset"], r["round"]): r for r in rows if r["status"] == "ok"}
    assert set(done) == {(d, r) for d in FAMILIES for r in range(4)}
    assert done[("simsv2-synthetic", 3)]["n_labeled"] == 50 and "acc5" in done[("simsv2-synthetic", 3)]["metrics"]
    assert "acc7" in done[("cherma-synthetic", 3)]["metrics"]
