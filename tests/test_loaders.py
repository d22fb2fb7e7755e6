"""Real-format loaders on small files written here: MMSA pickles, CHERMA-style folders, generic folders."""

import json
import pickle

import numpy as np
import pytest

import mmal
from mmal.data.loaders import load_cherma_folder, load_folder, load_folder_pool, load_mmsa
from mmal.errors import ConfigError


# ---------------------------------------------------------------------------------- MMSA
def mmsa_split(rng, split, n, *, unimodal=True, scale=1.0):
    lt, la, lv = 7, 9, 5
    mask = np.zeros((n, lt), dtype=np.int64)
    text_len = rng.integers(2, lt + 1, n)
    for i, k in enumerate(text_len):
        mask[i, :k] = 1
    d = {
        "text": rng.normal(size=(n, lt, 8)).astype(np.float32),
        "text_bert": np.stack([rng.integers(100, 200, (n, lt)) * mask, mask, np.zeros_like(mask)], axis=1),
        "audio": rng.normal(size=(n, la, 4)).astype(np.float32),
        "vision": rng.normal(size=(n, lv, 3)).astype(np.float32),
        "audio_lengths": rng.integers(1, la + 1, n),
        "vision_lengths": rng.integers(1, lv + 1, n),
        "regression_labels": (np.round(rng.uniform(-1, 1, n) / 0.2) * 0.2 * scale).astype(np.float32),
        "id": np.array([f"video_{split}_{i:03d}$_$1" for i in range(n)]),
        "raw_text": np.array([f"sentence {split} {i}" for i in range(n)], dtype=object),
    }
    if unimodal:
        for h in "TAV":
            d[f"regression_labels_{h}"] = np.round(rng.uniform(-1, 1, n) / 0.2) * 0.2
    return d


def write_pickle(path, data):
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return path


@pytest.fixture
def mmsa_file(tmp_path):
    rng = np.random.default_rng(0)
    data = {s: mmsa_split(rng, s, n) for s, n in (("train", 12), ("valid", 4), ("test", 5))}
    data["train"]["audio"][1, 0, 2] = -np.inf
    data["train"]["audio"][3, 4, :] = -np.inf
    data["test"]["audio_lengths"][0] = 0  # real files have zero-length audio: clipped to 1
    return write_pickle(tmp_path / "unaligned.pkl", data), data


def test_mmsa_sequence_view(mmsa_file):
    path, data = mmsa_file
    ds = load_mmsa(path, view="sequence")
    tr = ds.train
    assert {m: a.shape for m, a in tr.modalities.items()} == {"text": (12, 7, 8), "audio": (12, 9, 4), "vision": (12, 5, 3)}
    assert tr.task.heads == ("M", "T", "A", "V") and tr.task.label_range == (-1.0, 1.0)
    assert tr.task.head_modality == {"T": "text", "A": "audio", "V": "vision"}
    assert ds.info["neg_inf_replaced"]["train"]["audio"] == 5 and ds.info["neg_inf_replaced"]["test"]["audio"] == 0
    assert tr.modalities["audio"][1, 0, 2] == 0 and (tr.modalities["audio"][3, 4] == 0).all()
    assert np.array_equal(tr.lengths["text"], data["train"]["text_bert"][:, 1].sum(1))
    assert np.array_equal(tr.lengths["audio"], data["train"]["audio_lengths"])
    assert ds.test.lengths["audio"][0] == 1 and ds.info["lengths_clipped"]["test"]["audio"] == 1
    assert tr.ids.tolist() == data["train"]["id"].tolist() and tr.meta["raw_text"][2] == "sentence train 2"
    truth = ds.oracle(tr.ids)
    for h, key in (("M", "regression_labels"), ("T", "regression_labels_T"), ("V", "regression_labels_V")):
        assert np.allclose(truth[h], data["train"][key])
    assert tr.n_labeled == 0 and ds.valid.n == 4 and ds.test.n_labeled == 5
    assert ds.default_task_model == "mtl"


def test_mmsa_features_view_is_the_mean_over_valid_steps(mmsa_file):
    path, data = mmsa_file
    ds = mmal.datasets.get("mmsa", path=str(path))  # through the registry; view="features" by default
    audio = data["train"]["audio"].copy()
    audio[np.isneginf(audio)] = 0
    for i in range(12):
        n = data["train"]["audio_lengths"][i]
        expect = [sum(float(audio[i, t, d]) for t in range(n)) / n for d in range(4)]
        assert np.allclose(ds.train.modalities["audio"][i], expect, atol=1e-6)
        k = data["train"]["text_bert"][i, 1].sum()
        assert np.allclose(ds.train.modalities["text"][i], data["train"]["text"][i, :k].mean(0), atol=1e-6)


def test_mmsa_mosi_layout_and_size(tmp_path):
    rng = np.random.default_rng(1)
    data = {s: mmsa_split(rng, s, n, unimodal=False, scale=3.0) for s, n in (("train", 10), ("test", 4))}
    data["train"]["regression_labels"][0] = -3.0
    ds = load_mmsa(write_pickle(tmp_path / "mosi.pkl", data), size=6)
    assert ds.train.task.heads == ("M",) and ds.train.task.label_range == (-3.0, 3.0)
    assert ds.train.n == 6 and ds.valid is None and ds.test.n == 4


@pytest.mark.parametrize(
    "break_it, match",
    [
        (lambda d: d.pop("train"), "missing split 'train'"),
        (lambda d: d["valid"].pop("audio"), "split 'valid' has no key 'audio'"),
        (lambda d: d["test"].pop("regression_labels"), "split 'test' has no key 'regression_labels'"),
        (lambda d: d["train"].update(vision=d["train"]["vision"][:5]), "key 'vision' has 5 rows"),
        (lambda d: d["train"].update(audio=d["train"]["audio"][:, :, 0]), "key 'audio' must be \\[N, L, D\\]"),
        (lambda d: d["train"]["vision"].__setitem__((2, 1, 1), np.nan), "key 'vision' has NaN"),
        (lambda d: d["valid"].update(audio_lengths=d["valid"]["audio_lengths"][:2]), "key 'audio_lengths' has 2 rows"),
    ],
)
def test_mmsa_malformed_files_name_the_key(tmp_path, break_it, match):
    rng = np.random.default_rng(2)
    data = {s: mmsa_split(rng, s, n) for s, n in (("train", 8), ("valid", 3), ("test", 3))}
    break_it(data)
    path = write_pickle(tmp_path / "bad.pkl", data)
    with pytest.raises(ConfigError, match=match) as err:
        load_mmsa(path)
    assert str(path) in str(err.value)


def test_mmsa_not_a_pickle(tmp_path):
    (tmp_path / "x.pkl").write_text("not a pickle")
    with pytest.raises(ConfigError, match="x.pkl"):
        load_mmsa(tmp_path / "x.pkl")
    with pytest.raises(ConfigError, match="not found"):
        load_mmsa(tmp_path / "missing.pkl")


# ------------------------------------------------------------------------ CHERMA folder
NAMES = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def write_cherma(root, rng, sizes=(("train", 6), ("valid", 2), ("test", 3))):
    arrays = {}
    for split, n in sizes:
        recs = []
        for i in range(n):
            sid = f"{split}_{i:04d}"
            rec = {"id": sid, "M": NAMES[rng.integers(7)], "T": int(rng.integers(7)), "A": NAMES[rng.integers(7)]}
            if i % 2:
                rec["V"] = NAMES[rng.integers(7)]
            recs.append(rec)
            shapes = {"text": (5, 6), "audio": (int(rng.integers(2, 9)), 6), "vision": (4,)}
            for m, shape in shapes.items():
                (root / split / m).mkdir(parents=True, exist_ok=True)
                x = rng.normal(size=shape).astype(np.float32)
                np.save(root / split / m / f"{sid}.npy", x)
                arrays[(split, sid, m)] = x
        (root / split / "labels.json").write_text(json.dumps(recs))
    return arrays


def test_cherma_folder_sequence_view(tmp_path):
    arrays = write_cherma(tmp_path, np.random.default_rng(0))
    ds = load_cherma_folder(tmp_path, view="sequence")
    tr = ds.train
    longest = max(x.shape[0] for (s, _, m), x in arrays.items() if m == "audio")
    assert tr.modalities["audio"].shape == (6, longest, 6) and tr.modalities["vision"].shape == (6, 4)
    assert tr.task.class_names == NAMES and tr.task.heads == ("M", "T", "A", "V")
    recs = json.loads((tmp_path / "train" / "labels.json").read_text())
    truth = ds.oracle(tr.ids)
    for i, r in enumerate(recs):
        x = arrays[("train", r["id"], "audio")]
        assert tr.lengths["audio"][i] == len(x)
        assert np.array_equal(tr.modalities["audio"][i, : len(x)], x) and not tr.modalities["audio"][i, len(x):].any()
        assert truth["M"][i] == NAMES.index(r["M"]) and truth["T"][i] == r["T"]
        assert np.isnan(truth["V"][i]) if "V" not in r else truth["V"][i] == NAMES.index(r["V"])
    assert ds.valid.n == 2 and ds.test.n == 3


def test_cherma_folder_features_truncation_and_memmap(tmp_path):
    arrays = write_cherma(tmp_path / "d", np.random.default_rng(1))
    ds = load_cherma_folder(tmp_path / "d", max_len={"audio": 3})
    recs = json.loads((tmp_path / "d" / "test" / "labels.json").read_text())
    for i, r in enumerate(recs):
        assert np.allclose(ds.test.modalities["audio"][i], arrays[("test", r["id"], "audio")][:3].mean(0), atol=1e-6)
    assert ds.info["truncated"]["train"]["audio"] == sum(
        arrays[("train", f"train_{i:04d}", "audio")].shape[0] > 3 for i in range(6))
    mm = load_cherma_folder(tmp_path / "d", view="sequence", storage="memmap", cache_dir=str(tmp_path / "cache"))
    mem = load_cherma_folder(tmp_path / "d", view="sequence", storage="memory")
    assert isinstance(mm.train.modalities["text"], np.memmap) and mm.info["cache_files"]
    for m in mem.train.modality_names:
        assert np.array_equal(mm.train.modalities[m], mem.train.modalities[m])
    assert mmal.datasets.get("cherma-folder", path=str(tmp_path / "d")).train.n == 6


def test_cherma_folder_malformed(tmp_path):
    write_cherma(tmp_path, np.random.default_rng(2))
    (tmp_path / "valid" / "audio" / "valid_0001.npy").unlink()
    with pytest.raises(ConfigError, match="valid_0001.npy"):
        load_cherma_folder(tmp_path)
    write_cherma(tmp_path, np.random.default_rng(2))
    recs = json.loads((tmp_path / "test" / "labels.json").read_text())
    recs[1]["M"] = "joy"
    (tmp_path / "test" / "labels.json").write_text(json.dumps(recs))
    with pytest.raises(ConfigError, match="test_0001.*'joy'"):
        load_cherma_folder(tmp_path)
    del recs[1]["M"]
    (tmp_path / "test" / "labels.json").write_text(json.dumps(recs))
    with pytest.raises(ConfigError, match="labels.json: record 1 needs keys 'id' and 'M'"):
        load_cherma_folder(tmp_path)
    write_cherma(tmp_path, np.random.default_rng(2))
    np.save(tmp_path / "train" / "text" / "train_0002.npy", np.zeros((5, 7), np.float32))
    with pytest.raises(ConfigError, match="train_0002.npy: shape \\(5, 7\\)"):
        load_cherma_folder(tmp_path)
    (tmp_path / "train" / "labels.json").write_text("{broken")
    with pytest.raises(ConfigError, match="train/labels.json is not valid JSON"):
        load_cherma_folder(tmp_path)


# ------------------------------------------------------------------------ generic folder
def write_folder(root, rng, n=20, *, split_column=True, names=("cat", "dog", "eel")):
    root.mkdir(parents=True, exist_ok=True)
    x = rng.normal(size=(n, 6, 3)).astype(np.float32)
    lens = rng.integers(1, 7, n)
    np.save(root / "audio.npy", x)
    np.save(root / "audio_lengths.npy", lens)
    np.save(root / "image.npy", rng.normal(size=(n, 5)).astype(np.float32))
    split = np.array(["train"] * 12 + ["val"] * 3 + ["test"] * (n - 15))
    rows = ["id,M,T" + (",split" if split_column else "")]
    for i in range(n):
        t = "" if i % 4 == 0 else names[(i + 1) % 3]
        rows.append(f"s{i},{names[i % 3]},{t}" + (f",{split[i]}" if split_column else ""))
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return x, lens, split


def test_generic_folder_with_split_column(tmp_path):
    x, lens, _ = write_folder(tmp_path / "f", np.random.default_rng(0))
    ds = load_folder(tmp_path / "f", view="sequence")
    t = ds.train.task
    assert t.kind == "classification" and t.class_names == ("cat", "dog", "eel") and t.heads == ("M", "T")
    assert ds.train.n == 12 and ds.valid.n == 3 and ds.test.n == 5
    assert np.array_equal(ds.train.modalities["audio"], x[:12]) and np.array_equal(ds.test.lengths["audio"], lens[15:])
    truth = ds.oracle(ds.train.ids)
    assert truth["M"].tolist() == [i % 3 for i in range(12)]
    assert np.isnan(truth["T"][0]) and truth["T"][1] == 2
    feats = mmal.datasets.get("folder", path=str(tmp_path / "f"))
    for i in range(5):
        n = lens[15 + i]
        assert np.allclose(feats.test.modalities["audio"][i], x[15 + i, :n].mean(0), atol=1e-6)


def test_generic_folder_split_files_regression_and_meta(tmp_path):
    root = tmp_path / "r"
    rng = np.random.default_rng(1)
    root.mkdir()
    np.save(root / "text.npy", rng.normal(size=(8, 4)).astype(np.float32))
    y = np.round(rng.uniform(-1, 1, 8), 1)
    (root / "labels.csv").write_text("id,M\n" + "".join(f"k{i},{v}\n" for i, v in enumerate(y)))
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("k0\nk2\nk4\nk6\nk7\n")
    (root / "splits" / "test.txt").write_text("k1\nk3\nk5\n")
    ds = load_folder(root)
    assert ds.train.task.kind == "regression" and ds.train.task.label_range == (-1.0, 1.0)
    assert ds.train.ids.tolist() == ["k0", "k2", "k4", "k6", "k7"] and ds.valid is None
    assert np.allclose(ds.oracle(["k4"])["M"], y[4])
    (root / "meta.json").write_text(json.dumps({"task": "regression", "label_range": [-2, 2]}))
    assert load_folder(root).test.task.label_range == (-2, 2)
    pool, split = load_folder_pool(root)
    assert pool.n_labeled == 8 and split.tolist().count("train") == 5


def test_generic_folder_malformed(tmp_path):
    root = tmp_path / "m"
    write_folder(root, np.random.default_rng(2))
    np.save(root / "image.npy", np.zeros((19, 5), np.float32))
    with pytest.raises(ConfigError, match="image.npy: shape \\(19, 5\\)"):
        load_folder(root)
    write_folder(root, np.random.default_rng(2))
    text = (root / "labels.csv").read_text().replace(",val\n", ",holdout\n", 1)
    (root / "labels.csv").write_text(text)
    with pytest.raises(ConfigError, match="split='holdout'"):
        load_folder(root)
    (root / "labels.csv").write_text("key,M\nA,1\n")
    with pytest.raises(ConfigError, match="labels.csv: no 'id' column"):
        load_folder(root)
    (root / "labels.csv").unlink()
    with pytest.raises(ConfigError, match="missing file .*labels.csv"):
        load_folder(root)
    write_folder(root, np.random.default_rng(2), split_column=False)
    with pytest.raises(ConfigError, match="no 'split' column"):
        load_folder(root)
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("s0\nnope\n")
    (root / "splits" / "test.txt").write_text("s1\n")
    with pytest.raises(ConfigError, match="train.txt: id 'nope'"):
        load_folder(root)


@pytest.mark.filterwarnings("ignore:The number of unique classes")
def test_a_loaded_folder_runs_the_loop(tmp_path):
    write_folder(tmp_path / "f", np.random.default_rng(3), n=40)
    ds = mmal.datasets.get("folder", path=str(tmp_path / "f"))
    recs = mmal.run_loop(ds, mmal.strategies.get("random"), lambda: mmal.task_models.get("linear"), init=4, budget=3, rounds=2)
    assert [r.n_labeled for r in recs] == [4, 7, 10] and "f1/dog" in recs[-1].metrics


def test_folder_default_model_has_gradients(tmp_path):
    """A user's own folder runs BADGE / BMMAL / GRACE with no flags: the default task model has grad_embed."""
    write_folder(tmp_path / "c", np.random.default_rng(4), n=40)
    ds = mmal.datasets.get("folder", path=str(tmp_path / "c"))
    assert ds.default_task_model == "mm-classifier"
    root = tmp_path / "r"
    root.mkdir()
    rng = np.random.default_rng(5)
    np.save(root / "text.npy", rng.normal(size=(30, 4)).astype(np.float32))
    np.save(root / "audio.npy", rng.normal(size=(30, 3)).astype(np.float32))
    split = ["train"] * 20 + ["test"] * 10
    (root / "labels.csv").write_text("id,M,split\n" + "".join(f"k{i},{v:.2f},{s}\n" for i, (v, s) in enumerate(zip(rng.uniform(-1, 1, 30), split))))
    reg = mmal.datasets.get("folder", path=str(root))
    assert reg.train.task.kind == "regression" and reg.default_task_model == "mtl"
    for data, names in ((ds, ("badge", "bmmal", "grace")), (reg, ("grace",))):
        model = mmal.task_models.get(data.default_task_model, epochs=2)
        assert "grad_embed" in model.capabilities
        for name in names:
            recs = mmal.run_loop(data, mmal.strategies.get(name), lambda: mmal.task_models.get(data.default_task_model, epochs=2),
                                 init=6, budget=3, rounds=1, seed=0)
            assert [r.n_labeled for r in recs] == [6, 9]
